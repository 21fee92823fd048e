// Traces opened from JSON files. They live in this page session only (like Jaeger UI's),
// and the trace and compare pages look here before asking the server.

const traces = new Map();

export function addLocalTraces(list) {
  for (const trace of list) traces.set(String(trace.traceID).toLowerCase(), trace);
}

export function getLocalTrace(traceID) {
  return traces.get(String(traceID || "").toLowerCase()) || null;
}

export function localTraces() {
  return [...traces.values()];
}

export function clearLocalTraces() {
  traces.clear();
}
