// Small SVG charts for the monitor page: a sparkline for table cells and a line chart
// with axes, a legend and clickable points (each point opens the traces behind it).

import { h, s } from "../dom.js";
import { niceTicks } from "../format.js";

export const SERIES_COLORS = ["#2563c9", "#d9822b", "#23813a", "#8e44ad", "#c62828"];

/** Points of a MetricFamily's metric as [{t (ms), v}], finite values only. */
export function pointsOf(metric) {
  const out = [];
  for (const p of (metric && metric.metricPoints) || []) {
    const v = p.gaugeValue && p.gaugeValue.doubleValue;
    if (typeof v === "number" && Number.isFinite(v)) out.push({ t: Date.parse(p.timestamp), v });
  }
  return out;
}

/** A tiny line over ``points`` (no axes), for a table cell. */
export function sparkline(points, { width = 96, height = 22, color = SERIES_COLORS[0], label = "" } = {}) {
  const svg = s("svg", { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  if (points.length === 0) return svg;
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const max = Math.max(...points.map((p) => p.v), 1e-12);
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * (width - 2) + 1 : width / 2);
  const y = (v) => height - 1 - (v / max) * (height - 3);
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 1.5 }));
  return svg;
}

function timeLabel(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/**
 * A line chart: ``series`` = [{name, points:[{t, v}]}]; ``format(v)`` labels the y axis
 * and tooltips; ``onPoint(point, series)`` is called when a point is clicked.
 */
export function lineChart({ title, series, format = (v) => String(v), onPoint = null, empty = "No data in this range" }) {
  const W = 560;
  const H = 200;
  const M = { l: 56, r: 12, t: 10, b: 24 };
  const all = series.flatMap((x) => x.points);
  const box = h("figure", { class: "monitor-chart card" }, h("figcaption", null, title));
  if (all.length === 0) {
    box.append(h("div", { class: "monitor-empty" }, empty));
    return box;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const vmax = Math.max(...all.map((p) => p.v)) || 1;
  const ticks = niceTicks(0, vmax, 4);
  const top = Math.max(vmax, ticks[ticks.length - 1]);
  const x = (t) => M.l + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - M.l - M.r) : (W - M.l - M.r) / 2);
  const y = (v) => H - M.b - (v / top) * (H - M.t - M.b);
  const svg = s("svg", { class: "monitor-svg", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (const v of ticks) {
    svg.append(s("line", { class: "grid", x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
    svg.append(s("text", { class: "axis", x: M.l - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  for (const t of niceTicks(t0, t1, 5).filter((t) => t >= t0 && t <= t1)) {
    svg.append(s("text", { class: "axis", x: x(t), y: H - 6, "text-anchor": "middle" }, timeLabel(t)));
  }
  series.forEach((one, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    if (one.points.length > 1) {
      const d = one.points.map((p, j) => `${j ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
      svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 1.75 }));
    }
    for (const p of one.points) {
      const dot = s("circle", { class: "point", cx: x(p.t), cy: y(p.v), r: 3.5, fill: color, "data-series": one.name, "data-t": p.t },
        s("title", null, `${one.name}: ${format(p.v)} at ${new Date(p.t).toLocaleString()}`));
      if (onPoint) dot.addEventListener("click", () => onPoint(p, one));
      svg.append(dot);
    }
  });
  box.append(svg);
  if (series.length > 1) {
    box.append(h("div", { class: "monitor-legend" }, series.map((one, i) =>
      h("span", null, h("i", { style: { background: SERIES_COLORS[i % SERIES_COLORS.length] } }), one.name))));
  }
  return box;
}
