// Opening trace files: Jaeger UI JSON (``{"data": [trace...]}``, one trace, or a list of
// traces, as Jaeger UI and Spyglass download them) is used as is; OTLP JSON
// (``{"resourceSpans": ...}``, a list of those, one per line, or an api_v3 ``{"result":
// ...}``) is converted by the server through ``POST /api/transform``. Every problem names
// the file and says what is wrong with it.

import { transformOtlp } from "./api.js";
import { ApiError, InputError, NetworkError } from "./errors.js";

const MAX_FILE_BYTES = 512 * 1024 * 1024;

function parseDocuments(name, text) {
  const trimmed = text.trim();
  if (!trimmed) throw new InputError(`${name} is empty.`);
  try {
    return [JSON.parse(trimmed)];
  } catch (whole) {
    // OTLP exporters write one JSON document per line; accept that too.
    const lines = trimmed.split(/\r?\n/).filter((l) => l.trim());
    if (lines.length > 1) {
      try {
        return lines.map((l) => JSON.parse(l));
      } catch {
        // report the error of the whole file below
      }
    }
    throw new InputError(`${name} is not valid JSON: ${whole.message}`, { detail: "Open a trace file downloaded from Spyglass or Jaeger UI, or an OTLP JSON export." });
  }
}

function checkTrace(trace, where) {
  if (!trace || typeof trace !== "object" || !Array.isArray(trace.spans)) {
    throw new InputError(`${where} is not a trace: it has no "spans" list.`);
  }
  if (!trace.spans.length) throw new InputError(`${where} has no spans.`);
  trace.spans.forEach((span, i) => {
    const at = `${where}, span ${i + 1}`;
    if (!span || typeof span !== "object") throw new InputError(`${at} is not an object.`);
    for (const key of ["traceID", "spanID"]) {
      if (typeof span[key] !== "string" || !span[key]) throw new InputError(`${at} has no "${key}" string.`);
    }
    for (const key of ["startTime", "duration"]) {
      if (typeof span[key] !== "number" || !Number.isFinite(span[key])) throw new InputError(`${at} has no numeric "${key}".`);
    }
    if (!span.process && !(trace.processes && trace.processes[span.processID])) {
      throw new InputError(`${at} refers to process "${span.processID}", which the trace does not list.`);
    }
  });
  if (!trace.traceID) trace.traceID = trace.spans[0].traceID;
  return trace;
}

function classify(doc, name) {
  if (Array.isArray(doc)) return doc.flatMap((item, i) => classify(item, `${name} item ${i + 1}`));
  if (!doc || typeof doc !== "object") throw new InputError(`${name} holds ${doc === null ? "null" : typeof doc}, not traces.`);
  if (Array.isArray(doc.resourceSpans)) return [{ otlp: doc, where: name }];
  if (doc.result && Array.isArray(doc.result.resourceSpans)) return [{ otlp: doc.result, where: name }];
  if (Array.isArray(doc.data)) return doc.data.map((t, i) => ({ trace: t, where: `${name} trace ${i + 1}` }));
  if (Array.isArray(doc.spans)) return [{ trace: doc, where: name }];
  throw new InputError(`${name} is neither Jaeger trace JSON nor OTLP JSON.`, {
    detail: 'Expected "data" (Jaeger API), "spans" (one trace) or "resourceSpans" (OTLP) at the top level.',
  });
}

/** Reads one file: its traces in UI JSON. Throws InputError/ApiError/NetworkError. */
export async function loadTraceFile(file, { signal } = {}) {
  const name = file.name || "the file";
  if (file.size > MAX_FILE_BYTES) throw new InputError(`${name} is too large (${Math.round(file.size / 1048576)} MB); the limit is 512 MB.`);
  const docs = parseDocuments(name, await file.text());
  const items = docs.flatMap((doc) => classify(doc, name));
  const traces = [];
  for (const item of items) {
    if (item.trace) {
      traces.push(checkTrace(item.trace, item.where));
      continue;
    }
    try {
      const converted = await transformOtlp(JSON.stringify(item.otlp), { signal });
      traces.push(...converted.map((t, i) => checkTrace(t, `${item.where} trace ${i + 1}`)));
    } catch (err) {
      if (err instanceof NetworkError || (err && err.name === "AbortError")) throw err;
      if (err instanceof ApiError) throw new InputError(`The server could not read the OTLP JSON in ${name}: ${err.message}`, { detail: err.url });
      throw err;
    }
  }
  if (!traces.length) throw new InputError(`${name} holds no traces.`);
  return traces;
}

/** Reads several files; one bad file does not stop the others. */
export async function loadTraceFiles(files, { signal } = {}) {
  const traces = [];
  const problems = [];
  for (const file of files) {
    try {
      traces.push(...(await loadTraceFile(file, { signal })));
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      problems.push(err);
    }
  }
  return { traces, problems };
}
