// The trace page (``/trace/{id}``): header, view switcher (timeline, graph, statistics,
// flame graph, spans table, JSON), find-in-trace, and the timeline with its minimap and
// span detail drawer. The view and the find text live in the URL (``view``, ``uiFind``
// as in Jaeger UI) so a link shows the same thing.
//
// Loading is timed with performance marks (spyglass:trace-fetched, -model, and the
// timeline's spyglass:timeline-ready) for the benchmark.

import { archiveTrace, getTrace } from "../api.js";
import { registerServices } from "../colors.js";
import { config } from "../config.js";
import { downloadText, h, replace } from "../dom.js";
import { plural } from "../format.js";
import { ApiError, errorBox, showPageError, toast } from "../errors.js";
import { registerShortcuts } from "../keyboard.js";
import { getLocalTrace } from "../local-traces.js";
import { setQuery } from "../router.js";
import { backlinksBySpan, findBacklinks, normId } from "./backlinks.js";
import { createFindBox } from "./find.js";
import { createFlameView } from "./flame-view.js";
import { createGraphView } from "./graph-view.js";
import { renderTraceSummary } from "./header.js";
import { createJsonView } from "./json-view.js";
import { createMinimap } from "./minimap.js";
import { buildTraceModel } from "./model.js";
import { backlinkItems, linkItems, renderSpanDetail } from "./span-detail.js";
import { createSpansTable } from "./spans-table.js";
import { createTraceState } from "./state.js";
import { createStatsView } from "./stats-view.js";
import { createTimeline } from "./timeline.js";

const VIEWS = [
  { key: "timeline", label: "Timeline" },
  { key: "graph", label: "Trace graph" },
  { key: "stats", label: "Statistics" },
  { key: "flame", label: "Flame graph" },
  { key: "spans", label: "Spans table" },
  { key: "json", label: "JSON" },
];

function loadingView(id) {
  return h("div", { class: "loading-row trace-loading", role: "status" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("span", null, `Loading trace ${id}…`));
}

function loadError(container, err, id, retry) {
  if (err instanceof ApiError && err.status === 404) {
    showPageError(container, err, {
      title: "Trace not found",
      retry,
      actions: [h("a", { class: "button small", href: `${config.basePath}/search` }, "Search traces")],
    });
    const text = container.querySelector(".message-text");
    if (text) text.textContent = `No trace with ID ${id} is in storage. It may have expired, not have arrived yet, or the ID may be mistyped. (${err.message})`;
    return;
  }
  if (err instanceof ApiError && err.status === 400) {
    showPageError(container, err, { title: "This is not a valid trace ID", actions: [h("a", { class: "button small", href: `${config.basePath}/search` }, "Search traces")] });
    return;
  }
  showPageError(container, err, { title: err instanceof ApiError || err.name === "NetworkError" ? null : "Could not show this trace", retry });
}

export function mount(container, ctx) {
  const traceID = ctx.params.id;
  let controller = new AbortController();
  let page = null; // the mounted trace UI
  let removeShortcuts = () => {};

  async function load() {
    controller.abort();
    controller = new AbortController();
    replace(container, loadingView(traceID));
    performance.mark("spyglass:trace-start");
    const local = getLocalTrace(traceID);
    let raw;
    try {
      raw = local || (await getTrace(traceID, { signal: controller.signal }));
    } catch (err) {
      if (err.name === "AbortError") return;
      loadError(container, err, traceID, load);
      return;
    }
    performance.mark("spyglass:trace-fetched");
    let model;
    try {
      model = buildTraceModel(raw);
    } catch (err) {
      loadError(container, err, traceID, load);
      return;
    }
    performance.mark("spyglass:trace-model");
    document.title = `${model.name} · Spyglass`;
    page = build(model, Boolean(local), ctx.query);
  }

  function build(model, fromFile, query) {
    registerServices(model.services.map((svc) => svc.name));
    const state = createTraceState(model);
    const views = new Map();
    let current = "timeline";

    // -- header ------------------------------------------------------------------------
    const summary = renderTraceSummary(model, { fromFile });
    const find = createFindBox(state, {
      onStep: (span) => {
        if (current !== "timeline") showView("timeline");
        // Open the drawer first: it takes height from the timeline, and the row is then
        // centred in what is left, not behind the drawer.
        selectSpan(span);
        timeline.scrollToSpan(span);
        syncUrl();
      },
    });
    const actions = [find.element];
    if (config.capabilities.archiveStorage && !fromFile) {
      const archive = h("button", { type: "button", class: "small" }, "Archive");
      archive.addEventListener("click", async () => {
        archive.disabled = true;
        try {
          await archiveTrace(model.traceID);
          archive.textContent = "Archived";
          toast("The trace was copied to the archive.", "ok");
        } catch (err) {
          archive.disabled = false;
          toast(`Archiving failed: ${err.message}`, "error", 8000);
        }
      });
      actions.push(archive);
    }
    // Backlinks: spans of other stored traces linking here, searched on request (backlinks.js).
    let backlinks = new Map();
    const backlinksPanel = h("div", { class: "backlinks-panel", hidden: true, "aria-live": "polite" });
    let backlinkSearch = null;
    if (!fromFile) {
      const button = h("button", { type: "button", class: "small backlinks-button", title: "Search stored traces for spans that link to this trace" }, "Linked from…");
      button.addEventListener("click", async () => {
        if (backlinkSearch) {
          backlinksPanel.hidden = !backlinksPanel.hidden;
          return;
        }
        button.disabled = true;
        button.textContent = "Searching links…";
        backlinkSearch = new AbortController();
        try {
          const result = await findBacklinks(model, { signal: backlinkSearch.signal });
          backlinks = backlinksBySpan(result.links);
          const scope = `Searched ${plural(result.traces, "trace")} of ${plural(result.services, "service")}${result.totalServices > result.services ? ` (of ${result.totalServices})` : ""} from 5 minutes before this trace to an hour after it.`;
          replace(
            backlinksPanel,
            h("strong", null, result.links.length ? `Linked from ${plural(result.links.length, "span")} in ${plural(new Set(result.links.map((l) => l.traceID)).size, "other trace")}` : "No stored trace links to this one"),
            result.links.length ? h("ul", { class: "ref-list" }, backlinkItems(result.links)) : null,
            h("p", { class: "muted" }, result.summariesOnly ? "This server's search returns summaries only, so links could not be read. " : "", scope),
          );
          button.textContent = `Linked from ${result.links.length}`;
          state.emit("backlinks");
          if (state.selected) selectSpan(state.selected);
        } catch (err) {
          if (err.name === "AbortError") return;
          backlinkSearch = null;
          replace(backlinksPanel, errorBox(err, { title: "Could not search for links to this trace" }));
          button.textContent = "Linked from…";
        } finally {
          button.disabled = false;
          backlinksPanel.hidden = false;
        }
      });
      actions.push(button);
    }
    const backlinksFor = (span) => backlinks.get(normId(span.spanID)) || [];
    actions.push(h("button", { type: "button", class: "small", onClick: () => downloadText(`trace-${model.traceID}.json`, JSON.stringify({ data: [model.raw] }, null, 2)) }, "Download JSON"));

    const tabList = h("div", { class: "tabs view-tabs", role: "tablist", "aria-label": "Trace views" });
    const tabs = new Map();
    VIEWS.forEach((v, i) => {
      const tab = h("button", { type: "button", role: "tab", id: `view-tab-${v.key}`, "aria-selected": "false", "aria-controls": `view-panel-${v.key}`, title: `${v.label} (${i + 1})`, onClick: () => { showView(v.key); syncUrl(); } }, v.label);
      tabs.set(v.key, tab);
      tabList.appendChild(tab);
    });
    tabList.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const keys = VIEWS.map((v) => v.key);
      const next = keys[(keys.indexOf(current) + (e.key === "ArrowRight" ? 1 : keys.length - 1)) % keys.length];
      showView(next);
      syncUrl();
      tabs.get(next).focus();
      e.preventDefault();
      e.stopPropagation();
    });

    const critical = h("button", { type: "button", class: "small", "aria-pressed": "true", title: "Highlight the critical path (c)", onClick: () => state.toggleCritical() }, "Critical path");
    const timelineTools = h(
      "div",
      { class: "timeline-tools" },
      h("button", { type: "button", class: "small", title: "Collapse all ([)", onClick: () => state.collapseBelow(1) }, "Collapse all"),
      h("button", { type: "button", class: "small", title: "Expand all (])", onClick: () => state.expandAll() }, "Expand all"),
      critical,
    );
    const header = h(
      "header",
      { class: "trace-header" },
      h("div", { class: "th-row" }, summary.title, h("div", { class: "th-actions" }, actions)),
      h("div", { class: "th-row th-row-stats" }, summary.statList, summary.services),
      summary.warnings,
      backlinksPanel,
      h("div", { class: "th-row th-toolbar" }, tabList, timelineTools),
    );

    // -- timeline view ---------------------------------------------------------------------
    const minimap = createMinimap(state);
    const linkMenu = h("div", { class: "link-popover card", role: "dialog", "aria-label": "Links of the span", hidden: true });
    const closeLinkMenu = () => { linkMenu.hidden = true; };
    const timeline = createTimeline(state, {
      onSelect: (span) => selectSpan(span),
      backlinks: (span) => backlinksFor(span).length,
      onLinks: (span, anchor) => {
        replace(
          linkMenu,
          h("div", { class: "link-popover-title" }, h("strong", null, `${span.serviceName}: ${span.operationName}`), h("button", { type: "button", class: "small icon-button", "aria-label": "Close", onClick: closeLinkMenu }, "×")),
          h("ul", { class: "ref-list" }, linkItems(span, model, (target) => { closeLinkMenu(); selectSpan(target); timeline.scrollToSpan(target); }, false), backlinkItems(backlinksFor(span))),
        );
        const area = timelineView.getBoundingClientRect();
        const at = anchor.getBoundingClientRect();
        linkMenu.style.left = `${Math.max(8, Math.min(area.width - 380, at.left - area.left))}px`;
        linkMenu.style.top = `${at.bottom - area.top + 4}px`;
        linkMenu.hidden = false;
        const first = linkMenu.querySelector("a");
        if (first) first.focus();
      },
    });
    linkMenu.addEventListener("click", (e) => { if (e.target.closest("a")) closeLinkMenu(); });
    linkMenu.addEventListener("keydown", (e) => { if (e.key === "Escape") { closeLinkMenu(); timeline.focus(); e.stopPropagation(); } });
    const drawerHandle = h("div", { class: "drawer-handle", role: "separator", "aria-orientation": "horizontal", "aria-label": "Resize the span details", tabindex: "0" });
    const drawerBody = h("div", { class: "drawer-body" });
    const drawer = h("div", { class: "detail-drawer", hidden: true }, drawerHandle, drawerBody);
    const timelineView = h("div", { class: "view-timeline", id: "view-panel-timeline", role: "tabpanel", "aria-labelledby": "view-tab-timeline" }, minimap.element, timeline.element, drawer, linkMenu);
    const viewArea = h("div", { class: "trace-views" }, timelineView);
    views.set("timeline", { element: timelineView, destroy() { minimap.destroy(); timeline.destroy(); } });

    function selectSpan(span) {
      state.select(span);
      if (!span) {
        drawer.hidden = true;
        replace(drawerBody);
        return;
      }
      replace(drawerBody, renderSpanDetail(span, model, { onClose: () => { selectSpan(null); timeline.focus(); }, onJump: (target) => { selectSpan(target); timeline.scrollToSpan(target); }, backlinks: backlinksFor(span) }));
      const wasHidden = drawer.hidden;
      drawer.hidden = false;
      if (wasHidden) timeline.keepInView(span);
    }

    let drawerHeight = null;
    drawerHandle.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      drawerHandle.setPointerCapture(e.pointerId);
      const area = timelineView.getBoundingClientRect();
      const move = (ev) => {
        drawerHeight = Math.min(area.height - 120, Math.max(120, area.bottom - ev.clientY));
        drawer.style.height = `${drawerHeight}px`;
      };
      const up = () => {
        drawerHandle.removeEventListener("pointermove", move);
        drawerHandle.removeEventListener("pointerup", up);
      };
      drawerHandle.addEventListener("pointermove", move);
      drawerHandle.addEventListener("pointerup", up);
    });
    drawerHandle.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
      drawerHeight = Math.max(120, (drawerHeight || drawer.getBoundingClientRect().height) + (e.key === "ArrowUp" ? 30 : -30));
      drawer.style.height = `${drawerHeight}px`;
      e.preventDefault();
    });

    // -- other views -----------------------------------------------------------------------
    const openSpan = (span) => {
      showView("timeline");
      syncUrl();
      selectSpan(span);
      timeline.scrollToSpan(span);
    };
    const factories = {
      graph: () => createGraphView(model, { onShowSpans: (spans, label) => { showView("timeline"); find.showMatches(label, spans); } }),
      stats: () => createStatsView(model),
      flame: () => createFlameView(model, { onOpenSpan: openSpan }),
      spans: () => createSpansTable(model, { onOpenSpan: openSpan }),
      json: () => createJsonView(model, { fromFile }),
    };

    function showView(key) {
      if (!VIEWS.some((v) => v.key === key)) key = "timeline";
      current = key;
      if (!views.has(key)) {
        let view;
        try {
          view = factories[key]();
        } catch (err) {
          view = { element: h("div", { class: "page-message" }, errorBox(err, { title: `Could not draw the ${key} view` })), destroy() {} };
        }
        view.element.id = `view-panel-${key}`;
        view.element.setAttribute("role", "tabpanel");
        view.element.setAttribute("aria-labelledby", `view-tab-${key}`);
        views.set(key, view);
        viewArea.appendChild(view.element);
      }
      for (const [k, v] of views) v.element.hidden = k !== key;
      for (const [k, tab] of tabs) {
        tab.setAttribute("aria-selected", String(k === key));
        tab.tabIndex = k === key ? 0 : -1;
      }
      timelineTools.hidden = key !== "timeline";
    }

    function syncUrl() {
      const q = new URLSearchParams(window.location.search);
      if (current === "timeline") q.delete("view");
      else q.set("view", current);
      if (state.findText) q.set("uiFind", state.findText);
      else q.delete("uiFind");
      setQuery(q);
    }

    state.on((kind) => {
      if (kind === "critical") critical.setAttribute("aria-pressed", String(state.showCritical));
      if (kind === "find" && !state.findText) syncUrl();
    });

    replace(container, h("div", { class: "trace-page" }, header, viewArea));
    minimap.start();
    timeline.start();
    showView(query.get("view") || "timeline");
    const uiFind = query.get("uiFind");
    if (uiFind) find.set(uiFind);

    // -- keyboard --------------------------------------------------------------------------
    const zoomAround = (factor) => {
      const [a, b] = state.zoom;
      const mid = (a + b) / 2;
      const half = Math.min(0.5, ((b - a) * factor) / 2);
      let lo = mid - half;
      let hi = mid + half;
      if (lo < 0) [lo, hi] = [0, hi - lo];
      if (hi > 1) [lo, hi] = [Math.max(0, lo - (hi - 1)), 1];
      state.setZoom(lo, hi);
    };
    removeShortcuts = registerShortcuts("Trace page", [
      { keys: ["f"], label: "Find in trace", run: () => find.focus() },
      { keys: ["n"], label: "Next match", run: () => find.next() },
      { keys: ["N", "Shift+N"], label: "Previous match", run: () => find.prev() },
      { keys: ["Escape"], label: "Close span details / clear find", run: () => { if (state.selected) { selectSpan(null); return true; } if (state.findText) { find.clear(); return true; } return false; } },
      { keys: ["j"], label: "Timeline: focus and move down (arrows work too)", run: () => { showView("timeline"); timeline.focus(); timeline.element.querySelector(".tl-body").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true })); } },
      { keys: ["k"], label: "Timeline: move up", run: () => { showView("timeline"); timeline.focus(); timeline.element.querySelector(".tl-body").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowUp", bubbles: true })); } },
      { keys: ["["], label: "Collapse all", run: () => state.collapseBelow(1) },
      { keys: ["]"], label: "Expand all", run: () => state.expandAll() },
      { keys: ["c"], label: "Show / hide the critical path", run: () => state.toggleCritical() },
      { keys: ["+", "="], label: "Zoom in (timeline)", run: () => zoomAround(0.5) },
      { keys: ["-"], label: "Zoom out (timeline)", run: () => zoomAround(2) },
      { keys: ["0"], label: "Reset zoom", run: () => state.setZoom(0, 1) },
      ...VIEWS.map((v, i) => ({ keys: [String(i + 1)], label: `Show ${v.label}`, run: () => { showView(v.key); syncUrl(); } })),
    ]);

    return {
      model,
      applyQuery(q) {
        showView(q.get("view") || "timeline");
        const text = q.get("uiFind") || "";
        if (text !== state.findText) {
          if (text) find.set(text);
          else find.clear();
        }
      },
      destroy() {
        if (backlinkSearch) backlinkSearch.abort();
        for (const v of views.values()) v.destroy();
      },
    };
  }

  load();

  return {
    update(next) {
      if (next.params.id !== traceID || !page) return false;
      page.applyQuery(next.query);
      return true;
    },
    unmount() {
      controller.abort();
      removeShortcuts();
      if (page) page.destroy();
    },
  };
}
