// The query page (``/query``): a query-language box with highlighting and completion of
// attribute names and values seen in the chosen time range (Tempo's tag routes under
// ``/api/tempo``), trace searches shown as the usual result list, metrics queries as a
// line chart with a legend and a table. The URL holds q, lookback and limit.

import { getTracesByIds, requestJson } from "../api.js";
import { debounce, h, replace } from "../dom.js";
import { errorBox } from "../errors.js";
import { LOOKBACKS, lookbackMs } from "../lookback.js";
import { lineChart } from "../monitor/chart.js";
import { navigate } from "../router.js";
import { renderResults } from "../search/results.js";
import { summarizeTrace } from "../trace/summary.js";
import { completionContext, INTRINSICS, METRICS_RE, SCOPES, tokenize } from "./syntax.js";

const EXAMPLES = ["{ status = error }", '{ span.http.status_code >= 500 } >> { name = "db.query" }', "{ } | rate() by (resource.service.name)"];
const STATUS = ["ok", "error", "unset"];
const KINDS = ["server", "client", "producer", "consumer", "internal", "unspecified"];
const LIMIT = 20;

function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) q.set(k, String(v));
  return `?${q}`;
}

function windowSeconds(lookback) {
  const ms = lookbackMs(lookback) ?? 3_600_000;
  const end = Math.ceil(Date.now() / 1000);
  return { start: end - Math.round(ms / 1000), end };
}

function highlight(pre, text) {
  replace(pre, ...tokenize(text).map((t) => (t.type === "ws" || t.type === "other" ? t.text : h("span", { class: `tql-${t.type}` }, t.text))), "\n");
}

function ensureChartStyles() {
  // the line chart is the Monitor tab's; its stylesheet is loaded on first use, once
  if (document.getElementById("monitor-css")) return;
  document.head.append(h("link", { id: "monitor-css", rel: "stylesheet", href: new URL("../../css/monitor.css", import.meta.url).href }));
}

function stepFor(seconds) {
  return Math.max(1, Math.round(seconds / 60));
}

export function mount(container, ctx) {
  ensureChartStyles();
  const input = h("textarea", { class: "tql-input", id: "tql-input", rows: 3, spellcheck: "false", autocomplete: "off", "aria-label": "Query", "aria-autocomplete": "list", "aria-controls": "tql-suggest" });
  const pre = h("pre", { class: "tql-highlight", "aria-hidden": "true" });
  const suggest = h("ul", { class: "tql-suggest", id: "tql-suggest", role: "listbox", hidden: true });
  const lookback = h("select", { id: "tql-lookback", "aria-label": "Time range" }, LOOKBACKS.filter((l) => l.value !== "custom").map((l) => h("option", { value: l.value }, l.label)));
  const limit = h("input", { id: "tql-limit", type: "number", min: 1, max: 1000, value: LIMIT, "aria-label": "Limit" });
  const run = h("button", { type: "submit", class: "primary", id: "tql-run" }, "Run query");
  const examples = h("p", { class: "faint tql-examples" }, "Examples: ", EXAMPLES.map((e) => h("button", { type: "button", class: "link-button", onClick: () => { setText(e); submit(); } }, e)));
  const form = h("form", { class: "tql-form card", onSubmit: (e) => { e.preventDefault(); submit(); } },
    h("label", { for: "tql-input", class: "tql-label" }, "Query (TraceQL)"),
    h("div", { class: "tql-editor" }, pre, input, suggest),
    h("div", { class: "tql-controls" }, lookback, h("label", { for: "tql-limit" }, "Limit"), limit, run),
    examples);
  const results = h("section", { class: "tql-results", "aria-label": "Query results", "aria-live": "polite" });
  replace(container, h("div", { class: "query-page" }, form, results));

  let controller = null;
  let view = { destroy() {} };
  let items = [];
  let active = -1;
  let suggestToken = 0;
  let shownFor = null; // the text the open list was computed for: a stale list (typing outran the debounce) is not picked from
  const tagCache = new Map();

  function setText(text) {
    input.value = text;
    highlight(pre, text);
  }

  function fill(query) {
    setText(query.get("q") || "");
    lookback.value = query.get("lookback") || "1h";
    limit.value = query.get("limit") || LIMIT;
  }

  function submit() {
    navigate(`/query${qs({ q: input.value.trim(), lookback: lookback.value, limit: limit.value })}`);
  }

  async function cached(path) {
    if (!tagCache.has(path)) tagCache.set(path, requestJson(path).catch((err) => { tagCache.delete(path); throw err; }));
    return tagCache.get(path);
  }

  async function candidates(c) {
    const w = windowSeconds(lookback.value);
    if (c.kind === "field") {
      const body = await cached(`/api/tempo/v2/search/tags${qs(w)}`);
      const names = [...INTRINSICS];
      for (const scope of body.scopes || []) {
        if (SCOPES.includes(scope.name)) for (const t of scope.tags) names.push(`${scope.name}.${t}`);
      }
      return names;
    }
    if (c.field === "status") return STATUS;
    if (c.field === "kind") return KINDS;
    const body = await cached(`/api/tempo/v2/search/tag/${encodeURIComponent(c.field)}/values${qs(w)}`);
    return (body.tagValues || []).map((v) => (v.type === "string" ? `"${v.value}"` : v.value));
  }

  function closeSuggest() {
    suggest.hidden = true;
    replace(suggest);
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
  }

  function pick(i) {
    const item = items[i];
    if (!item) return;
    const text = input.value;
    const after = text.slice(input.selectionStart).replace(/^[^\s}&|)"]*"?/, "");
    const head = text.slice(0, item.from) + item.text;
    setText(head + after);
    input.setSelectionRange(head.length, head.length);
    closeSuggest();
    input.focus();
  }

  function showActive() {
    [...suggest.children].forEach((li, i) => {
      li.classList.toggle("active", i === active);
      li.setAttribute("aria-selected", String(i === active));
    });
  }

  const refresh = debounce(async () => {
    const token = ++suggestToken;
    const c = completionContext(input.value, input.selectionStart);
    if (c.kind === "none") return closeSuggest();
    let found;
    try {
      found = await candidates(c);
    } catch {
      return closeSuggest();
    }
    if (token !== suggestToken) return;
    // inside an open quote the value completes without its opening quote and closes it
    const quoted = c.kind === "value" && input.value[c.from - 1] === '"';
    const options = found.filter((x) => {
      const bare = x.replace(/^"|"$/g, "");
      return (quoted ? bare : x).startsWith(c.prefix) && (quoted ? bare : x) !== c.prefix;
    }).slice(0, 50);
    if (!options.length) return closeSuggest();
    items = options.map((x) => {
      const bare = x.replace(/^"|"$/g, "");
      return { label: bare, text: quoted ? `${bare}"` : x, from: c.from };
    });
    active = 0;
    shownFor = input.value;
    replace(suggest, ...items.map((it, i) => h("li", { role: "option", class: "tql-option", onMousedown: (e) => { e.preventDefault(); pick(i); } }, it.label)));
    suggest.hidden = false;
    input.setAttribute("aria-expanded", "true");
    showActive();
  }, 120);

  input.addEventListener("input", () => {
    highlight(pre, input.value);
    refresh();
  });
  input.addEventListener("scroll", () => { pre.scrollTop = input.scrollTop; });
  input.addEventListener("blur", () => setTimeout(closeSuggest, 100));
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
      return;
    }
    if (suggest.hidden || shownFor !== input.value) {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        submit();
      }
      return;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
      showActive();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      pick(active);
    } else if (e.key === "Escape") {
      closeSuggest();
    }
  });

  function show(...children) {
    view.destroy();
    view = { destroy() {} };
    replace(results, ...children);
  }

  function failed(err) {
    if (err.status === 400) {
      return h("div", { class: "tql-error card", role: "alert" }, h("h2", null, "The query is not valid"), h("pre", { class: "tql-error-text" }, err.message));
    }
    return errorBox(err, { retry: () => execute(new URLSearchParams(window.location.search)) });
  }

  async function execute(query) {
    const q = (query.get("q") || "").trim();
    if (controller) controller.abort();
    if (!q) {
      show(h("div", { class: "empty-state" }, h("h2", null, "Query traces"), h("p", null, "Type a query such as { status = error } and press Enter. Metrics queries end with | rate(), | count_over_time() or | quantile_over_time(duration, .99).")));
      return;
    }
    controller = new AbortController();
    const { signal } = controller;
    const w = windowSeconds(query.get("lookback") || "1h");
    show(h("div", { class: "loading-row", role: "status" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("span", null, "Running query…")));
    try {
      if (METRICS_RE.test(q)) {
        const step = stepFor(w.end - w.start);
        const body = await requestJson(`/api/tempo/metrics/query_range${qs({ q, ...w, step: `${step}s` })}`, { signal });
        showMetrics(body.series || []);
        return;
      }
      const began = performance.now();
      const found = await requestJson(`/api/tempo/search${qs({ q, ...w, limit: query.get("limit") || LIMIT })}`, { signal });
      const ids = (found.traces || []).map((t) => t.traceID);
      const { traces } = ids.length ? await getTracesByIds(ids, { signal }) : { traces: [] };
      const order = new Map(ids.map((id, i) => [id.padStart(32, "0"), i]));
      traces.sort((a, b) => (order.get(a.traceID.padStart(32, "0")) ?? 0) - (order.get(b.traceID.padStart(32, "0")) ?? 0));
      const notices = traces.length ? [] : [h("div", { class: "empty-state" }, h("h2", null, "No traces found"), h("p", null, "Try a longer time range or a broader query."))];
      view.destroy();
      view = renderResults(results, {
        summaries: traces.map(summarizeTrace),
        onOpen: (id) => navigate(`/trace/${id}`),
        onCompare: (a, b) => navigate(`/trace/${a}...${b}`),
        onSearchNode: () => {},
        view: "list",
        notices,
        elapsedMs: performance.now() - began,
        downloadName: "spyglass-query-traces",
      });
    } catch (err) {
      if (err.name === "AbortError") return;
      show(failed(err));
    }
  }

  function seriesName(s) {
    const labels = (s.labels || []).filter((l) => l.key !== "__name__");
    if (!labels.length) return "all spans";
    return labels.map((l) => `${l.key}=${Object.values(l.value)[0]}`).join(", ");
  }

  function showMetrics(series) {
    const named = series.map((s) => ({ name: seriesName(s), points: s.samples.map((p) => ({ t: Number(p.timestampMs), v: p.value })) }));
    const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
    const chart = lineChart({ title: `${named.length} series`, series: named, format: fmt });
    chart.classList.add("tql-chart");
    const rows = named.map((s) => {
      const values = s.points.map((p) => p.v);
      const last = values.length ? values[values.length - 1] : NaN;
      const avg = values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
      const max = values.length ? Math.max(...values) : NaN;
      return h("tr", null, h("th", { scope: "row" }, s.name), h("td", null, Number.isFinite(last) ? fmt(last) : "–"),
        h("td", null, Number.isFinite(avg) ? fmt(avg) : "–"), h("td", null, Number.isFinite(max) ? fmt(max) : "–"));
    });
    const table = h("table", { class: "tql-table" }, h("thead", null, h("tr", null, h("th", { scope: "col" }, "Series"), h("th", { scope: "col" }, "Last"), h("th", { scope: "col" }, "Average"), h("th", { scope: "col" }, "Max"))), h("tbody", null, rows));
    show(named.length ? h("div", { class: "tql-metrics" }, chart, table) : h("div", { class: "empty-state" }, h("h2", null, "No data"), h("p", null, "No span in this time range matched the query.")));
  }

  fill(ctx.query);
  execute(ctx.query);
  return {
    update(next) {
      fill(next.query);
      execute(next.query);
      return true;
    },
    unmount() {
      if (controller) controller.abort();
      view.destroy();
    },
  };
}
