// The monitor page (``/monitor``): service performance monitoring (Jaeger's SPM) from the
// metrics routes, which Spyglass computes from the spans it stores (RED rollups).
//
// Without ``?service=`` it shows every service with its request rate, error rate and p95
// latency, each with a sparkline; with ``?service=S`` the latency (p50/p75/p95), request
// rate and error rate charts of S, and a table of its operations (``&operation=O`` charts
// one operation). Clicking a chart point opens the search for the traces of that point's
// window (the failed ones from the error chart, the slow ones from the latency chart).
// Without a metrics store the server answers 501 (capability ``metricsStorage`` false) and
// the page explains that instead of drawing empty charts.

import { getMetrics, getServices } from "../api.js";
import { config } from "../config.js";
import { h, replace } from "../dom.js";
import { ApiError, errorBox, messageBox } from "../errors.js";
import { formatPercent } from "../format.js";
import { navigate, setQuery } from "../router.js";
import { lineChart, pointsOf, sparkline } from "./chart.js";

const LOOKBACKS = [
  ["15m", 15 * 60_000],
  ["1h", 3_600_000],
  ["6h", 6 * 3_600_000],
  ["24h", 24 * 3_600_000],
  ["7d", 7 * 24 * 3_600_000],
];
const KINDS = ["server", "client", "producer", "consumer", "internal"];
const QUANTILES = [
  [0.5, "p50"],
  [0.75, "p75"],
  [0.95, "p95"],
];

function ensureStyles() {
  if (document.getElementById("monitor-css")) return;
  const link = h("link", { id: "monitor-css", rel: "stylesheet", href: new URL("../../css/monitor.css", import.meta.url).href });
  document.head.append(link);
}

export function formatRate(v) {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0/s";
  if (v >= 100) return `${Math.round(v)}/s`;
  if (v >= 0.01) return `${v.toFixed(2)}/s`;
  return `${(v * 60).toFixed(2)}/min`;
}

export function formatMs(v) {
  if (!Number.isFinite(v)) return "–";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 10) return `${Math.round(v)} ms`;
  return `${v.toFixed(2)} ms`;
}

function last(points) {
  return points.length ? points[points.length - 1].v : NaN;
}

function labelOf(metric, name) {
  const found = (metric.labels || []).find((l) => l.name === name);
  return found ? found.value : "";
}

function byLabel(family, name) {
  const out = new Map();
  for (const metric of (family && family.metrics) || []) out.set(labelOf(metric, name), pointsOf(metric));
  return out;
}

function disabled() {
  return messageBox({
    kind: "info",
    title: "Service performance monitoring is not enabled",
    message: "This server has no metrics store, so there are no latency, call-rate or error-rate figures to show. Traces, search and the dependency graph work without it.",
  });
}

/** Query state from the URL: service, operation, lookback (label), span kind. */
function stateOf(query) {
  const lookback = LOOKBACKS.find(([label]) => label === query.get("lookback")) ? query.get("lookback") : "1h";
  const kind = KINDS.includes(query.get("spanKind")) ? query.get("spanKind") : "server";
  return { service: query.get("service") || "", operation: query.get("operation") || "", lookback, kind };
}

function searchUrl(state, point, stepMs, extra = {}) {
  const q = new URLSearchParams({ service: state.service });
  if (state.operation) q.set("operation", state.operation);
  q.set("start", String((point.t - stepMs) * 1000));
  q.set("end", String(point.t * 1000));
  q.set("lookback", "custom");
  q.set("limit", "20");
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return `/search?${q}`;
}

export function mount(container, ctx) {
  ensureStyles();
  let controller = new AbortController();
  let state = stateOf(ctx ? ctx.query : new URLSearchParams(window.location.search));
  const controls = h("div", { class: "monitor-controls" });
  const body = h("div", { class: "monitor-body" });
  replace(container, h("div", { class: "monitor-page" }, h("h1", null, "Monitor"), controls, body));

  function go(next, push = true) {
    state = { ...state, ...next };
    const q = new URLSearchParams();
    if (state.service) q.set("service", state.service);
    if (state.operation) q.set("operation", state.operation);
    if (state.lookback !== "1h") q.set("lookback", state.lookback);
    if (state.kind !== "server") q.set("spanKind", state.kind);
    setQuery(q, { replace: !push });
    load();
  }

  function select(label, value, options, onChange) {
    return h("label", null, label, h("select", { onChange: (e) => onChange(e.target.value) },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
  }

  function drawControls(services) {
    replace(controls,
      select("Service", state.service, [["", "All services"], ...services.map((x) => [x, x])], (v) => go({ service: v, operation: "" })),
      select("Span kind", state.kind, KINDS.map((k) => [k, k]), (v) => go({ kind: v })),
      select("Last", state.lookback, LOOKBACKS.map(([l]) => [l, l]), (v) => go({ lookback: v })),
      h("button", { class: "button", type: "button", onClick: () => load() }, "Refresh"));
  }

  function params() {
    const lookback = LOOKBACKS.find(([l]) => l === state.lookback)[1];
    // about 60 points, whole minutes; each point sums its own step (no overlap), so a
    // point's traces are exactly those of its window.
    const step = Math.max(60_000, Math.round(lookback / 60 / 60_000) * 60_000);
    return { endTs: Date.now(), lookback, step, ratePer: step, spanKind: state.kind };
  }

  async function overview(services, signal) {
    if (services.length === 0) {
      return messageBox({ kind: "info", title: "No services yet", message: "Send some spans; their services appear here." });
    }
    const base = { ...params(), service: services };
    const [lat, calls, errs] = await Promise.all([
      getMetrics("latencies", { ...base, quantile: 0.95 }, { signal }),
      getMetrics("calls", base, { signal }),
      getMetrics("errors", base, { signal }),
    ]);
    const L = byLabel(lat, "service_name");
    const C = byLabel(calls, "service_name");
    const E = byLabel(errs, "service_name");
    const rows = services.map((svc) => {
      const c = C.get(svc) || [];
      const e = E.get(svc) || [];
      const l = L.get(svc) || [];
      return h("tr", { class: "monitor-row", dataset: { service: svc } },
        h("td", null, h("a", { href: `${config.basePath}/monitor?service=${encodeURIComponent(svc)}`, onClick: (ev) => { ev.preventDefault(); go({ service: svc, operation: "" }); } }, svc)),
        h("td", { class: "num" }, h("span", { class: "value" }, formatRate(last(c))), sparkline(c, { label: `request rate of ${svc}` })),
        h("td", { class: "num" }, h("span", { class: "value" }, formatPercent(last(e))), sparkline(e, { color: "#c62828", label: `error rate of ${svc}` })),
        h("td", { class: "num" }, h("span", { class: "value" }, formatMs(last(l))), sparkline(l, { color: "#d9822b", label: `p95 latency of ${svc}` })));
    });
    return h("table", { class: "data-table card monitor-services" },
      h("thead", null, h("tr", null, ["Service", "Request rate", "Error rate", "P95 latency"].map((c, i) => h("th", { class: i ? "num" : "" }, c)))),
      h("tbody", null, rows));
  }

  async function detail(signal) {
    const p = params();
    const base = { ...p, service: state.service };
    const grouped = { ...base, groupByOperation: true };
    const [lats, calls, errs, opLat, opCalls, opErrs] = await Promise.all([
      Promise.all(QUANTILES.map(([q]) => getMetrics("latencies", { ...(state.operation ? grouped : base), quantile: q }, { signal }))),
      getMetrics("calls", state.operation ? grouped : base, { signal }),
      getMetrics("errors", state.operation ? grouped : base, { signal }),
      getMetrics("latencies", { ...grouped, quantile: 0.95 }, { signal }),
      getMetrics("calls", grouped, { signal }),
      getMetrics("errors", grouped, { signal }),
    ]);
    const pick = (family) => {
      if (!state.operation) return pointsOf(family.metrics && family.metrics[0]);
      return byLabel(family, "operation").get(state.operation) || [];
    };
    const open = (extra) => (point) => navigate(searchUrl(state, point, p.step, extra));
    const charts = h("div", { class: "monitor-charts" },
      lineChart({
        title: "Latency",
        series: QUANTILES.map(([, name], i) => ({ name, points: pick(lats[i]) })),
        format: formatMs,
        onPoint: (point) => open({ minDuration: `${Math.max(1, Math.floor(point.v))}ms` })(point),
      }),
      lineChart({ title: "Request rate", series: [{ name: "calls", points: pick(calls) }], format: formatRate, onPoint: open({}) }),
      lineChart({ title: "Error rate", series: [{ name: "errors", points: pick(errs) }], format: (v) => formatPercent(v), onPoint: open({ tags: JSON.stringify({ error: "true" }) }) }));
    const L = byLabel(opLat, "operation");
    const C = byLabel(opCalls, "operation");
    const E = byLabel(opErrs, "operation");
    const ops = [...new Set([...C.keys(), ...L.keys()])];
    // Impact: share of the service's total time (rate x latency), as Jaeger's table sorts by.
    const impact = new Map(ops.map((op) => [op, (last(C.get(op) || []) || 0) * (last(L.get(op) || []) || 0)]));
    const maxImpact = Math.max(...impact.values(), 1e-12);
    ops.sort((a, b) => impact.get(b) - impact.get(a) || a.localeCompare(b));
    const rows = ops.map((op) => h("tr", { class: `monitor-row${op === state.operation ? " selected" : ""}`, dataset: { operation: op } },
      h("td", null, h("a", { href: "#", onClick: (ev) => { ev.preventDefault(); go({ operation: op === state.operation ? "" : op }); } }, op)),
      h("td", { class: "num" }, h("span", { class: "value" }, formatMs(last(L.get(op) || []))), sparkline(L.get(op) || [], { color: "#d9822b" })),
      h("td", { class: "num" }, h("span", { class: "value" }, formatRate(last(C.get(op) || []))), sparkline(C.get(op) || [])),
      h("td", { class: "num" }, h("span", { class: "value" }, formatPercent(last(E.get(op) || []))), sparkline(E.get(op) || [], { color: "#c62828" })),
      h("td", { class: "num" }, h("meter", { min: 0, max: 1, value: impact.get(op) / maxImpact }))));
    return h("div", { class: "monitor-detail" },
      h("div", { class: "monitor-crumbs" },
        h("a", { href: `${config.basePath}/monitor`, onClick: (ev) => { ev.preventDefault(); go({ service: "", operation: "" }); } }, "All services"),
        " / ", h("strong", null, state.service), state.operation ? [" / ", h("strong", null, state.operation)] : []),
      charts,
      h("table", { class: "data-table card monitor-operations" },
        h("thead", null, h("tr", null, ["Operation", "P95 latency", "Request rate", "Error rate", "Impact"].map((c, i) => h("th", { class: i ? "num" : "" }, c)))),
        h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: 5 }, "No operations with calls in this range.")))));
  }

  async function load() {
    controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    if (!config.capabilities.metricsStorage) {
      replace(controls);
      replace(body, disabled());
      return;
    }
    replace(body, h("div", { class: "loading-row" }, h("div", { class: "spinner" }), "Loading metrics…"));
    try {
      const services = await getServices({ signal });
      drawControls(services);
      const view = state.service ? await detail(signal) : await overview(services, signal);
      if (!signal.aborted) replace(body, view);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err instanceof ApiError && err.status === 501) replace(body, disabled());
      else replace(body, errorBox(err, { title: "Could not load the metrics", retry: load }));
    }
  }
  load();
  return {
    unmount: () => controller.abort(),
    update: (next) => {
      state = stateOf(next.query);
      load();
      return true;
    },
  };
}
