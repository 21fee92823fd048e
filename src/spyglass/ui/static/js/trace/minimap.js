// The minimap: the whole trace drawn small on a canvas (one thin line per span, in
// display order), with a zoom window over it. Drag across the map to choose a window,
// drag the window to move it, drag its edges to resize it, double-click to see it all.
// From the keyboard the two edges are sliders (arrow keys; Shift moves faster).

import { serviceColor } from "../colors.js";
import { cssVar, h, rafThrottle, replace } from "../dom.js";
import { formatDuration } from "../format.js";

const HEIGHT = 64;

export function createMinimap(state) {
  const model = state.model;
  const canvas = h("canvas", { class: "minimap-canvas", "aria-hidden": "true" });
  const shadeLeft = h("div", { class: "mm-shade" });
  const shadeRight = h("div", { class: "mm-shade" });
  const handleA = h("div", { class: "mm-handle", role: "slider", tabindex: "0", "aria-label": "Zoom window start", "aria-valuemin": "0", "aria-valuemax": "100" });
  const handleB = h("div", { class: "mm-handle", role: "slider", tabindex: "0", "aria-label": "Zoom window end", "aria-valuemin": "0", "aria-valuemax": "100" });
  const windowEl = h("div", { class: "mm-window", title: "Drag to choose a time range; when zoomed, drag to move it (Shift+drag: new range)" });
  const selection = h("div", { class: "mm-selection", hidden: true });
  const ticks = h("div", { class: "mm-ticks", "aria-hidden": "true" });
  const surface = h("div", { class: "mm-surface" }, canvas, shadeLeft, shadeRight, windowEl, selection, handleA, handleB);
  const resetButton = h("button", { type: "button", class: "small ghost mm-reset", onClick: () => state.setZoom(0, 1), hidden: true }, "Reset zoom");
  const element = h("div", { class: "minimap", role: "group", "aria-label": "Trace minimap and zoom window" }, ticks, surface, resetButton);

  function draw() {
    const width = surface.clientWidth || 1000;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${HEIGHT}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = cssVar("--surface-2");
    ctx.fillRect(0, 0, width, HEIGHT);
    const spans = model.spans;
    const n = spans.length;
    const dur = model.duration || 1;
    const rowH = Math.max(0.5, Math.min(4, (HEIGHT - 4) / n));
    const yScale = n * rowH > HEIGHT - 4 ? (HEIGHT - 4) / n : rowH;
    const errorColor = cssVar("--error");
    let lastColor = "";
    for (let i = 0; i < n; i++) {
      const span = spans[i];
      const color = span.hasError ? errorColor : serviceColor(span.serviceName);
      if (color !== lastColor) {
        ctx.fillStyle = color;
        lastColor = color;
      }
      const x = (span.relStart / dur) * width;
      const w = Math.max(1, (span.duration / dur) * width);
      ctx.fillRect(x, 2 + i * yScale, w, Math.max(1, rowH * 0.8));
    }
    const labels = [];
    for (let k = 0; k <= 4; k++) labels.push(h("span", { class: `mm-tick${k === 4 ? " last" : ""}${k === 0 ? " first" : ""}`, style: { left: `${k * 25}%` } }, formatDuration((k / 4) * model.duration)));
    replace(ticks, labels);
  }

  function placeWindow() {
    const [a, b] = state.zoom;
    shadeLeft.style.left = "0";
    shadeLeft.style.width = `${a * 100}%`;
    shadeRight.style.left = `${b * 100}%`;
    shadeRight.style.width = `${(1 - b) * 100}%`;
    windowEl.style.left = `${a * 100}%`;
    windowEl.style.width = `${(b - a) * 100}%`;
    handleA.style.left = `${a * 100}%`;
    handleB.style.left = `${b * 100}%`;
    handleA.setAttribute("aria-valuenow", (a * 100).toFixed(1));
    handleB.setAttribute("aria-valuenow", (b * 100).toFixed(1));
    handleA.setAttribute("aria-valuetext", formatDuration(a * model.duration));
    handleB.setAttribute("aria-valuetext", formatDuration(b * model.duration));
    resetButton.hidden = a === 0 && b === 1;
  }

  const fraction = (clientX) => {
    const rect = surface.getBoundingClientRect();
    return Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
  };

  function drag(e, onMove) {
    e.preventDefault();
    const target = e.currentTarget;
    target.setPointerCapture(e.pointerId);
    const move = rafThrottle((ev) => onMove(fraction(ev.clientX)));
    const moveHandler = (ev) => move(ev);
    const up = (ev) => {
      target.removeEventListener("pointermove", moveHandler);
      target.removeEventListener("pointerup", up);
      onMove(fraction(ev.clientX), true);
    };
    target.addEventListener("pointermove", moveHandler);
    target.addEventListener("pointerup", up);
  }

  // Dragging across the map picks a new window; inside the current window it moves the
  // window, unless the window is the whole trace (nothing to move) or Shift is held.
  const selectFrom = (e) => {
    const start = fraction(e.clientX);
    drag(e, (f, done) => {
      const lo = Math.min(start, f);
      const hi = Math.max(start, f);
      if (done) {
        selection.hidden = true;
        if (hi - lo > 0.002) state.setZoom(lo, hi);
        return;
      }
      selection.hidden = false;
      selection.style.left = `${lo * 100}%`;
      selection.style.width = `${(hi - lo) * 100}%`;
    });
  };
  surface.addEventListener("pointerdown", (e) => {
    if (e.target === canvas || e.target === shadeLeft || e.target === shadeRight) selectFrom(e);
  });
  windowEl.addEventListener("pointerdown", (e) => {
    if (e.shiftKey || (state.zoom[0] === 0 && state.zoom[1] === 1)) {
      selectFrom(e);
      return;
    }
    const start = fraction(e.clientX);
    const [a, b] = state.zoom;
    drag(e, (f) => {
      const shift = Math.min(1 - b, Math.max(-a, f - start));
      state.setZoom(a + shift, b + shift);
    });
  });
  handleA.addEventListener("pointerdown", (e) => drag(e, (f) => state.setZoom(Math.min(f, state.zoom[1] - 0.001), state.zoom[1])));
  handleB.addEventListener("pointerdown", (e) => drag(e, (f) => state.setZoom(state.zoom[0], Math.max(f, state.zoom[0] + 0.001))));
  surface.addEventListener("dblclick", () => state.setZoom(0, 1));

  function sliderKeys(which) {
    return (e) => {
      const step = e.shiftKey ? 0.1 : 0.01;
      let [a, b] = state.zoom;
      if (e.key === "ArrowLeft" || e.key === "ArrowDown") {
        if (which === 0) a = Math.max(0, a - step);
        else b = Math.max(a + 0.001, b - step);
      } else if (e.key === "ArrowRight" || e.key === "ArrowUp") {
        if (which === 0) a = Math.min(b - 0.001, a + step);
        else b = Math.min(1, b + step);
      } else if (e.key === "Home") {
        if (which === 0) a = 0;
        else b = a + 0.001;
      } else if (e.key === "End") {
        if (which === 0) a = b - 0.001;
        else b = 1;
      } else return;
      e.preventDefault();
      e.stopPropagation();
      state.setZoom(a, b);
    };
  }
  handleA.addEventListener("keydown", sliderKeys(0));
  handleB.addEventListener("keydown", sliderKeys(1));

  const off = state.on((kind) => {
    if (kind === "zoom") placeWindow();
  });
  const redraw = () => draw();
  window.addEventListener("themechange", redraw);
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    if (surface.clientWidth !== lastWidth) {
      lastWidth = surface.clientWidth;
      draw();
    }
  });

  return {
    element,
    start() {
      placeWindow();
      observer.observe(surface);
    },
    destroy() {
      off();
      observer.disconnect();
      window.removeEventListener("themechange", redraw);
    },
  };
}
