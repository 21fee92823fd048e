// The flame graph: every span as a box, time across and call depth down (root on top),
// drawn on a canvas so 100,000 spans stay fast. Boxes narrower than half a pixel are
// skipped. Click a box to zoom into its time range; "Reset zoom" or Escape goes back;
// double-click (or Enter on the focused graph after a click) opens the span in the
// timeline. The spans table offers the same data to screen readers.

import { serviceColor } from "../colors.js";
import { cssVar, h, rafThrottle, replace } from "../dom.js";
import { formatDuration, formatOffset } from "../format.js";

const ROW = 20;

export function createFlameView(model, { onOpenSpan }) {
  const canvas = h("canvas", { class: "flame-canvas", tabindex: "0", role: "img", "aria-label": `Flame graph of ${model.spans.length} spans; the spans table lists the same spans.` });
  const tooltip = h("div", { class: "flame-tooltip", hidden: true, role: "tooltip" });
  const crumbs = h("div", { class: "flame-crumbs", "aria-live": "polite" });
  const reset = h("button", { type: "button", class: "small", disabled: true, onClick: () => zoomTo(null) }, "Reset zoom");
  const scroller = h("div", { class: "flame-scroll" }, canvas, tooltip);
  const element = h(
    "div",
    { class: "view-flame", dataset: { view: "flame" } },
    h("div", { class: "view-toolbar" }, reset, crumbs, h("span", { class: "muted flame-hint" }, "Click a box to zoom in · double-click to open it in the timeline")),
    scroller,
  );
  let focus = null; // span zoomed into
  let hover = null;
  let width = 0;
  const maxDepth = model.depth;

  function range() {
    if (!focus) return [model.startTime, model.endTime, 0];
    return [focus.startTime, focus.startTime + Math.max(1, focus.duration), focus.depth];
  }

  function draw() {
    width = scroller.clientWidth || 1000;
    const [t0, t1, d0] = range();
    const rows = maxDepth - d0;
    const height = Math.max(ROW * 3, rows * ROW + 4);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = `12px ${cssVar("--font") || "sans-serif"}`;
    ctx.textBaseline = "middle";
    const errorColor = cssVar("--error");
    const scale = width / (t1 - t0);
    for (const span of model.spans) {
      if (span.depth < d0) continue;
      const s0 = Math.max(span.startTime, t0);
      const s1 = Math.min(span.startTime + span.duration, t1);
      if (s1 < s0) continue;
      const w = (s1 - s0) * scale;
      if (w < 0.5) continue;
      const x = (s0 - t0) * scale;
      const y = (span.depth - d0) * ROW;
      ctx.fillStyle = serviceColor(span.serviceName);
      ctx.globalAlpha = span === hover ? 1 : 0.82;
      ctx.fillRect(x, y + 1, Math.max(1, w - 1), ROW - 2);
      ctx.globalAlpha = 1;
      if (span.hasError) {
        ctx.fillStyle = errorColor;
        ctx.fillRect(x, y + ROW - 4, Math.max(1, w - 1), 3);
      }
      if (w > 40) {
        const label = `${span.operationName} (${formatDuration(span.duration)})`;
        const max = Math.floor((w - 8) / 6.6);
        ctx.save();
        ctx.beginPath();
        ctx.rect(x, y, w - 2, ROW);
        ctx.clip();
        ctx.fillStyle = "#10151d";
        ctx.fillText(label.length > max ? `${label.slice(0, Math.max(1, max - 1))}…` : label, x + 4, y + ROW / 2);
        ctx.restore();
      }
    }
  }

  function spanAt(clientX, clientY) {
    const rect = canvas.getBoundingClientRect();
    const x = clientX - rect.left;
    const y = clientY - rect.top;
    const [t0, t1, d0] = range();
    const depth = Math.floor(y / ROW) + d0;
    const t = t0 + (x / width) * (t1 - t0);
    let best = null;
    for (const span of model.spans) {
      if (span.depth !== depth) continue;
      if (t >= span.startTime && t <= span.startTime + span.duration) {
        if (!best || span.duration < best.duration) best = span;
      }
    }
    return best;
  }

  function zoomTo(span) {
    focus = span;
    reset.disabled = !span;
    const trail = [];
    for (let p = span; p; p = p.parent) trail.unshift(p);
    replace(crumbs, trail.map((p, i) => [i ? " › " : null, h("span", { class: "crumb" }, `${p.serviceName}: ${p.operationName}`)]));
    draw();
  }

  const onMove = rafThrottle((e) => {
    const span = spanAt(e.clientX, e.clientY);
    if (span !== hover) {
      hover = span;
      draw();
    }
    if (!span) {
      tooltip.hidden = true;
      return;
    }
    replace(
      tooltip,
      h("strong", null, `${span.serviceName}: ${span.operationName}`),
      h("div", null, `${formatDuration(span.duration)} · self ${formatDuration(span.selfTime)}`),
      h("div", { class: "muted" }, `starts ${formatOffset(span.relStart)}${span.hasError ? " · error" : ""}`),
    );
    tooltip.hidden = false;
    const box = scroller.getBoundingClientRect();
    tooltip.style.left = `${Math.min(e.clientX - box.left + 12, box.width - 270)}px`;
    tooltip.style.top = `${e.clientY - box.top + scroller.scrollTop + 14}px`;
  });
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", () => {
    tooltip.hidden = true;
    hover = null;
    draw();
  });
  // A click zooms a moment later, so that a double-click (open) is not a zoom first.
  let clickTimer = 0;
  canvas.addEventListener("click", (e) => {
    const span = spanAt(e.clientX, e.clientY);
    clearTimeout(clickTimer);
    if (!span || e.detail > 1) return;
    clickTimer = setTimeout(() => zoomTo(span === focus ? span.parent : span), 220);
  });
  canvas.addEventListener("dblclick", (e) => {
    clearTimeout(clickTimer);
    const span = spanAt(e.clientX, e.clientY);
    if (span) onOpenSpan(span);
  });
  canvas.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && focus) {
      zoomTo(focus.parent);
      e.preventDefault();
      e.stopPropagation();
    } else if (e.key === "Enter" && focus) {
      onOpenSpan(focus);
      e.preventDefault();
    }
  });
  const redraw = () => draw();
  window.addEventListener("themechange", redraw);
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    if (scroller.clientWidth !== lastWidth) {
      lastWidth = scroller.clientWidth;
      draw();
    }
  });
  observer.observe(scroller);
  return {
    element,
    destroy() {
      observer.disconnect();
      window.removeEventListener("themechange", redraw);
    },
  };
}
