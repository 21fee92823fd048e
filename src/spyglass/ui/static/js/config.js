// The page configuration the server writes into index.html: base path (the query
// server's --query.base-path), where the assets are, and what the backend can do.

function read() {
  const el = document.getElementById("spyglass-config");
  try {
    const parsed = el ? JSON.parse(el.textContent) : null;
    if (parsed && typeof parsed === "object") return parsed;
  } catch {
    // index.html served without the server's rewriting (e.g. opened from disk)
  }
  return {};
}

const raw = read();

export const config = {
  basePath: typeof raw.basePath === "string" ? raw.basePath.replace(/\/+$/, "") : "",
  version: raw.version || "dev",
  capabilities: { archiveStorage: false, metricsStorage: false, ...(raw.capabilities || {}) },
};

/** A page URL (``/search?...``) under the base path. */
export function pageUrl(path) {
  return config.basePath + path;
}

/** An API URL (``/api/...``) under the base path. */
export function apiUrl(path) {
  return config.basePath + path;
}
