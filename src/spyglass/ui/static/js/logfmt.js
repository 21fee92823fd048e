// Tags in logfmt (``http.status_code=500 error=true msg="not found"``), as the search
// form takes them, to and from the object of strings the API's ``tags`` parameter wants.

import { InputError } from "./errors.js";

/** Parses logfmt into ``{key: "value"}``; throws InputError naming the bad token. */
export function parseLogfmt(text) {
  const out = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== "=" && !/\s/.test(text[i])) i++;
    const key = text.slice(keyStart, i);
    if (i >= n || text[i] !== "=") {
      throw new InputError(`Tag "${key}" has no value. Write tags as key=value, separated by spaces.`, { detail: text });
    }
    if (!key) throw new InputError("A tag has a value but no key. Write tags as key=value.", { detail: text });
    i++; // "="
    let value = "";
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i];
        if (c === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw new InputError(`The value of tag "${key}" has an opening quote but no closing quote.`, { detail: text });
    } else {
      const start = i;
      while (i < n && !/\s/.test(text[i])) i++;
      value = text.slice(start, i);
    }
    out[key] = value;
  }
  return out;
}

function quote(value) {
  return /[\s"=\\]/.test(value) || value === "" ? `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"` : value;
}

/** ``{key: value}`` as logfmt. */
export function toLogfmt(tags) {
  return Object.entries(tags)
    .map(([k, v]) => `${k}=${quote(String(v))}`)
    .join(" ");
}

/**
 * The ``tags`` URL parameter: Jaeger UI writes a JSON object there, people type logfmt.
 * Both are accepted; the result is an object of strings.
 */
export function parseTagsParam(text) {
  const trimmed = (text || "").trim();
  if (!trimmed) return {};
  if (trimmed.startsWith("{")) {
    try {
      const obj = JSON.parse(trimmed);
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
      }
    } catch {
      // not JSON: treat as logfmt below
    }
  }
  return parseLogfmt(trimmed);
}
