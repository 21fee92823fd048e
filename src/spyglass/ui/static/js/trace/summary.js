// A search result's summary of a full UI trace: root service and operation, start,
// duration, span and error counts, spans per service. Cheaper than the full model; the
// api_v3 trace-summaries route returns the same shape (api.js).

import { isErrorTags, parentReference } from "./model.js";

function normId(id) {
  return String(id || "").toLowerCase().replace(/^0+/, "");
}

/** The SDK's sampling decision recorded on the root span (``sampler.type``/``sampler.param``), or null. */
export function samplingDecision(span) {
  let type = null;
  let param = null;
  for (const tag of span.tags || []) {
    if (tag.key === "sampler.type") type = String(tag.value);
    else if (tag.key === "sampler.param") param = tag.value;
  }
  return type ? { type, param } : null;
}

export function summarizeTrace(trace) {
  const spans = trace.spans || [];
  const processes = trace.processes || {};
  const traceID = String(trace.traceID || (spans[0] && spans[0].traceID) || "");
  const traceKey = normId(traceID);
  const ids = new Set(spans.map((s) => normId(s.spanID)));
  const services = new Map();
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  let orphans = 0;
  let root = null;
  for (const span of spans) {
    const proc = span.process || processes[span.processID] || {};
    const name = proc.serviceName || "unknown service";
    let svc = services.get(name);
    if (!svc) services.set(name, (svc = { name, count: 0, errors: 0 }));
    svc.count += 1;
    const isError = isErrorTags(span.tags || []);
    if (isError) {
      svc.errors += 1;
      errors += 1;
    }
    start = Math.min(start, span.startTime);
    end = Math.max(end, span.startTime + span.duration);
    const ref = parentReference(span, traceKey);
    const hasParent = ref && ids.has(normId(ref.spanID));
    if (ref && !hasParent) orphans += 1;
    if (!hasParent && !ref && (!root || span.startTime < root.span.startTime)) root = { span, service: name };
  }
  if (!root && spans.length) {
    const first = spans.reduce((a, b) => (b.startTime < a.startTime ? b : a));
    const proc = first.process || processes[first.processID] || {};
    root = { span: first, service: proc.serviceName || "unknown service" };
  }
  return {
    traceID,
    sampling: root ? samplingDecision(root.span) : null,
    rootService: root ? root.service : "",
    rootOperation: root ? root.span.operationName : "",
    startTime: Number.isFinite(start) ? start : 0,
    duration: Number.isFinite(end - start) ? end - start : 0,
    spanCount: spans.length,
    errorCount: errors,
    orphanCount: orphans,
    services: [...services.values()].sort((a, b) => a.name.localeCompare(b.name)),
    trace,
  };
}
