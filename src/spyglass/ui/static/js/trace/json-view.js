// The trace as JSON: the adjusted trace the page shows, or the raw one (the server's
// adjusters skipped), with download and links to the API URLs Jaeger UI links to.
// Very large traces show the first part only; the download always has all of it.

import { getTrace, traceJsonUrl } from "../api.js";
import { downloadText, h, replace } from "../dom.js";
import { errorBox } from "../errors.js";

const MAX_SHOWN = 2_000_000;

export function createJsonView(model, { fromFile }) {
  let mode = "adjusted";
  let controller = null;
  const pre = h("pre", { class: "json-pre", tabindex: "0", "aria-label": "Trace JSON" });
  const status = h("div", { class: "json-status" });
  const tabs = {};
  const tabList = h("div", { class: "tabs", role: "tablist", "aria-label": "Which JSON" });
  for (const [key, label] of [["adjusted", "Adjusted"], ["raw", "Raw (unadjusted)"]]) {
    tabs[key] = h("button", { type: "button", role: "tab", "aria-selected": String(key === mode), disabled: fromFile && key === "raw", onClick: () => show(key) }, label);
    tabList.appendChild(tabs[key]);
  }
  let text = "";
  const download = h("button", { type: "button", onClick: () => downloadText(`trace-${model.traceID}${mode === "raw" ? "-raw" : ""}.json`, text) }, "Download JSON");
  const links = fromFile
    ? h("span", { class: "muted" }, "Opened from a file: only the file's JSON is available.")
    : h("span", { class: "json-links" }, h("a", { href: traceJsonUrl(model.traceID), target: "_blank", rel: "noopener", "data-external": "" }, "Trace JSON"), " · ", h("a", { href: traceJsonUrl(model.traceID, true), target: "_blank", rel: "noopener", "data-external": "" }, "Trace JSON (unadjusted)"));
  const element = h("div", { class: "view-json", dataset: { view: "json" } }, h("div", { class: "view-toolbar" }, tabList, download, links), status, pre);

  function render(obj) {
    text = JSON.stringify({ data: [obj] }, null, 2);
    if (text.length > MAX_SHOWN) {
      pre.textContent = `${text.slice(0, MAX_SHOWN)}\n…`;
      replace(status, h("p", { class: "muted" }, `Showing the first ${(MAX_SHOWN / 1e6).toFixed(0)} MB of ${(text.length / 1e6).toFixed(1)} MB. Download the JSON for all of it.`));
    } else {
      pre.textContent = text;
      replace(status);
    }
  }

  async function show(key) {
    mode = key;
    for (const [k, b] of Object.entries(tabs)) b.setAttribute("aria-selected", String(k === key));
    if (controller) controller.abort();
    if (key === "adjusted") {
      render(model.raw);
      return;
    }
    controller = new AbortController();
    pre.textContent = "";
    replace(status, h("div", { class: "loading-row" }, h("div", { class: "spinner" }), "Loading the raw trace…"));
    try {
      render(await getTrace(model.traceID, { raw: true, signal: controller.signal }));
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(status, errorBox(err, { title: "Could not load the raw trace", retry: () => show("raw") }));
    }
  }
  show("adjusted");
  return { element, destroy: () => controller && controller.abort() };
}
