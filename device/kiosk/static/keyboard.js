// The on-screen keyboard: Thai (Kedmanee), Latin with Vietnamese letters, digits.
// An input asks for it with data-osk="th" | "latin" | "digits" | "email".
(() => {
  "use strict";
  const osk = document.getElementById("osk");
  if (!osk) return;
  const labels = JSON.parse(osk.dataset.labels || "{}");
  const LAYOUTS = {
    th: [
      ["ๅ/-ภถุึคตจขช", "+๑๒๓๔ู฿๕๖๗๘๙"],
      ["ๆไำพะัีรนยบลฃ", "๐\"ฎฑธํ๊ณฯญฐ,ฅ"],
      ["ฟหกดเ้่าสวง", "ฤฆฏโฌ็๋ษศซ."],
      ["ผปแอิืทมใฝ", "()ฉฮฺ์?ฒฬฦ"],
    ],
    latin: [
      ["1234567890", "1234567890"],
      ["qwertyuiop", "QWERTYUIOP"],
      ["asdfghjkl", "ASDFGHJKL"],
      ["zxcvbnm,.-", "ZXCVBNM,.-"],
      ["ăâđêôơư\u0301\u0300\u0309\u0303\u0323", "ĂÂĐÊÔƠƯ\u0301\u0300\u0309\u0303\u0323"],
    ],
    email: [
      ["1234567890", "1234567890"],
      ["qwertyuiop", "QWERTYUIOP"],
      ["asdfghjkl@", "ASDFGHJKL@"],
      ["zxcvbnm._-", "ZXCVBNM._-"],
    ],
    digits: [["123", "123"], ["456", "456"], ["789", "789"], ["0", "0"]],
  };
  let target = null;
  let layout = "latin";
  let shifted = false;

  function insert(text) {
    if (!target) return;
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? target.value.length;
    const max = target.maxLength > 0 ? target.maxLength : Infinity;
    const value = target.value.slice(0, start) + text + target.value.slice(end);
    if (value.length > max) return;
    target.value = value;
    const caret = start + text.length;
    try { target.setSelectionRange(caret, caret); } catch (e) { /* email inputs */ }
    target.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function backspace() {
    if (!target) return;
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? target.value.length;
    if (start === end && start === 0) return;
    const from = start === end ? start - 1 : start;
    target.value = target.value.slice(0, from) + target.value.slice(end);
    try { target.setSelectionRange(from, from); } catch (e) { /* email inputs */ }
    target.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function key(text, action, extra) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "osk-key" + (extra ? " " + extra : "");
    button.textContent = text;
    if (action === undefined) button.dataset.key = text;
    else button.dataset.action = action;
    return button;
  }

  function draw() {
    osk.replaceChildren();
    for (const row of LAYOUTS[layout]) {
      const line = document.createElement("div");
      line.className = "osk-row";
      for (const ch of Array.from(row[shifted ? 1 : 0])) line.appendChild(key(ch));
      osk.appendChild(line);
    }
    const last = document.createElement("div");
    last.className = "osk-row";
    const allowed = (target && target.dataset.osk) || "latin";
    if (allowed !== "digits") {
      last.appendChild(key(labels.shift || "⇧", "shift", shifted ? "wide on" : "wide"));
      if (allowed !== "email") {
        for (const name of ["th", "latin"]) {
          last.appendChild(key(labels[name] || name, "layout:" + name, layout === name ? "wide on" : "wide"));
        }
      }
      last.appendChild(key(labels.space || "space", "space", "space"));
    }
    last.appendChild(key("⌫", "backspace", "wide"));
    last.appendChild(key(labels.done || "OK", "done", "wide"));
    osk.appendChild(last);
  }

  osk.addEventListener("pointerdown", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    event.preventDefault(); // keep the focus (and the caret) in the input
    const action = button.dataset.action;
    if (button.dataset.key !== undefined) insert(button.dataset.key);
    else if (action === "space") insert(" ");
    else if (action === "backspace") backspace();
    else if (action === "shift") { shifted = !shifted; draw(); }
    else if (action && action.startsWith("layout:")) { layout = action.slice(7); shifted = false; draw(); }
  });

  // "Done" hides the keyboard on the click, not on pointerdown: hidden at pointerdown, the
  // keyboard would be gone by the time the click is dispatched, and the click would land on
  // whatever lies under it ("Finish" in the footer ended the visit and lost the form).
  osk.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.dataset.action !== "done") return;
    event.preventDefault();
    event.stopPropagation();
    osk.hidden = true;
    if (target) target.blur();
  });

  function wantsKeyboard(el) {
    return (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) && Boolean(el.dataset.osk);
  }

  // A tap on a field that already has the focus (autofocus) brings no focusin, yet the
  // resident expects the keyboard. On the click, not pointerdown: opening the keyboard moves
  // the page, and a touch's click is aimed again where the finger was, after the move.
  document.addEventListener("click", (event) => {
    if (osk.hidden && wantsKeyboard(event.target)) open(event.target);
  });

  document.addEventListener("focusin", (event) => {
    if (wantsKeyboard(event.target)) open(event.target);
  });

  // An autofocused first field: the browser may focus it before this script listens for
  // focusin (autofocus runs at the first rendering, which can come before the parser reaches
  // this script), and then no keyboard opens. So look once ourselves, now and at load.
  function openOnAutofocus() {
    // A screen that says what went wrong is read first: the keyboard would push the message
    // out of sight. The resident taps the field to correct it.
    if (document.querySelector("#screen [role=alert]")) return;
    const focused = document.activeElement;
    if (wantsKeyboard(focused)) {
      if (osk.hidden || target !== focused) open(focused);
      return;
    }
    const wanted = document.querySelector("#screen [autofocus]");
    if (wantsKeyboard(wanted) && !wanted.disabled) wanted.focus();  // focusin opens it
  }
  openOnAutofocus();
  if (document.readyState !== "complete") window.addEventListener("load", openOnAutofocus, { once: true });

  function open(el) {
    target = el;
    const wanted = el.dataset.osk;
    layout = wanted === "th" ? "th" : wanted === "digits" ? "digits" : wanted === "email" ? "email" : (layout === "th" && el.tagName === "TEXTAREA" ? "th" : "latin");
    if (wanted === "text") layout = document.documentElement.lang === "th" ? "th" : "latin";
    shifted = false;
    draw();
    osk.hidden = false;
    el.scrollIntoView({ block: "center" });
  }
})();
