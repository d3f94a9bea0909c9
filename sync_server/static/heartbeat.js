// Tells the server this page is still open. When the browser closes without "log out", the
// heartbeats stop and the server locks the account (seed 003); a 401 means the session ended.
(function () {
  const meta = document.querySelector('meta[name="heartbeat"]');
  if (!meta) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const every = Math.max(5, Number(meta.dataset.interval) || 15) * 1000;
  async function beat() {
    try {
      const answer = await fetch(meta.content, {
        method: "POST",
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
      });
      if (answer.status === 401) window.location.reload();
    } catch (error) {
      // The server is unreachable for a moment; the next beat tries again.
    }
  }
  setInterval(beat, every);
})();
