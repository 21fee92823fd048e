// Find in trace. Words (or "quoted phrases") are ANDed; a word matches a span's service, operation, span ID,
// tag keys or values, process tags or log fields (case-insensitive substring); a
// ``key=value`` word matches a tag, process tag or log field exactly. Matches are
// highlighted in the timeline and stepped through in display order.

import { debounce, h, uid } from "../dom.js";
import { formatNumber } from "../format.js";

function str(v) {
  return typeof v === "string" ? v : v === null || v === undefined ? "" : String(v);
}

function kvHas(list, term) {
  for (let i = 0; i < list.length; i++) {
    const kv = list[i];
    if (kv.key.toLowerCase().includes(term) || str(kv.value).toLowerCase().includes(term)) return true;
  }
  return false;
}

function kvEquals(list, key, value) {
  for (let i = 0; i < list.length; i++) {
    const kv = list[i];
    if (kv.key === key && str(kv.value).toLowerCase() === value) return true;
  }
  return false;
}

function matchTerm(span, term) {
  const eq = term.raw.indexOf("=");
  if (eq > 0) {
    const key = term.raw.slice(0, eq);
    const value = term.raw.slice(eq + 1).toLowerCase();
    if (kvEquals(span.tags, key, value) || kvEquals(span.process.tags || [], key, value)) return true;
    for (const log of span.logs) if (kvEquals(log.fields || [], key, value)) return true;
    return false;
  }
  const t = term.lower;
  if (span.serviceName.toLowerCase().includes(t) || span.operationName.toLowerCase().includes(t) || span.spanID.toLowerCase().includes(t)) return true;
  if (kvHas(span.tags, t) || kvHas(span.process.tags || [], t)) return true;
  for (const log of span.logs) if (kvHas(log.fields || [], t)) return true;
  return false;
}

/** The spans matching ``text``, in display order. */
export function findSpans(model, text) {
  // Words, or "quoted phrases" kept whole.
  const terms = [...text.matchAll(/"([^"]*)"|(\S+)/g)]
    .map((m) => (m[1] !== undefined ? m[1] : m[2]))
    .filter(Boolean)
    .map((raw) => ({ raw, lower: raw.toLowerCase() }));
  if (!terms.length) return [];
  const out = [];
  for (const span of model.spans) {
    let ok = true;
    for (const term of terms) {
      if (!matchTerm(span, term)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push(span);
  }
  return out;
}

/**
 * The find box. ``onStep(span)`` shows the current match. Returns ``{ element, set(text),
 * next(), prev(), clear(), focus() }``.
 */
export function createFindBox(state, { onStep }) {
  const id = uid("find");
  const input = h("input", { id, type: "search", class: "find-input", placeholder: "Find in trace…", autocomplete: "off", spellcheck: "false", "data-primary-input": "" });
  const counter = h("span", { class: "find-count", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "small icon-button", "aria-label": "Previous match", title: "Previous match (Shift+Enter)", disabled: true }, "▲");
  const next = h("button", { type: "button", class: "small icon-button", "aria-label": "Next match", title: "Next match (Enter)", disabled: true }, "▼");
  const element = h("div", { class: "find-box", role: "search" }, h("label", { class: "visually-hidden", for: id }, "Find in trace"), input, counter, prev, next);

  function show() {
    const total = state.matches.length;
    prev.disabled = next.disabled = total === 0;
    if (!state.findText) counter.textContent = "";
    else if (!total) counter.textContent = "No matches";
    else counter.textContent = `${formatNumber(state.currentMatch + 1)} of ${formatNumber(total)}`;
    element.classList.toggle("no-match", Boolean(state.findText) && !total);
  }

  function run(text) {
    state.setMatches(text.trim(), text.trim() ? findSpans(state.model, text) : []);
    show();
    if (state.matches.length) onStep(state.matches[0]);
  }
  const runLater = debounce(run, 150);

  function step(delta) {
    const total = state.matches.length;
    if (!total) return;
    state.setCurrentMatch((state.currentMatch + delta + total) % total);
    show();
    onStep(state.matches[state.currentMatch]);
  }

  input.addEventListener("input", () => runLater(input.value));
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      runLater.cancel();
      if (input.value.trim() !== state.findText) run(input.value);
      else step(e.shiftKey ? -1 : 1);
    } else if (e.key === "Escape") {
      e.preventDefault();
      api.clear();
      input.blur();
    }
  });
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));

  const api = {
    element,
    set(text) {
      input.value = text;
      run(text);
    },
    /** Shows a given set of spans as the matches (the trace graph's "find these"). */
    showMatches(label, spans) {
      runLater.cancel();
      input.value = label;
      state.setMatches(label, spans);
      show();
      if (spans.length) onStep(spans[0]);
    },
    next: () => step(1),
    prev: () => step(-1),
    clear() {
      runLater.cancel();
      input.value = "";
      state.setMatches("", []);
      show();
    },
    focus() {
      input.focus();
      input.select();
    },
  };
  return api;
}
