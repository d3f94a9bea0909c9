// The kiosk page's live side: card and printer events, clearing personal data, idle countdown.
(() => {
  "use strict";
  const body = document.body;
  const token = body.dataset.visit || "";  // posts this visit's forms; never on the stream
  const visitId = body.dataset.visitId || "";  // how the stream names this visit
  const personal = body.dataset.personal === "1";
  const page = body.dataset.page;
  let idleS = Number(body.dataset.idle || 90);
  let countdownS = Number(body.dataset.countdown || 20);
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
    document.querySelectorAll(".overlay, .osk, [data-more]").forEach((el) => { el.hidden = true; });
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
  // Operations locked or unlocked the kiosk: the out-of-service screen goes home by itself
  // once unlocked (nobody has to touch it), and a screen in use gives way to it when locked,
  // in the language of whoever is at it (the next resident starts at the default language).
  events.addEventListener("service", (message) => {
    const locked = JSON.parse(message.data).locked;
    if (page === "locked" && !locked) location.replace(body.dataset.home);
    else if (page !== "locked" && locked) wipe(body.dataset.homeHere);
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

  // The footer's label follows the station's link to the server live (no reload).
  events.addEventListener("link", (message) => {
    const state = JSON.parse(message.data).state === "online" ? "online" : "offline";
    const label = document.querySelector("footer [data-net]");
    body.dataset.link = state;
    if (!label || label.dataset.net === state) return;
    label.dataset.net = state;
    label.classList.toggle("online", state === "online");
    label.classList.toggle("offline", state === "offline");
    label.textContent = state === "online" ? label.dataset.textOnline : label.dataset.textOffline;
  });

  // A form that needs the server shows "working" until the answer (or "cannot reach") comes:
  // never a screen that looks frozen while the station waits for the server.
  // (A button marked data-local does its work on the station: no overlay for it.)
  function working() {
    const overlay = document.getElementById("working");
    if (overlay) overlay.hidden = false;
  }
  document.querySelectorAll("form[data-needs-server]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!(event.submitter && "local" in event.submitter.dataset)) working();
    });
  });
  // "My petitions" asks the server before its screen can show.
  document.querySelectorAll("a[data-needs-server], a[data-service='tracking.mine']").forEach((link) => {
    link.addEventListener("click", working);
  });
  // Back from the browser's cache the overlay must not still be up.
  window.addEventListener("pageshow", () => {
    const working = document.getElementById("working");
    if (working) working.hidden = true;
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
      // A touch on the countdown hides it at pointerdown, so its button may never get the
      // click: the station must hear of this touch whenever the countdown was up.
      const counting = !overlay.hidden;
      if (counting) overlay.hidden = true;
      if (counting || Date.now() - lastPing > 10000) {
        lastPing = Date.now();
        post("/visit/extend", { visit: token });
      }
    };
    ["pointerdown", "keydown", "input"].forEach((name) => document.addEventListener(name, activity, true));
    overlay.querySelector("[data-extend]").addEventListener("click", () => {
      lastPing = Date.now();
      post("/visit/extend", { visit: token });
    });
    // "More time" in the footer: every timeout of the visit grows, from now on.
    const more = document.querySelector("[data-action=more-time]");
    if (more) {
      more.addEventListener("click", () => {
        lastPing = Date.now();
        post(more.dataset.url, { visit: token })
          .then((response) => response.json())
          .then((answer) => {
            if (!answer.ok) return;
            idleS = answer.idle_s;
            countdownS = answer.countdown_s;
            body.dataset.idle = String(idleS);
            body.dataset.countdown = String(countdownS);
            const given = document.querySelector("[data-time-given]");
            const minutes = Math.round(idleS / 6) / 10;
            if (given) given.textContent = more.dataset.given.replace("{minutes}", String(minutes));
          });
      });
    }
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

  // "More below": a screen longer than the touchscreen says so, and one tap scrolls on.
  // Nothing tells a finger that a kiosk screen scrolls (no scroll bar, no wheel).
  const screen = document.getElementById("screen");
  const more = document.querySelector("[data-more]");
  if (screen && more) {
    const osk = document.getElementById("osk");
    const update = () => {
      // Not while typing: the keyboard brings its field into view, and the hint would sit
      // on the form just above the keys.
      const typing = osk && !osk.hidden;
      // What is out of sight below, less the screen's own bottom padding (not content).
      const padding = parseFloat(getComputedStyle(screen).paddingBottom) || 0;
      const below = screen.scrollHeight - screen.clientHeight - screen.scrollTop - padding;
      more.hidden = typing || below <= 8;
    };
    screen.addEventListener("scroll", update, { passive: true });
    // The screen shrinks when the keyboard opens, its content grows with a message or an
    // image; and fonts arrive after the first layout.
    const watch = new ResizeObserver(update);
    watch.observe(screen);
    Array.from(screen.children).forEach((child) => watch.observe(child));
    window.addEventListener("load", update);
    more.addEventListener("click", () => {
      screen.scrollBy({ top: Math.round(screen.clientHeight * 0.7), behavior: "smooth" });
    });
    update();
  }

  // "Listen": the screen's heading and main instruction (or the dialog on top), spoken by the
  // station in the screen's language.
  function guidance() {
    const dialog = document.querySelector(".overlay:not([hidden]) .dialog");
    if (dialog) return dialog.innerText;
    const screen = document.getElementById("screen");
    if (!screen) return "";
    const parts = [];
    const heading = screen.querySelector("h1");
    if (heading) parts.push(heading.innerText);
    const marked = screen.querySelectorAll("[data-say], [data-error]");
    marked.forEach((el) => parts.push(el.innerText));
    if (!marked.length) {
      const first = screen.querySelector("p");
      if (first) parts.push(first.innerText);
    }
    return parts.join(". ");
  }
  window.kioskGuidance = guidance;
  const listen = document.querySelector("[data-action=listen]");
  if (listen) {
    listen.addEventListener("click", () => {
      post(listen.dataset.url, { text: guidance(), lang: document.documentElement.lang });
    });
  }

  // For the benchmark and tests: when this screen was first painted (epoch ms).
  requestAnimationFrame(() => setTimeout(() => {
    window.kioskPaintedAt = performance.timeOrigin + performance.now();
  }, 0));
})();
