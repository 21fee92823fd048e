// How the selected service is sampled now, under the search form's service field:
// static (the strategies file: probabilistic or rate limiting, per-operation overrides) or
// adaptive (Jaeger's adaptive sampling: the current probability of each operation).

import { h } from "../dom.js";

function percent(p) {
  const v = Number(p) * 100;
  return `${v >= 10 || v === 0 ? v.toFixed(0) : v.toPrecision(2)}%`;
}

function staticText(strategy) {
  if (!strategy) return "static";
  if (strategy.rateLimitingSampling) return `static: at most ${strategy.rateLimitingSampling.maxTracesPerSecond} traces/s`;
  const rate = strategy.probabilisticSampling ? strategy.probabilisticSampling.samplingRate : strategy.operationSampling?.defaultSamplingProbability;
  return `static: probabilistic ${percent(rate ?? 0)}`;
}

/** Nodes describing ``summary`` (from ``getSamplingSummary``); empty when unknown. */
export function describeSampling(summary) {
  if (!summary || summary.type === "unknown") return [];
  if (summary.type !== "adaptive") return [h("span", { class: "sampling-mode" }, `Sampling: ${staticText(summary.strategy)}`)];
  const ops = Object.entries(summary.operations || {});
  const head = h("span", { class: "sampling-mode" }, `Sampling: adaptive${summary.targetSamplesPerSecond ? ` (target ${summary.targetSamplesPerSecond}/s per operation)` : ""}`);
  if (!ops.length) return [head, h("span", null, " · no operation measured yet")];
  return [
    head,
    h("ul", { class: "sampling-ops", "aria-label": "Current sampling probability per operation" },
      ops.map(([op, p]) => h("li", null, h("span", { class: "ellipsis" }, op), " ", h("span", { class: "mono" }, percent(p))))),
  ];
}
