// The scatter plot of search results: start time across, duration up. Errors are red
// diamonds (shape and colour, so they do not depend on colour vision); point size grows
// with the span count. Clicking a point opens its trace.

import { h, replace, s } from "../dom.js";
import { formatDuration, formatTimestamp, niceTicks, plural, timeTicks } from "../format.js";

const HEIGHT = 190;
const MARGIN = { top: 12, right: 20, bottom: 26, left: 64 };

/**
 * Draws into ``container``; ``onOpen(traceID)`` is called on click. Returns a function
 * that stops watching the container's size.
 */
export function renderScatter(container, summaries, { onOpen }) {
  const tooltip = h("div", { class: "scatter-tooltip", role: "tooltip", hidden: true });
  const holder = h("div", { class: "scatter-plot" });
  replace(container, holder, tooltip);

  function draw() {
    const width = Math.max(320, holder.clientWidth || 900);
    const innerW = width - MARGIN.left - MARGIN.right;
    const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
    let minT = Infinity;
    let maxT = -Infinity;
    let maxD = 0;
    for (const t of summaries) {
      minT = Math.min(minT, t.startTime);
      maxT = Math.max(maxT, t.startTime);
      maxD = Math.max(maxD, t.duration);
    }
    if (minT === maxT) {
      minT -= 1_000_000;
      maxT += 1_000_000;
    }
    const padT = (maxT - minT) * 0.03;
    minT -= padT;
    maxT += padT;
    maxD = maxD > 0 ? maxD * 1.12 : 1000;
    const x = (t) => MARGIN.left + ((t - minT) / (maxT - minT)) * innerW;
    const y = (d) => MARGIN.top + innerH - (d / maxD) * innerH;

    const grid = [];
    for (const d of niceTicks(0, maxD, 4)) {
      grid.push(s("line", { class: "grid-line", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(d), y2: y(d) }));
      grid.push(s("text", { class: "axis-label", x: MARGIN.left - 8, y: y(d) + 4, "text-anchor": "end" }, formatDuration(d)));
    }
    for (const tick of timeTicks(minT / 1000, maxT / 1000, Math.max(2, Math.floor(innerW / 130)))) {
      const px = x(tick.value * 1000);
      if (px < MARGIN.left || px > width - MARGIN.right) continue;
      grid.push(s("text", { class: "axis-label time-label", x: px, y: HEIGHT - 6, "text-anchor": "middle" }, tick.label));
    }
    const points = summaries.map((t) => {
      const r = 3.5 + Math.min(6, Math.sqrt(t.spanCount) / 2);
      const cx = x(t.startTime);
      const cy = y(t.duration);
      const label = `${t.rootService}: ${t.rootOperation}, ${formatDuration(t.duration)}, ${plural(t.spanCount, "span")}${t.errorCount ? `, ${plural(t.errorCount, "error")}` : ""}`;
      const shape = t.errorCount
        ? s("path", { d: `M${cx} ${cy - r * 1.25}L${cx + r * 1.25} ${cy}L${cx} ${cy + r * 1.25}L${cx - r * 1.25} ${cy}Z` })
        : s("circle", { cx, cy, r });
      return s(
        "g",
        {
          class: `scatter-point${t.errorCount ? " has-error" : ""}`,
          role: "link",
          "aria-label": label,
          dataset: { traceId: t.traceID },
        },
        shape,
      );
    });
    const svg = s(
      "svg",
      { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "group", "aria-label": `Scatter plot of ${plural(summaries.length, "trace")}: duration by start time` },
      s("rect", { class: "plot-bg", x: MARGIN.left, y: MARGIN.top, width: innerW, height: innerH }),
      grid,
      points,
    );
    replace(holder, svg);
  }

  holder.addEventListener("click", (e) => {
    const point = e.target.closest && e.target.closest(".scatter-point");
    if (point) onOpen(point.dataset.traceId);
  });
  holder.addEventListener("mousemove", (e) => {
    const point = e.target.closest && e.target.closest(".scatter-point");
    if (!point) {
      tooltip.hidden = true;
      return;
    }
    const t = summaries.find((item) => item.traceID === point.dataset.traceId);
    if (!t) return;
    replace(
      tooltip,
      h("strong", null, `${t.rootService}: ${t.rootOperation}`),
      h("div", null, `${formatDuration(t.duration)} · ${plural(t.spanCount, "span")}${t.errorCount ? ` · ${plural(t.errorCount, "error")}` : ""}`),
      h("div", { class: "muted" }, formatTimestamp(t.startTime)),
    );
    tooltip.hidden = false;
    const box = container.getBoundingClientRect();
    const left = Math.min(e.clientX - box.left + 12, box.width - 260);
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${e.clientY - box.top + 12}px`;
  });
  holder.addEventListener("mouseleave", () => {
    tooltip.hidden = true;
  });

  draw();
  let lastWidth = holder.clientWidth;
  const observer = new ResizeObserver(() => {
    if (holder.clientWidth !== lastWidth) {
      lastWidth = holder.clientWidth;
      draw();
    }
  });
  observer.observe(holder);
  return () => observer.disconnect();
}
