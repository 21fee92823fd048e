// The trace page's view state, shared by the minimap, timeline, span detail and find
// box: which subtrees are collapsed, the zoom window, the selected span, find matches and
// whether the critical path is shown. Parts subscribe to the changes they draw.

import { criticalPath } from "./critical-path.js";

export function createTraceState(model) {
  const listeners = new Set();
  let critical = null;
  const state = {
    model,
    collapsed: new Uint8Array(model.spans.length),
    zoom: [0, 1],
    selected: null,
    matches: [],
    matchSet: new Set(),
    currentMatch: -1,
    findText: "",
    showCritical: true,
    /** Critical-path segments, computed on first use. */
    critical() {
      if (!critical) critical = criticalPath(model);
      return critical;
    },
    on(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    emit(kind) {
      for (const fn of listeners) fn(kind);
    },
    setZoom(a, b) {
      const lo = Math.max(0, Math.min(a, b));
      const hi = Math.min(1, Math.max(a, b));
      if (hi - lo < 0.0005) return;
      state.zoom = [lo, hi];
      state.emit("zoom");
    },
    select(span) {
      state.selected = span;
      state.emit("select");
    },
    setCollapsed(span, on) {
      if (!span.children.length) return;
      state.collapsed[span.index] = on ? 1 : 0;
      state.emit("collapse");
    },
    collapseAll() {
      for (const span of model.spans) state.collapsed[span.index] = span.children.length && span.depth > 0 ? 1 : 0;
      state.emit("collapse");
    },
    /** Collapses every subtree deeper than ``level`` (0 = only roots stay open). */
    collapseBelow(level) {
      for (const span of model.spans) state.collapsed[span.index] = span.children.length && span.depth >= level ? 1 : 0;
      state.emit("collapse");
    },
    expandAll() {
      state.collapsed.fill(0);
      state.emit("collapse");
    },
    /** Opens every collapsed ancestor so ``span`` has a row. */
    reveal(span) {
      let changed = false;
      for (let p = span.parent; p; p = p.parent) {
        if (state.collapsed[p.index]) {
          state.collapsed[p.index] = 0;
          changed = true;
        }
      }
      if (changed) state.emit("collapse");
    },
    setMatches(text, spans) {
      state.findText = text;
      state.matches = spans;
      state.matchSet = new Set(spans);
      state.currentMatch = spans.length ? 0 : -1;
      state.emit("find");
    },
    setCurrentMatch(i) {
      state.currentMatch = i;
      state.emit("find");
    },
    toggleCritical(on = !state.showCritical) {
      state.showCritical = on;
      state.emit("critical");
    },
  };
  return state;
}
