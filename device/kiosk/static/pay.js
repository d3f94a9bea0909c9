// The payment QR screen: ask the kiosk (loopback) every second whether the server's notice
// came; paid or expired reload the screen, which then shows the outcome.
(function () {
  "use strict";
  var pay = document.querySelector("[data-pay]");
  if (!pay) { return; }
  var url = pay.getAttribute("data-state-url");
  var here = pay.getAttribute("data-here");
  function check() {
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (body) {
        if (body.state === "paid" || body.state === "expired") { window.location.replace(here); return; }
        if (body.state !== "gone") { window.setTimeout(check, 1000); }
      })
      .catch(function () { window.setTimeout(check, 2000); });
  }
  window.setTimeout(check, 1000);
})();
