// Backlinks: spans of other stored traces whose links (OTLP links, Jaeger FOLLOWS_FROM
// references) point into this trace. Nothing indexes links by their target, so they are
// found by searching, and the search is bounded so it costs a known, small amount:
//
// * only when asked (the "Linked from" button), never on page load: a trace page must
//   stay as fast as before, and a search over every service is not free;
// * through the public search API (``/api/traces``), so it works against any
//   Jaeger-compatible query service;
// * at most MAX_SERVICES services (every service the server knows, in name order),
//   PER_SERVICE traces each, REQUESTS_AT_ONCE requests at a time;
// * in a window from WINDOW_BEFORE_MS before this trace starts to WINDOW_AFTER_MS after
//   it ends: a link usually points back in time (a consumer or batch job linking to the
//   work that caused it), so most of the window lies after the trace.
//
// What is not found: linking traces outside the window, beyond the per-service limit, or
// in services past the first MAX_SERVICES. The result says how much was searched.

import { getServices, searchTraces } from "../api.js";

export const MAX_SERVICES = 40;
export const PER_SERVICE = 20;
export const REQUESTS_AT_ONCE = 3;
export const WINDOW_BEFORE_MS = 5 * 60_000;
export const WINDOW_AFTER_MS = 60 * 60_000;

function normId(id) {
  return String(id || "").toLowerCase().replace(/^0+/, "");
}

/**
 * ``{ links: [{ traceID, spanID, serviceName, operationName, targetSpanID }], services,
 *     totalServices, traces, summariesOnly }`` for the trace of ``model``.
 */
export async function findBacklinks(model, { signal } = {}) {
  const all = await getServices({ signal });
  const services = all.slice(0, MAX_SERVICES);
  const target = normId(model.traceID);
  const start = model.startTime - WINDOW_BEFORE_MS * 1000;
  const end = model.startTime + model.duration + WINDOW_AFTER_MS * 1000;
  const seenTraces = new Set();
  const found = new Map();
  let summariesOnly = false;
  let next = 0;

  async function worker() {
    while (next < services.length) {
      const service = services[next++];
      const result = await searchTraces({ service, start, end, limit: PER_SERVICE, tags: {} }, { signal });
      if (!result.traces) {
        summariesOnly = true;
        continue;
      }
      for (const trace of result.traces) {
        const id = normId(trace.traceID);
        if (id === target || seenTraces.has(id)) continue;
        seenTraces.add(id);
        const processes = trace.processes || {};
        for (const span of trace.spans || []) {
          for (const ref of span.references || []) {
            if (normId(ref.traceID) !== target) continue;
            const key = `${id}:${normId(span.spanID)}:${normId(ref.spanID)}`;
            if (found.has(key)) continue;
            const proc = span.process || processes[span.processID] || {};
            found.set(key, {
              traceID: String(trace.traceID),
              spanID: String(span.spanID),
              serviceName: proc.serviceName || "unknown service",
              operationName: span.operationName || "",
              targetSpanID: String(ref.spanID),
              refType: ref.refType || "FOLLOWS_FROM",
            });
          }
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(REQUESTS_AT_ONCE, services.length) }, worker));
  return { links: [...found.values()], services: services.length, totalServices: all.length, traces: seenTraces.size, summariesOnly };
}

/** The backlinks grouped by the span they point at (normalised span ID -> links). */
export function backlinksBySpan(links) {
  const m = new Map();
  for (const link of links) {
    const key = normId(link.targetSpanID);
    if (!m.has(key)) m.set(key, []);
    m.get(key).push(link);
  }
  return m;
}

export { normId };
