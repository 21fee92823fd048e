// The dependencies page (``/dependencies``, "System Architecture"): the service graph
// from ``/api/dependencies`` laid out in layers left to right, call counts on the edges.
// Activating a service searches its traces. A table lists the same calls.

import { getDependencies } from "../api.js";
import { serviceColor, registerServices } from "../colors.js";
import { h, replace, s, uid } from "../dom.js";
import { pageUrl } from "../config.js";
import { errorBox } from "../errors.js";
import { formatNumber, plural } from "../format.js";
import { navigate } from "../router.js";
import { layoutDag } from "../ui/dag-layout.js";
import { createGraphCanvas, fitText } from "../ui/graph-canvas.js";

const LOOKBACKS = [
  ["1h", "Last hour", 3_600_000],
  ["6h", "Last 6 hours", 21_600_000],
  ["12h", "Last 12 hours", 43_200_000],
  ["1d", "Last day", 86_400_000],
  ["2d", "Last 2 days", 172_800_000],
  ["7d", "Last 7 days", 604_800_000],
];
const DEFAULT_LOOKBACK = "7d"; // what Jaeger UI asks for

function nodeWidth(name) {
  return Math.min(260, Math.max(130, name.length * 7.4 + 34));
}

export function mount(container, ctx) {
  let controller = new AbortController();
  let canvas = null;
  const selectId = uid("deps-lookback");
  let lookback = LOOKBACKS.some(([v]) => v === ctx.query.get("lookback")) ? ctx.query.get("lookback") : DEFAULT_LOOKBACK;
  const select = h("select", { id: selectId, onChange: () => { lookback = select.value; load(); } }, LOOKBACKS.map(([v, label]) => h("option", { value: v }, label)));
  select.value = lookback;
  const summary = h("p", { "aria-live": "polite" });
  const reload = h("button", { type: "button", class: "small", onClick: () => load() }, "Reload");
  const body = h("div", { class: "deps-body" });
  replace(
    container,
    h(
      "div",
      { class: "deps-page" },
      h(
        "header",
        { class: "deps-header" },
        h("div", null, h("h1", null, "System Architecture"), summary),
        h("div", { class: "deps-controls" }, h("a", { class: "button small", href: pageUrl("/deep-dependencies") }, "Deep Dependency Graph"), h("label", { class: "inline-label", for: selectId }, "Time range"), select, reload),
      ),
      body,
    ),
  );

  async function load() {
    controller.abort();
    controller = new AbortController();
    if (canvas) canvas.destroy();
    canvas = null;
    summary.textContent = "";
    replace(body, h("div", { class: "loading-row", role: "status" }, h("div", { class: "spinner" }), "Loading service dependencies…"));
    const ms = LOOKBACKS.find(([v]) => v === lookback)[2];
    let links;
    try {
      links = await getDependencies({ endTs: Date.now(), lookback: ms, signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(body, h("div", { class: "page-message" }, errorBox(err, { title: "Could not load the service dependencies", retry: load })));
      return;
    }
    draw(links);
  }

  function draw(links) {
    const services = new Set();
    const calls = new Map(); // "parent\0child" -> count
    for (const link of links) {
      services.add(link.parent);
      services.add(link.child);
      const key = `${link.parent}\u0000${link.child}`;
      calls.set(key, (calls.get(key) || 0) + Number(link.callCount || 0));
    }
    if (!services.size) {
      summary.textContent = "No calls between services in this time range.";
      replace(
        body,
        h("div", { class: "empty-state" }, h("h2", null, "No service dependencies"), h("p", null, "Dependencies appear when spans of one service are children of spans of another. Try a longer time range.")),
      );
      return;
    }
    registerServices(services);
    const names = [...services].sort();
    const stats = new Map(names.map((n) => [n, { in: 0, out: 0 }]));
    const edges = [];
    for (const [key, count] of calls) {
      const [parent, child] = key.split("\u0000");
      stats.get(parent).out += count;
      stats.get(child).in += count;
      edges.push({ from: parent, to: child, count });
    }
    summary.textContent = `${plural(names.length, "service")}, ${plural(edges.length, "dependency", "dependencies")}. Select a service to search its traces.`;
    const layout = layoutDag({ nodes: names.map((n) => ({ id: n, width: nodeWidth(n), height: 48 })), edges }, { direction: "LR", rankSep: 110, nodeSep: 28 });
    canvas = createGraphCanvas({
      layout,
      direction: "LR",
      ariaLabel: `Service dependency graph: ${plural(names.length, "service")}`,
      edgeLabel: (edge) => formatNumber(edge.data.count),
      nodeLabel: (id) => `${id}: ${formatNumber(stats.get(id).in)} calls in, ${formatNumber(stats.get(id).out)} calls out. Search its traces.`,
      drawNode: (id, box) =>
        s(
          "g",
          { class: "dep-node" },
          s("rect", { class: "node-box", width: box.width, height: box.height, rx: 8 }),
          s("rect", { class: "node-stripe", width: 6, height: box.height, rx: 3, style: { fill: serviceColor(id) } }),
          s("text", { class: "node-service", x: 16, y: 20 }, fitText(id, box.width - 24, 7.4)),
          s("text", { class: "node-stats", x: 16, y: 37 }, `${formatNumber(stats.get(id).in)} in · ${formatNumber(stats.get(id).out)} out`),
        ),
      onActivate: (id) => navigate(`/search?service=${encodeURIComponent(id)}`),
    });
    const rows = edges
      .sort((a, b) => b.count - a.count || a.from.localeCompare(b.from))
      .map((e) => h("tr", null, h("td", null, h("span", { class: "swatch", style: { "--swatch": serviceColor(e.from) } }), " ", e.from), h("td", null, h("span", { class: "swatch", style: { "--swatch": serviceColor(e.to) } }), " ", e.to), h("td", { class: "num" }, formatNumber(e.count))));
    const table = h(
      "table",
      { class: "data-table deps-table", "aria-label": "Calls between services" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Caller"), h("th", { scope: "col" }, "Callee"), h("th", { scope: "col", class: "num" }, "Calls"))),
      h("tbody", null, rows),
    );
    replace(body, canvas.element, h("div", { class: "deps-table-wrap" }, table));
  }

  load();
  return {
    unmount() {
      controller.abort();
      if (canvas) canvas.destroy();
    },
  };
}
