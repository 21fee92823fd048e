// The monitor page (``/monitor``): per-service latency, call rate and error rate from
// the metrics routes (Jaeger's SPM). Without a metrics store the server says so (HTTP 501,
// capability ``metricsStorage`` false) and this page explains it instead of showing
// empty charts.

import { getMetrics, getServices } from "../api.js";
import { config } from "../config.js";
import { h, replace } from "../dom.js";
import { ApiError, errorBox, messageBox } from "../errors.js";
import { formatNumber, formatPercent } from "../format.js";

function lastValue(family) {
  const metric = family && family.metrics && family.metrics[0];
  const points = (metric && metric.metricPoints) || [];
  for (let i = points.length - 1; i >= 0; i--) {
    const v = points[i].gaugeValue && points[i].gaugeValue.doubleValue;
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return NaN;
}

function disabled() {
  return messageBox({
    kind: "info",
    title: "Service performance monitoring is not enabled",
    message: "This server has no metrics store, so there are no latency, call-rate or error-rate figures to show. Traces, search and the dependency graph work without it.",
  });
}

export function mount(container) {
  const controller = new AbortController();
  const body = h("div", { class: "monitor-body" });
  replace(container, h("div", { class: "monitor-page" }, h("h1", null, "Monitor"), body));

  async function load() {
    if (!config.capabilities.metricsStorage) {
      replace(body, disabled());
      return;
    }
    replace(body, h("div", { class: "loading-row" }, h("div", { class: "spinner" }), "Loading metrics…"));
    try {
      const services = await getServices({ signal: controller.signal });
      const endTs = Date.now();
      const base = { endTs, lookback: 3_600_000, step: 60_000, ratePer: 600_000, spanKind: "server" };
      const rows = [];
      for (const service of services) {
        const [lat, calls, errs] = await Promise.all([
          getMetrics("latencies", { ...base, service, quantile: 0.95 }, { signal: controller.signal }),
          getMetrics("calls", { ...base, service }, { signal: controller.signal }),
          getMetrics("errors", { ...base, service }, { signal: controller.signal }),
        ]);
        rows.push(h("tr", null, h("td", null, service), h("td", { class: "num" }, `${formatNumber(Math.round(lastValue(lat)))} ms`), h("td", { class: "num" }, `${lastValue(calls).toFixed(2)}/s`), h("td", { class: "num" }, formatPercent(lastValue(errs)))));
      }
      replace(body, h("table", { class: "data-table card" }, h("thead", null, h("tr", null, ["Service", "P95 latency", "Request rate", "Error rate"].map((c, i) => h("th", { class: i ? "num" : "" }, c)))), h("tbody", null, rows)));
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err instanceof ApiError && err.status === 501) replace(body, disabled());
      else replace(body, errorBox(err, { title: "Could not load the metrics", retry: load }));
    }
  }
  load();
  return { unmount: () => controller.abort() };
}
