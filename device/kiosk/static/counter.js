// Counter mode: while this page is open the officer's session stays alive on the server.
// Closing the browser (or a power cut) stops these, and the server locks the account.
(function () {
  const url = document.body.dataset.counterHeartbeat;
  if (!url) return;
  setInterval(function () {
    fetch(url, { method: "POST" }).then(function (answer) {
      if (answer.status === 401) window.location.reload();
    }).catch(function () {});
  }, 15000);
})();
