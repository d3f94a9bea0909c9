// The page's heartbeat: the daemon's /alive tells the browser watchdog (device/browser) that
// this page still runs its script. A crashed renderer or a hung page stops it, and the
// watchdog restarts Chromium.
(function () {
  "use strict";
  const beat = () => fetch("/alive", { method: "POST", credentials: "same-origin" }).catch(() => {});
  beat();
  setInterval(beat, 5000);
})();
