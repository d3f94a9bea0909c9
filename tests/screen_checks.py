"""What every kiosk screen is checked for, in the browser that shows it.

- **Contrast**: axe-core (the npm package pinned by ``tests/axe/package-lock.json``, installed
  by ``make setup``) runs its ``color-contrast`` rule inside Chromium on the painted screen:
  every text at least 4.5:1 against what is drawn behind it, large text 3:1 (WCAG 2 AA).
- **Raw keys**: no catalogue key (``petition.status.filed``) and no ``snake_case`` word
  (``general_petition``) in what a person can read.
- **English fallback**: in a Thai or Vietnamese screen, no English word of the kiosk's English
  catalogue that the screen's own catalogue does not use too.
- **Dead ends**: the way home (the header's title) is on the screen and goes to this
  language's home.

Each check returns a list of findings (empty when the screen is fine), so a walk can collect
them over every screen and a test can show all of them at once.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from playwright.sync_api import Page

from device.kiosk.i18n import catalogue_keys

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

#: Lowercase words joined by dots or underscores: what a catalogue key or a code looks like.
#: A web address shown as data (a video-call link): neither a key nor a word of any language.
_URL = re.compile(r"https?://\S+")
_RAW_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
#: A run of ASCII letters and digits: a word only when it has no digit (``P3OR7KQ`` is a
#: payment reference, not the word "or").
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")
#: Latin words a Thai or Vietnamese screen shows on purpose: the language switcher's own
#: names, the on-screen keyboard's layout keys, and the formats a field asks for.
ALLOWED_LATIN = frozenset({"english", "tiếng", "abc", "xx", "xxx", "xxxxxxx"})
#: Text a person reads, hidden parts left out: the rendered text plus the attributes a screen
#: reader or the eye gets (placeholders, labels, alternative texts, button values).
_VISIBLE_TEXT = """() => {
  const parts = [document.body.innerText];
  for (const el of document.querySelectorAll("[placeholder], [aria-label], [alt], [title]")) {
    if (!el.checkVisibility()) continue;
    for (const name of ["placeholder", "aria-label", "alt", "title"]) {
      const value = el.getAttribute(name);
      if (value) parts.push(value);
    }
  }
  return parts.join("\\n");
}"""


@cache
def axe_source() -> str:
    """The axe-core script, as ``make setup`` installed it."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `make setup` (npm ci in tests/axe)")
    return AXE.read_text("utf-8")


def contrast_findings(page: Page) -> list[str]:
    """axe-core's ``color-contrast`` violations on the screen as it is painted now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """async () => {
          const result = await axe.run(document, {
            runOnly: {type: "rule", values: ["color-contrast"]},
            resultTypes: ["violations"],
          });
          return result.violations.flatMap((v) => v.nodes.map((n) => ({
            target: n.target.join(" "),
            summary: n.any.map((a) => a.message).join("; "),
            text: (document.querySelector(n.target[0]) || {}).innerText || "",
          })));
        }"""
    )
    return [f"{node['target']} ({node['text'][:40]!r}): {node['summary']}" for node in result]


def incomplete_contrast(page: Page) -> list[str]:
    """Elements axe could not decide (text over an image or a gradient): for a person to look."""
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, {
            runOnly: {type: "rule", values: ["color-contrast"]}, resultTypes: ["incomplete"],
          });
          return result.incomplete.flatMap((v) => v.nodes.map((n) => n.target.join(" ")));
        }"""
    )


def visible_text(page: Page) -> str:
    """What a person can read on the screen now (hidden elements left out)."""
    return page.evaluate(_VISIBLE_TEXT)


@cache
def _catalogue_ids() -> frozenset[str]:
    return frozenset(catalogue_keys("en"))


def raw_key_findings(text: str) -> list[str]:
    """Catalogue keys and ``snake_case``/dotted codes shown as they are (not web addresses)."""
    text = _URL.sub(" ", text)
    found = {match for match in _RAW_KEY.findall(text)}
    found |= {word for word in text.split() if word in _catalogue_ids()}
    return sorted(found)


@cache
def english_only_words(lang: str) -> frozenset[str]:
    """Words of the English catalogue that ``lang``'s catalogue never uses itself."""

    def words(texts: dict[str, str]) -> set[str]:
        return {w.lower() for text in texts.values() for w in _ASCII_WORD.findall(text)}

    return frozenset(words(catalogue_keys("en")) - words(catalogue_keys(lang)) - ALLOWED_LATIN)


def english_findings(text: str, lang: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """English words in a ``lang`` screen (nothing for English itself); ``allowed``: data
    the screen shows on purpose (a card's English name)."""
    if lang == "en":
        return []
    text = _URL.sub(" ", text)
    english = english_only_words(lang)
    return sorted(
        {
            word
            for word in _ASCII_TOKEN.findall(text)
            if word.isalpha() and word.lower() in english and word.lower() not in allowed
        }
    )


def dead_end_findings(page: Page, lang: str) -> list[str]:
    """No visible way back to this language's home."""
    home = page.locator("header a[data-action=home]")
    if home.count() != 1 or not home.is_visible():
        return ["no visible way home"]
    href = home.get_attribute("href")
    if href != f"/{lang}/":
        return [f"the way home goes to {href}"]
    box = home.bounding_box()
    viewport = page.viewport_size
    if (
        box is None
        or viewport is None
        or box["y"] < 0
        or box["y"] + box["height"] > viewport["height"]
    ):
        return ["the way home is off the screen"]
    return []


#: WCAG 2.5.5 / EN 301 549 9.2.5.5 is 44 x 44 CSS px; the kiosk's own rule is larger (64).
MIN_TARGET_PX = 44
_TARGETS = """(minimum) => {
  const found = [];
  const targets = document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, [role=button], [tabindex]");
  for (const el of targets) {
    if (!el.checkVisibility()) continue;
    const box = el.getBoundingClientRect();
    if (box.width < minimum || box.height < minimum) {
      const name = (el.innerText || el.value || el.getAttribute("name") || el.tagName).trim();
      found.push(`${el.tagName.toLowerCase()} ${JSON.stringify(name.slice(0, 30))}: `
        + `${Math.round(box.width)} x ${Math.round(box.height)} px`);
    }
  }
  return found;
}"""


def target_findings(page: Page, minimum: int = MIN_TARGET_PX) -> list[str]:
    """Every visible link, button and field smaller than ``minimum`` CSS pixels either way
    (measured from its bounding box as painted now)."""
    return page.evaluate(_TARGETS, minimum)
