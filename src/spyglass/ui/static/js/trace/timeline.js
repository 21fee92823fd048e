// The timeline: one row per visible span (tree on the left, time bar on the right).
// Only the rows in view (plus a margin) exist in the DOM, so a 100,000-span trace scrolls
// like a 10-span one: rows are absolutely placed at index × row height inside a spacer
// as tall as all rows. Collapsing a subtree skips it in O(1) using the model's
// ``subtreeEnd``. The tree is keyboard-driven (role=tree, aria-activedescendant).

import { serviceColor } from "../colors.js";
import { h, rafThrottle, replace } from "../dom.js";
import { formatDuration, plural } from "../format.js";
import { kindIcon, spanSemantics } from "./semantics.js";

const ROW_H = 28;
const OVERSCAN = 12;
const INDENT = 14;
const MAX_INDENT_LEVELS = 24;

export function createTimeline(state, { onSelect, onLinks = null, backlinks = null }) {
  const model = state.model;
  const spans = model.spans;
  const n = spans.length;
  let visible = [];
  let posOf = new Int32Array(n);
  let focusedIndex = 0; // span index
  const rendered = new Map(); // visible position -> row element
  let nameWidth = 0.32;

  const ticksHead = h("div", { class: "tl-ticks-head", "aria-hidden": "true" });
  const resizer = h("div", {
    class: "tl-resizer",
    role: "separator",
    tabindex: "0",
    "aria-orientation": "vertical",
    "aria-label": "Resize the span name column",
    "aria-valuemin": "15",
    "aria-valuemax": "70",
  });
  const header = h(
    "div",
    { class: "tl-header" },
    h("div", { class: "tl-name-head" }, h("span", null, "Service & operation")),
    resizer,
    ticksHead,
  );
  const grid = h("div", { class: "tl-grid", "aria-hidden": "true" });
  const canvas = h("div", { class: "tl-canvas" }, grid);
  const body = h("div", { class: "tl-body", tabindex: "0", role: "tree", "aria-label": `Spans of the trace (${plural(n, "span")})` }, canvas);
  const element = h("div", { class: "timeline", dataset: { ready: "false" } }, header, body);

  function setNameWidth(fraction) {
    nameWidth = Math.min(0.7, Math.max(0.15, fraction));
    element.style.setProperty("--name-w", `${(nameWidth * 100).toFixed(2)}%`);
    resizer.setAttribute("aria-valuenow", String(Math.round(nameWidth * 100)));
  }
  setNameWidth(nameWidth);

  // -- visible rows ----------------------------------------------------------------------
  function computeVisible() {
    const out = [];
    const collapsed = state.collapsed;
    let i = 0;
    while (i < n) {
      out.push(i);
      i = collapsed[i] ? spans[i].subtreeEnd : i + 1;
    }
    visible = out;
    posOf.fill(-1);
    for (let k = 0; k < out.length; k++) posOf[out[k]] = k;
    canvas.style.height = `${out.length * ROW_H}px`;
    if (posOf[focusedIndex] < 0) {
      let p = spans[focusedIndex];
      while (p && posOf[p.index] < 0) p = p.parent;
      focusedIndex = p ? p.index : 0;
    }
  }

  // -- ticks -------------------------------------------------------------------------------
  function drawTicks() {
    const [z0, z1] = state.zoom;
    const labels = [];
    const lines = [];
    for (let k = 0; k <= 4; k++) {
      const f = k / 4;
      const t = (z0 + f * (z1 - z0)) * model.duration;
      const style = { left: `${f * 100}%` };
      labels.push(h("span", { class: `tl-tick${k === 4 ? " last" : ""}${k === 0 ? " first" : ""}`, style }, formatDuration(t)));
      if (k > 0 && k < 4) lines.push(h("div", { class: "tl-grid-line", style }));
    }
    replace(ticksHead, labels);
    replace(grid, lines);
  }

  // -- rows --------------------------------------------------------------------------------
  function rowFor(pos) {
    const span = spans[visible[pos]];
    const [z0, z1] = state.zoom;
    const dur = model.duration || 1;
    const scale = 100 / (z1 - z0);
    const left = (span.relStart / dur - z0) * scale;
    const width = (span.duration / dur) * scale;
    const color = serviceColor(span.serviceName);
    const collapsed = state.collapsed[span.index] === 1;
    const hasKids = span.children.length > 0;
    const level = Math.min(span.depth, MAX_INDENT_LEVELS);
    const sem = spanSemantics(span);

    const bar = h("div", { class: `tl-bar${span.hasError ? " has-error" : ""}`, style: { left: `${left}%`, width: `${width}%`, background: color } });
    if (state.showCritical) {
      const segs = state.critical().get(span);
      if (segs && span.duration > 0) {
        for (const [s, e] of segs) {
          bar.appendChild(h("div", { class: "tl-crit", style: { left: `${((s - span.startTime) / span.duration) * 100}%`, width: `${((e - s) / span.duration) * 100}%` } }));
        }
      }
    }
    if (span.logs.length && span.duration > 0) {
      for (const log of span.logs.length > 20 ? span.logs.slice(0, 20) : span.logs) {
        const at = ((log.timestamp - span.startTime) / span.duration) * 100;
        if (at >= 0 && at <= 100) bar.appendChild(h("div", { class: "tl-log", style: { left: `${at}%` } }));
      }
    }
    const right = left + width;
    const label = h("span", { class: "tl-label" }, formatDuration(span.duration));
    if (right <= 85) {
      label.style.left = `${Math.max(0, right)}%`;
    } else if (left >= 12) {
      label.classList.add("before");
      label.style.right = `${100 - left}%`;
    } else {
      label.classList.add("inside");
      label.style.right = `${Math.max(0, 100 - right)}%`;
    }

    const toggle = hasKids
      ? h("button", { type: "button", class: "tl-toggle", tabindex: "-1", "aria-label": collapsed ? "Expand" : "Collapse", dataset: { toggle: "1" } }, collapsed ? "▸" : "▾")
      : h("span", { class: "tl-toggle-spacer" });
    const name = h(
      "div",
      { class: "tl-name", style: { paddingLeft: `${6 + level * INDENT}px`, "--svc": color } },
      h("span", { class: "tl-depth-guide", style: { width: `${level * INDENT}px` } }),
      toggle,
      h("span", { class: "swatch", style: { "--swatch": color } }),
      kindIcon(sem),
      h("span", { class: "tl-text" }, h("span", { class: "tl-svc" }, span.serviceName), h("span", { class: "tl-op" }, span.operationName)),
      sem.badges.length ? h("span", { class: "tl-badges" }, sem.badges.map((b) => h("span", { class: `tl-badge ${b.kind}`, title: b.title }, b.text))) : null,
      span.depth > MAX_INDENT_LEVELS ? h("span", { class: "tl-deep", title: `Depth ${span.depth}` }, `L${span.depth}`) : null,
      span.hasError ? h("span", { class: "tl-error", title: "Error", "aria-label": "error" }, "!") : null,
      span.links.length ? h("button", { type: "button", class: "tl-link-icon", tabindex: "-1", title: `${plural(span.links.length, "link")} to other spans: show them`, "aria-label": `Show ${plural(span.links.length, "link")}`, dataset: { links: "1" } }, "🔗\uFE0E", span.links.length > 1 ? h("span", { class: "tl-link-count" }, String(span.links.length)) : null) : null,
      backlinks && backlinks(span) ? h("span", { class: "tl-backlink-icon", title: `Linked from ${plural(backlinks(span), "span")} of other traces`, "aria-label": `linked from ${plural(backlinks(span), "span")}` }, "⇠") : null,
      span.uiWarnings.length || span.warnings.length ? h("span", { class: "tl-warn", title: "Has warnings" }, "⚠") : null,
      collapsed ? h("span", { class: "tl-hidden-count" }, `+${span.subtreeEnd - span.index - 1}`) : null,
    );
    const classes = ["tl-row"];
    if (state.selected === span) classes.push("is-selected");
    if (span.index === focusedIndex) classes.push("is-focused");
    if (state.matchSet.has(span)) classes.push("is-match");
    if (state.currentMatch >= 0 && state.matches[state.currentMatch] === span) classes.push("is-current-match");
    const row = h(
      "div",
      {
        class: classes.join(" "),
        id: `tl-row-${span.index}`,
        role: "treeitem",
        "aria-level": String(span.depth + 1),
        "aria-selected": state.selected === span ? "true" : "false",
        "aria-label": `${span.serviceName} ${span.operationName}, ${formatDuration(span.duration)}${span.hasError ? ", error" : ""}`,
        dataset: { index: String(span.index), spanId: span.spanID },
        style: { top: `${pos * ROW_H}px` },
      },
      name,
      h("div", { class: "tl-bar-cell" }, bar, label),
    );
    if (hasKids) row.setAttribute("aria-expanded", collapsed ? "false" : "true");
    return row;
  }

  let firstRender = true;
  function renderRows(force = false) {
    if (force) {
      for (const el of rendered.values()) el.remove();
      rendered.clear();
    }
    const top = body.scrollTop;
    const height = body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(visible.length - 1, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    for (const [pos, el] of rendered) {
      if (pos < first || pos > last) {
        el.remove();
        rendered.delete(pos);
      }
    }
    const frag = document.createDocumentFragment();
    for (let pos = first; pos <= last; pos++) {
      if (!rendered.has(pos)) {
        const row = rowFor(pos);
        rendered.set(pos, row);
        frag.appendChild(row);
      }
    }
    canvas.appendChild(frag);
    body.setAttribute("aria-activedescendant", `tl-row-${focusedIndex}`);
    if (firstRender && rendered.size) {
      firstRender = false;
      performance.mark("spyglass:timeline-ready");
      element.dataset.ready = "true";
    }
  }
  const onScroll = rafThrottle(() => renderRows());
  body.addEventListener("scroll", onScroll, { passive: true });

  // -- focus and keyboard ------------------------------------------------------------------
  function scrollToPos(pos, center = false) {
    const top = pos * ROW_H;
    const h0 = body.clientHeight || 600;
    if (center) body.scrollTop = Math.max(0, top - h0 / 2 + ROW_H);
    else if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW_H > body.scrollTop + h0) body.scrollTop = top + ROW_H - h0;
  }

  function setFocus(index, { center = false } = {}) {
    focusedIndex = index;
    const pos = posOf[index];
    if (pos >= 0) scrollToPos(pos, center);
    renderRows(true);
  }

  function moveFocus(delta) {
    const pos = Math.max(0, Math.min(visible.length - 1, posOf[focusedIndex] + delta));
    setFocus(visible[pos]);
  }

  body.addEventListener("keydown", (e) => {
    const span = spans[focusedIndex];
    const page = Math.max(1, Math.floor((body.clientHeight || 600) / ROW_H) - 1);
    switch (e.key) {
      case "ArrowDown":
        moveFocus(1);
        break;
      case "ArrowUp":
        moveFocus(-1);
        break;
      case "PageDown":
        moveFocus(page);
        break;
      case "PageUp":
        moveFocus(-page);
        break;
      case "Home":
        setFocus(visible[0]);
        break;
      case "End":
        setFocus(visible[visible.length - 1]);
        break;
      case "ArrowRight":
        if (span.children.length && state.collapsed[span.index]) state.setCollapsed(span, false);
        else if (span.children.length) moveFocus(1);
        break;
      case "ArrowLeft":
        if (span.children.length && !state.collapsed[span.index]) state.setCollapsed(span, true);
        else if (span.parent) setFocus(span.parent.index);
        break;
      case "Enter":
      case " ":
        onSelect(state.selected === span ? null : span);
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  });

  canvas.addEventListener("click", (e) => {
    const row = e.target.closest(".tl-row");
    if (!row) return;
    const span = spans[Number(row.dataset.index)];
    focusedIndex = span.index;
    if (e.target.closest("[data-toggle]")) {
      state.setCollapsed(span, !state.collapsed[span.index]);
      return;
    }
    const linkButton = e.target.closest("[data-links]");
    if (linkButton && onLinks) {
      onLinks(span, linkButton);
      return;
    }
    onSelect(state.selected === span ? null : span);
  });

  // -- column resizing ------------------------------------------------------------------
  resizer.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    resizer.setPointerCapture(e.pointerId);
    const rect = element.getBoundingClientRect();
    const move = (ev) => setNameWidth((ev.clientX - rect.left) / rect.width);
    const up = () => {
      resizer.removeEventListener("pointermove", move);
      resizer.removeEventListener("pointerup", up);
    };
    resizer.addEventListener("pointermove", move);
    resizer.addEventListener("pointerup", up);
  });
  resizer.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") setNameWidth(nameWidth - 0.02);
    else if (e.key === "ArrowRight") setNameWidth(nameWidth + 0.02);
    else return;
    e.preventDefault();
  });

  // -- state changes --------------------------------------------------------------------
  const off = state.on((kind) => {
    if (kind === "collapse") {
      computeVisible();
      renderRows(true);
    } else if (kind === "zoom") {
      drawTicks();
      renderRows(true);
    } else {
      renderRows(true);
    }
  });

  const resizeObserver = new ResizeObserver(() => renderRows());
  resizeObserver.observe(body);

  computeVisible();
  drawTicks();

  return {
    element,
    /** First paint; call once the element is in the document. */
    start() {
      renderRows(true);
    },
    focus() {
      body.focus();
    },
    /** Opens the span's ancestors, scrolls it to the middle and focuses it. */
    scrollToSpan(span) {
      state.reveal(span);
      setFocus(span.index, { center: true });
    },
    /** Scrolls as little as needed to show the span's row (after the drawer opened). */
    keepInView(span) {
      const pos = posOf[span.index];
      if (pos >= 0) {
        scrollToPos(pos);
        renderRows();
      }
    },
    visibleCount: () => visible.length,
    destroy() {
      off();
      resizeObserver.disconnect();
    },
  };
}
