// The kiosk page's live side: card and printer events, clearing personal data, idle countdown.
(() => {
  "use strict";
  const body = document.body;
  const token = body.dataset.visit || "";  // posts this visit's forms; never on the stream
  const visitId = body.dataset.visitId || "";  // how the stream names this visit
  const personal = body.dataset.personal === "1";
  const page = body.dataset.page;
  const idleS = Number(body.dataset.idle || 90);
  const countdownS = Number(body.dataset.countdown || 20);
  let leaving = false;
  // Set once the resident has started a navigation of their own (a tile, a link, a form):
  // the home screen then no longer jumps to the summary when the card's visit starts,
  // which a tile (the petition, with the card still in) may itself have started.
  let navigating = false;
  window.addEventListener("beforeunload", () => { navigating = true; });

  // Personal data leaves the screen at once: empty the page, then go home.
  function wipe(target) {
    if (leaving) return;
    leaving = true;
    const screen = document.getElementById("screen");
    if (screen) screen.replaceChildren();
    document.querySelectorAll(".overlay, .osk").forEach((el) => { el.hidden = true; });
    body.dataset.personal = "0";
    // With the card still in, the same resident is at the screen: stay in their language.
    // Once the card is out, the next resident starts afresh at the default language.
    const home = body.dataset.cardPresent === "1" ? body.dataset.homeHere : body.dataset.home;
    location.replace(target || home);
  }
  window.kioskWipe = wipe;

  function go(url) {
    if (leaving) return;
    leaving = true;
    const busy = document.getElementById("busy");
    if (busy) busy.hidden = false;
    location.assign(url);
  }

  function post(url, fields) {
    const data = new URLSearchParams(fields);
    return fetch(url, { method: "POST", body: data, credentials: "same-origin" });
  }

  const events = new EventSource("/events");
  events.addEventListener("visit", (message) => {
    const visit = JSON.parse(message.data);
    body.dataset.cardPresent = visit.card_present ? "1" : "0";
    if (personal && (visit.visit !== visitId || visit.state === "ended")) {
      wipe();
      return;
    }
    if (page === "home" && !navigating && visit.card && (visit.state === "reading" || visit.state === "ready")) {
      go(body.dataset.summaryUrl);
      return;
    }
    if (page === "reading" && visit.visit === visitId && visit.state !== "reading") {
      location.replace(body.dataset.summaryUrl);
      return;
    }
    if (page === "home" && document.querySelector("[data-notice=remove-card], [data-notice=visit-ended]") && visit.state === "none") {
      location.replace(body.dataset.home);
    }
  });
  // Public notices: the home screen shows the current ones; reload when they change.
  events.addEventListener("notices", (message) => {
    const board = document.querySelector("[data-notices]");
    if (page !== "home" || !board || navigating) return;
    if (board.dataset.notices !== JSON.parse(message.data).ids) location.replace(body.dataset.homeHere);
  });
  events.addEventListener("printer", (message) => {
    const state = JSON.parse(message.data).state;
    const label = document.querySelector("[data-printer-label]");
    body.dataset.printer = state;
    if (label) label.hidden = !["paper-out", "cover-open", "offline", "error"].includes(state);
  });

  // "Finish": end the visit on the station, then leave.
  document.querySelectorAll("[data-finish]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      post(form.action, { visit: token, reason: "finished" }).finally(() => wipe());
    });
  });

  // The idle countdown: shown for the last countdownS seconds; one tap gives more time.
  if (personal) {
    const overlay = document.getElementById("countdown");
    const seconds = overlay.querySelector("[data-seconds]");
    let lastActivity = Date.now();
    let lastPing = Date.now();
    const activity = () => {
      lastActivity = Date.now();
      if (!overlay.hidden) overlay.hidden = true;
      if (Date.now() - lastPing > 10000) {
        lastPing = Date.now();
        post("/visit/extend", { visit: token });
      }
    };
    ["pointerdown", "keydown", "input"].forEach((name) => document.addEventListener(name, activity, true));
    overlay.querySelector("[data-extend]").addEventListener("click", () => {
      lastPing = Date.now();
      post("/visit/extend", { visit: token });
    });
    setInterval(() => {
      const left = idleS - (Date.now() - lastActivity) / 1000;
      if (left <= 0) {
        post("/visit/end", { visit: token, reason: "timeout" }).finally(() => wipe());
      } else if (left <= countdownS) {
        overlay.hidden = false;
        seconds.textContent = String(Math.ceil(left));
      }
    }, 250);
  }

  // For the benchmark and tests: when this screen was first painted (epoch ms).
  requestAnimationFrame(() => setTimeout(() => {
    window.kioskPaintedAt = performance.timeOrigin + performance.now();
  }, 0));
})();
