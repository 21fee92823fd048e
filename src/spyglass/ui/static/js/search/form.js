// The search form: service (operations filtered by span kind), operation, tags in
// logfmt, lookback or custom range, min/max duration, limit; a trace-ID tab; a JSON-file
// tab. It validates what it can before asking the server and writes Jaeger-compatible
// URL parameters.

import { getOperations, getSamplingSummary, getServices } from "../api.js";
import { describeSampling } from "./sampling.js";
import { h, replace, uid } from "../dom.js";
import { errorBox, InputError } from "../errors.js";
import { isGoDuration } from "../format.js";
import { parseLogfmt, parseTagsParam, toLogfmt } from "../logfmt.js";
import { fromLocalInput, lookbackRange, LOOKBACKS, toLocalInput } from "../lookback.js";

export const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1500;
const SPAN_KINDS = [
  ["", "All kinds"],
  ["server", "Server"],
  ["client", "Client"],
  ["producer", "Producer"],
  ["consumer", "Consumer"],
  ["internal", "Internal"],
];

function field(label, control, { hint = "", id = control.id } = {}) {
  const error = h("div", { class: "field-error", id: `${id}-error`, hidden: true });
  const describedBy = [hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("div", { class: "hint", id: `${id}-hint` }, hint) : null, error);
}

function setFieldError(control, message) {
  const error = document.getElementById(`${control.id}-error`);
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  if (error) {
    error.textContent = message || "";
    error.hidden = !message;
  }
}

/**
 * ``onSearch(paramsString)`` gets the new URL query; ``onFiles(FileList)`` gets files to
 * open. Returns ``{ element, fill(query), destroy() }``.
 */
export function createSearchForm({ onSearch, onFiles }) {
  const ids = { service: uid("service"), kind: uid("kind"), op: uid("operation"), tags: uid("tags"), lookback: uid("lookback"), start: uid("start"), end: uid("end"), min: uid("min"), max: uid("max"), limit: uid("limit"), traceIds: uid("trace-ids"), file: uid("file") };
  let controller = new AbortController();
  let opsController = null;
  let services = [];
  let pendingOperation = "";

  const service = h("select", { id: ids.service, name: "service", "data-primary-input": "" }, h("option", { value: "" }, "Loading services…"));
  const kind = h("select", { id: ids.kind, name: "spanKind" }, SPAN_KINDS.map(([v, l]) => h("option", { value: v }, l)));
  const operation = h("select", { id: ids.op, name: "operation" }, h("option", { value: "" }, "All operations"));
  const tags = h("input", { id: ids.tags, name: "tags", type: "text", placeholder: "http.status_code=500 error=true", autocomplete: "off", spellcheck: "false" });
  const lookback = h("select", { id: ids.lookback, name: "lookback" }, LOOKBACKS.map((l) => h("option", { value: l.value }, l.label)));
  lookback.value = "1h";
  const start = h("input", { id: ids.start, name: "start", type: "datetime-local" });
  const end = h("input", { id: ids.end, name: "end", type: "datetime-local" });
  const customRange = h("div", { class: "field-row", hidden: true }, field("From", start), field("To", end));
  const minDuration = h("input", { id: ids.min, name: "minDuration", type: "text", placeholder: "e.g. 100ms", autocomplete: "off" });
  const maxDuration = h("input", { id: ids.max, name: "maxDuration", type: "text", placeholder: "e.g. 1.5s", autocomplete: "off" });
  const limit = h("input", { id: ids.limit, name: "limit", type: "number", min: "1", max: String(MAX_LIMIT), value: String(DEFAULT_LIMIT) });
  const serviceStatus = h("div", { class: "service-status" });
  const samplingInfo = h("div", { class: "hint sampling-info", "aria-live": "polite" });
  let samplingController = null;

  const searchPanel = h(
    "form",
    { class: "search-panel", "aria-label": "Search traces", novalidate: true },
    serviceStatus,
    field("Service", service),
    samplingInfo,
    h("div", { class: "field-row" }, field("Span kind", kind), field("Operation", operation)),
    field("Tags", tags, { hint: "logfmt: key=value pairs separated by spaces; quote values with spaces." }),
    field("Lookback", lookback),
    customRange,
    h("div", { class: "field-row" }, field("Min duration", minDuration), field("Max duration", maxDuration)),
    field("Limit results", limit),
    h("button", { type: "submit", class: "primary wide" }, "Find traces"),
  );

  const traceIds = h("textarea", { id: ids.traceIds, name: "traceID", rows: 5, placeholder: "One or more trace IDs, separated by spaces, commas or new lines", spellcheck: "false" });
  const idPanel = h(
    "form",
    { class: "search-panel", "aria-label": "Find traces by ID", novalidate: true, hidden: true },
    field("Trace IDs", traceIds, { hint: "Hex IDs of up to 32 characters." }),
    h("button", { type: "submit", class: "primary wide" }, "Find traces"),
  );

  const fileInput = h("input", { id: ids.file, type: "file", accept: ".json,application/json,.jsonl,.ndjson", multiple: true, class: "file-input visually-hidden" });
  const dropZone = h(
    "label",
    { class: "drop-zone", for: ids.file },
    h("strong", null, "Open JSON files"),
    h("span", null, "Drop files here or click to choose."),
    h("span", { class: "hint" }, "Jaeger trace JSON (as downloaded from Spyglass or Jaeger UI) or OTLP JSON."),
  );
  const filePanel = h("div", { class: "search-panel", hidden: true }, fileInput, dropZone);

  const panels = { search: searchPanel, ids: idPanel, file: filePanel };
  const tabButtons = {};
  const tabList = h("div", { class: "tabs form-tabs", role: "tablist", "aria-label": "How to find traces" });
  for (const [key, label] of [["search", "Search"], ["ids", "Trace ID"], ["file", "JSON file"]]) {
    const button = h("button", { type: "button", role: "tab", "aria-selected": key === "search" ? "true" : "false", onClick: () => selectTab(key) }, label);
    tabButtons[key] = button;
    tabList.appendChild(button);
  }
  tabList.addEventListener("keydown", (e) => {
    const keys = Object.keys(tabButtons);
    const now = keys.findIndex((k) => tabButtons[k].getAttribute("aria-selected") === "true");
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = keys[(now + (e.key === "ArrowRight" ? 1 : keys.length - 1)) % keys.length];
      selectTab(next);
      tabButtons[next].focus();
      e.preventDefault();
    }
  });

  function selectTab(key) {
    for (const [k, button] of Object.entries(tabButtons)) {
      button.setAttribute("aria-selected", String(k === key));
      button.tabIndex = k === key ? 0 : -1;
      panels[k].hidden = k !== key;
    }
  }

  const element = h("aside", { class: "search-sidebar card", "aria-label": "Search" }, tabList, searchPanel, idPanel, filePanel);

  // -- services and operations ---------------------------------------------------------
  function fillServices(names, selected) {
    const options = [h("option", { value: "" }, names.length ? "Select a service" : "No services yet")];
    const all = selected && !names.includes(selected) ? [...names, selected] : names;
    for (const name of all) options.push(h("option", { value: name }, name));
    replace(service, options);
    service.value = selected || "";
  }

  async function loadServices(selected) {
    replace(serviceStatus);
    service.disabled = true;
    try {
      services = await getServices({ signal: controller.signal });
      fillServices(services, selected || service.dataset.wanted || "");
      service.disabled = false;
      if (!services.length) {
        replace(serviceStatus, h("p", { class: "hint" }, "No traces have been received yet. Send spans to one of the collector ports and reload."));
      }
      if (service.value) await loadOperations();
    } catch (err) {
      if (err.name === "AbortError") return;
      fillServices([], selected);
      service.disabled = false;
      replace(serviceStatus, errorBox(err, { title: "Could not load the service list", retry: () => loadServices(service.value) }));
    }
  }

  async function loadSampling() {
    if (samplingController) samplingController.abort();
    samplingController = new AbortController();
    replace(samplingInfo);
    if (!service.value) return;
    try {
      const summary = await getSamplingSummary(service.value, { signal: samplingController.signal });
      replace(samplingInfo, describeSampling(summary));
    } catch (err) {
      if (err.name !== "AbortError") replace(samplingInfo);  // a hint only: never an error box
    }
  }

  async function loadOperations() {
    loadSampling();
    if (opsController) opsController.abort();
    opsController = new AbortController();
    const wanted = pendingOperation || operation.value;
    replace(operation, h("option", { value: "" }, "All operations"));
    if (!service.value) return;
    try {
      const ops = await getOperations(service.value, kind.value, { signal: opsController.signal });
      const kinds = new Map();
      for (const op of ops) {
        if (!kinds.has(op.name)) kinds.set(op.name, new Set());
        if (op.spanKind) kinds.get(op.name).add(op.spanKind);
      }
      const options = [h("option", { value: "" }, "All operations")];
      const names = [...kinds.keys()];
      if (wanted && !kinds.has(wanted)) names.unshift(wanted);
      for (const name of names) {
        const k = kinds.get(name);
        const suffix = k && k.size && !kind.value ? ` · ${[...k].join(", ")}` : "";
        options.push(h("option", { value: name }, `${name}${suffix}`));
      }
      replace(operation, options);
      operation.value = wanted || "";
      pendingOperation = "";
    } catch (err) {
      if (err.name === "AbortError") return;
      if (wanted) operation.appendChild(h("option", { value: wanted }, wanted));
      operation.value = wanted || "";
      replace(serviceStatus, errorBox(err, { title: "Could not load the operations", retry: loadOperations }));
    }
  }

  service.addEventListener("change", () => {
    pendingOperation = "";
    setFieldError(service, "");
    loadOperations();
  });
  kind.addEventListener("change", loadOperations);
  lookback.addEventListener("change", () => {
    customRange.hidden = lookback.value !== "custom";
    if (lookback.value === "custom" && !start.value) {
      const r = lookbackRange("1h");
      start.value = toLocalInput(r.start);
      end.value = toLocalInput(r.end);
    }
  });

  // -- submit ----------------------------------------------------------------------------
  function validate() {
    let ok = true;
    const fail = (control, message) => {
      setFieldError(control, message);
      if (ok) control.focus();
      ok = false;
    };
    for (const c of [service, tags, minDuration, maxDuration, limit, start, end]) setFieldError(c, "");
    if (!service.value) fail(service, "Choose a service to search.");
    let parsedTags = {};
    try {
      parsedTags = parseLogfmt(tags.value);
    } catch (err) {
      fail(tags, err instanceof InputError ? err.message : String(err));
    }
    for (const c of [minDuration, maxDuration]) {
      if (c.value.trim() && !isGoDuration(c.value)) fail(c, `"${c.value.trim()}" is not a duration. Use a number with a unit: 250us, 100ms, 1.5s, 2m.`);
    }
    const n = Number(limit.value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) fail(limit, `Enter a whole number from 1 to ${MAX_LIMIT}.`);
    let range = null;
    if (lookback.value === "custom") {
      const s = fromLocalInput(start.value);
      const e = fromLocalInput(end.value);
      if (!Number.isFinite(s)) fail(start, "Choose when the range starts.");
      else if (!Number.isFinite(e)) fail(end, "Choose when the range ends.");
      else if (e <= s) fail(end, "The end must be after the start.");
      else range = { start: s, end: e + 59_999_999 };
    } else {
      range = lookbackRange(lookback.value);
    }
    return ok ? { tags: parsedTags, range } : null;
  }

  searchPanel.addEventListener("submit", (e) => {
    e.preventDefault();
    const valid = validate();
    if (!valid) return;
    // Jaeger UI's parameter names; tags as a JSON object of strings, like Jaeger UI.
    const q = new URLSearchParams();
    q.set("end", String(valid.range.end));
    q.set("limit", limit.value);
    q.set("lookback", lookback.value);
    if (maxDuration.value.trim()) q.set("maxDuration", maxDuration.value.trim());
    if (minDuration.value.trim()) q.set("minDuration", minDuration.value.trim());
    if (operation.value) q.set("operation", operation.value);
    q.set("service", service.value);
    q.set("start", String(valid.range.start));
    if (Object.keys(valid.tags).length) q.set("tags", JSON.stringify(valid.tags));
    onSearch(q.toString());
  });

  idPanel.addEventListener("submit", (e) => {
    e.preventDefault();
    setFieldError(traceIds, "");
    const list = traceIds.value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
    if (!list.length) {
      setFieldError(traceIds, "Enter at least one trace ID.");
      traceIds.focus();
      return;
    }
    const bad = list.find((id) => !/^[0-9a-fA-F]{1,32}$/.test(id));
    if (bad) {
      setFieldError(traceIds, `"${bad}" is not a trace ID: use 1 to 32 hexadecimal characters.`);
      traceIds.focus();
      return;
    }
    const q = new URLSearchParams();
    for (const id of list) q.append("traceID", id);
    onSearch(q.toString());
  });

  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files.length) onFiles([...fileInput.files]);
    fileInput.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    dropZone.addEventListener(type, (e) => {
      e.preventDefault();
      dropZone.classList.add("dragging");
    });
  }
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
  dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    dropZone.classList.remove("dragging");
    if (e.dataTransfer && e.dataTransfer.files.length) onFiles([...e.dataTransfer.files]);
  });

  /** Sets the fields from URL parameters. */
  function fill(query) {
    const ids = query.getAll("traceID");
    if (ids.length) {
      traceIds.value = ids.join("\n");
      selectTab("ids");
      return;
    }
    const svc = query.get("service") || "";
    service.dataset.wanted = svc;
    if (services.length || svc) fillServices(services, svc);
    pendingOperation = query.get("operation") || "";
    try {
      tags.value = toLogfmt(parseTagsParam(query.get("tags") || ""));
    } catch {
      tags.value = query.get("tags") || "";
    }
    const lb = query.get("lookback") || "1h";
    lookback.value = LOOKBACKS.some((l) => l.value === lb) ? lb : "custom";
    customRange.hidden = lookback.value !== "custom";
    if (lookback.value === "custom") {
      const s = Number(query.get("start"));
      const e = Number(query.get("end"));
      if (s) start.value = toLocalInput(s);
      if (e) end.value = toLocalInput(e);
    }
    minDuration.value = query.get("minDuration") || "";
    maxDuration.value = query.get("maxDuration") || "";
    limit.value = query.get("limit") || String(DEFAULT_LIMIT);
    if (services.length && svc) loadOperations();
  }

  selectTab("search");
  return {
    element,
    fill,
    start(query) {
      fill(query);
      loadServices(query.get("service") || "");
    },
    showFileTab: () => selectTab("file"),
    destroy() {
      controller.abort();
      if (opsController) opsController.abort();
      controller = new AbortController();
    },
  };
}
