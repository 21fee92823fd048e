// The query API client. Only Jaeger's public routes are used (``/api/*`` and
// ``/api/v3/*``), so the UI works against any Jaeger-compatible query service. Where
// newer Jaeger servers dropped a classic route (services, operations and search moved to
// api_v3), the client falls back to the api_v3 route.
//
// Every failure becomes an ApiError (with the server's own message, read from Jaeger's
// error envelope or the api_v3 error object) or a NetworkError; callers show them.

import { apiUrl, config } from "./config.js";
import { ApiError, NetworkError } from "./errors.js";
import { sessionEnded } from "./session.js";

const DEFAULT_TIMEOUT_MS = 30_000;
const TRACE_TIMEOUT_MS = 180_000;
const ROUTE_MISSING = "404 page not found";

function messageFromBody(status, text) {
  const trimmed = (text || "").trim();
  if (trimmed.startsWith("{")) {
    try {
      const body = JSON.parse(trimmed);
      if (Array.isArray(body.errors) && body.errors.length) {
        const first = body.errors[0];
        const msg = first.msg || first.message || JSON.stringify(first);
        return first.code && first.code !== status ? `${first.code} - ${msg}` : msg;
      }
      if (body.error && typeof body.error === "object") return body.error.message || JSON.stringify(body.error);
      if (typeof body.message === "string") return body.message;
    } catch {
      // not JSON after all: fall through to the text
    }
  }
  if (/^\s*<(!doctype|html)/i.test(trimmed)) return "The server answered with an HTML page instead of the API's JSON.";
  if (!trimmed) return `HTTP ${status} with an empty body.`;
  return trimmed.length > 500 ? `${trimmed.slice(0, 500)}…` : trimmed;
}

function unreachable(url, cause) {
  const where = `${window.location.origin}${config.basePath || ""}`;
  return new NetworkError(
    `No answer from the Spyglass query service at ${where}. Check that the server is running and reachable, then try again.`,
    { url, cause },
  );
}

/**
 * Fetches ``path`` (``/api/...``) and returns the parsed JSON. ``signal`` cancels (the
 * caller left the page); ``timeoutMs`` turns a hung server into a NetworkError.
 */
export async function requestJson(path, { method = "GET", body = undefined, headers = {}, signal = undefined, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const url = apiUrl(path);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  if (signal) {
    if (signal.aborted) controller.abort();
    else signal.addEventListener("abort", onAbort, { once: true });
  }
  let response;
  let text;
  try {
    response = await fetch(url, { method, body, headers: { Accept: "application/json", ...headers }, signal: controller.signal });
    text = await response.text();
  } catch (err) {
    if (signal && signal.aborted) throw err;
    if (timedOut) {
      throw new NetworkError(`The query service did not answer within ${Math.round(timeoutMs / 1000)} seconds.`, { url });
    }
    throw unreachable(url, err);
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", onAbort);
  }
  if (response.status === 401) sessionEnded();
  if (!response.ok) {
    const err = new ApiError(messageFromBody(response.status, text), { status: response.status, url, body: text });
    err.routeMissing = response.status === 404 && text.trim() === ROUTE_MISSING;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(`The query service sent a response that is not valid JSON (${err.message}).`, { status: response.status, url, body: text });
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const v of value) q.append(key, v);
    else q.append(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

async function withV3Fallback(classic, v3) {
  try {
    return await classic();
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return v3();
    throw err;
  }
}

/** Service names, sorted. */
export async function getServices({ signal } = {}) {
  const names = await withV3Fallback(
    async () => (await requestJson("/api/services", { signal })).data || [],
    async () => (await requestJson("/api/v3/services", { signal })).services || [],
  );
  return [...names].sort((a, b) => a.localeCompare(b));
}

/**
 * How ``service`` is sampled now (``/api/sampling/summary``, Spyglass's query port):
 * ``{type: "file"|"adaptive"|"unknown", operations?, strategy?}``; null when the server has
 * no such route (another Jaeger-compatible query service).
 */
export async function getSamplingSummary(service, { signal } = {}) {
  try {
    return (await requestJson(`/api/sampling/summary${query({ service })}`, { signal })).data || null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** ``[{name, spanKind}]`` of a service, optionally for one span kind. */
export async function getOperations(service, spanKind = "", { signal } = {}) {
  const ops = await withV3Fallback(
    async () => (await requestJson(`/api/operations${query({ service, spanKind })}`, { signal })).data || [],
    async () => (await requestJson(`/api/v3/operations${query({ service, spanKind })}`, { signal })).operations || [],
  );
  return ops
    .map((op) => ({ name: String(op.name ?? ""), spanKind: String(op.spanKind ?? "") }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
}

function summaryFromV3(s) {
  const start = Number(BigInt(s.minStartTimeUnixNano || "0") / 1000n);
  const end = Number(BigInt(s.maxEndTimeUnixNano || "0") / 1000n);
  return {
    traceID: String(s.traceId || "").replace(/^0{16}/, ""),
    rootService: s.rootServiceName || "",
    rootOperation: s.rootOperationName || "",
    startTime: start,
    duration: Math.max(0, end - start),
    spanCount: s.spanCount || 0,
    errorCount: s.errorSpanCount || 0,
    orphanCount: s.orphanSpanCount || 0,
    services: (s.services || []).map((svc) => ({ name: svc.name, count: svc.spanCount || 0, errors: svc.errorSpanCount || 0 })),
    trace: null,
  };
}

/**
 * Searches traces. ``form``: {service, operation, tags (object of strings), start, end
 * (Unix µs), minDuration, maxDuration (Go durations), limit}. Returns ``{traces, summaries}``:
 * full UI traces from ``/api/traces``, or (against servers that only have api_v3 search)
 * ``traces`` null and summaries from ``/api/v3/trace-summaries``.
 */
export async function searchTraces(form, { signal } = {}) {
  const tags = form.tags && Object.keys(form.tags).length ? JSON.stringify(form.tags) : "";
  const classic = async () => {
    const params = {
      service: form.service,
      operation: form.operation,
      tags,
      start: form.start,
      end: form.end,
      minDuration: form.minDuration,
      maxDuration: form.maxDuration,
      limit: form.limit,
    };
    const body = await requestJson(`/api/traces${query(params)}`, { signal, timeoutMs: TRACE_TIMEOUT_MS });
    return { traces: body.data || [], summaries: null, errors: body.errors || [] };
  };
  const v3 = async () => {
    const iso = (us) => new Date(us / 1000).toISOString();
    const params = {
      "query.serviceName": form.service,
      "query.operationName": form.operation,
      "query.attributes": tags,
      "query.startTimeMin": iso(form.start),
      "query.startTimeMax": iso(form.end),
      "query.durationMin": form.minDuration,
      "query.durationMax": form.maxDuration,
      "query.searchDepth": form.limit,
    };
    try {
      const body = await requestJson(`/api/v3/trace-summaries${query(params)}`, { signal });
      return { traces: null, summaries: (body.summaries || []).map(summaryFromV3), errors: [] };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && !err.routeMissing) return { traces: null, summaries: [], errors: [] };
      throw err;
    }
  };
  return withV3Fallback(classic, v3);
}

/** The traces with these IDs: ``{traces, missing}`` (IDs the server did not find). */
export async function getTracesByIds(ids, { signal } = {}) {
  const body = await requestJson(`/api/traces${query({ traceID: ids })}`, { signal, timeoutMs: TRACE_TIMEOUT_MS });
  const missing = (body.errors || []).filter((e) => e.traceID).map((e) => e.traceID);
  return { traces: body.data || [], missing };
}

/** One trace in UI JSON. ``raw`` skips the server's adjusters. */
export async function getTrace(traceID, { raw = false, signal } = {}) {
  const body = await requestJson(`/api/traces/${encodeURIComponent(traceID)}${query({ raw: raw ? "true" : "" })}`, {
    signal,
    timeoutMs: TRACE_TIMEOUT_MS,
  });
  const trace = body.data && body.data[0];
  if (!trace) throw new ApiError(`The query service returned no trace for ID ${traceID}.`, { status: 404 });
  return trace;
}

/** Links to a trace's JSON as Jaeger UI shows them. */
export function traceJsonUrl(traceID, raw = false) {
  return apiUrl(`/api/traces/${encodeURIComponent(traceID)}?${raw ? "raw=true&" : ""}prettyPrint=true`);
}

/** ``[{parent, child, callCount}]`` for the window ending at ``endTs`` (ms). */
export async function getDependencies({ endTs, lookback, signal }) {
  const body = await requestJson(`/api/dependencies${query({ endTs, lookback })}`, { signal });
  return body.data || [];
}

/**
 * Paths through a focal service (Jaeger's DDG JSON), computed by the server from stored
 * traces in the window ending at ``endTs`` (ms).
 */
export async function getDeepDependencies({ service, operation, endTs, lookback, limit, signal }) {
  return requestJson(`/api/deep-dependencies${query({ service, operation, endTs, lookback, limit })}`, { signal, timeoutMs: TRACE_TIMEOUT_MS });
}

/** OTLP JSON text -> UI traces, converted by the server (``POST /api/transform``). */
export async function transformOtlp(text, { signal } = {}) {
  const body = await requestJson("/api/transform", {
    method: "POST",
    body: text,
    headers: { "Content-Type": "application/json" },
    signal,
    timeoutMs: TRACE_TIMEOUT_MS,
  });
  return body.data || [];
}

/** Copies a trace to the archive store. */
export async function archiveTrace(traceID) {
  await requestJson(`/api/archive/${encodeURIComponent(traceID)}`, { method: "POST" });
}

/** A metrics family (SPM) for the monitor page: kind is latencies, calls or errors. */
export async function getMetrics(kind, params, { signal } = {}) {
  return requestJson(`/api/metrics/${kind}${query(params)}`, { signal });
}
