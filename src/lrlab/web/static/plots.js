/* Plot building blocks: layouts, the curve or contour of the objective, paths, resizing. */
import { setStartFromPlot } from "./app.js";
import { $, finite, fmt, slug } from "./dom.js";
import { CONFIG, FONT, lab, state } from "./state.js";

// ---------------------------------------------------------------------------------------
// Plot building blocks.

export function baseLayout(extra = {}) {
  return {
    margin: { l: 54, r: 12, t: 8, b: 40 },
    font: { family: FONT, size: 11, color: "#334155" },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#ffffff",
    showlegend: false, hovermode: "closest",
    xaxis: { gridcolor: "#eef2f7", zeroline: false, linecolor: "#cbd5e1", automargin: true },
    yaxis: { gridcolor: "#eef2f7", zeroline: false, linecolor: "#cbd5e1", automargin: true },
    ...extra,
  };
}

export function axisTitle(text) { return { text, font: { size: 11, color: "#64748b" } }; }

/** Log scale when the values are positive and span more than a couple of decades. */
export function logScale(values) {
  const f = finite(values);
  if (!f.length || f.some((v) => v <= 0)) return false;
  return Math.max(...f) / Math.min(...f) > 50;
}


/** The curve (1-D) or contour (2-D) of the current objective, built once per objective. */
export function surfaceTraces() {
  if (!lab.info || !lab.info.surface) return [];
  const key = lab.info.name + "|" + (lab.info.surface.x || []).length;
  if (lab.surfaceCache && lab.surfaceCache.key === key) return lab.surfaceCache.traces;
  const s = lab.info.surface;
  let traces;
  if (lab.info.dim === 1) {
    traces = [{
      type: "scatter", mode: "lines", x: s.x, y: s.z, line: { color: "#334155", width: 2 },
      hovertemplate: "x = %{x:.4g}<br>cost = %{y:.4g}<extra></extra>", name: "cost",
    }];
    const mins = lab.info.minima || [];
    if (mins.length) {
      traces.push({
        type: "scatter", mode: "markers", x: mins.map((m) => m.point[0]), y: mins.map((m) => m.value),
        marker: { symbol: "star", size: 11, color: "#0f172a" }, hoverinfo: "skip", name: "minima",
      });
    }
  } else {
    const flat = finite(s.z.flat()).sort((a, b) => a - b);
    const zmin = flat[0];
    const hi = flat[Math.floor(0.98 * (flat.length - 1))];
    const eps = Math.max((hi - zmin) * 1e-3, 1e-12);
    const z = s.z.map((row) => row.map((v) => (v === null ? null : Math.log10(v - zmin + eps))));
    const text = s.z.map((row) => row.map((v) => fmt(v, 4)));
    traces = [{
      type: "contour", x: s.x, y: s.y, z, text, ncontours: 26, showscale: false,
      zmin: Math.log10(eps), zmax: Math.log10(hi - zmin + eps),
      colorscale: [[0, "#ffffff"], [0.45, "#e6edf5"], [0.8, "#bccadb"], [1, "#93a5bb"]],
      contours: { coloring: "fill", showlines: true },
      line: { color: "rgba(255,255,255,0.7)", width: 0.6 },
      hovertemplate: "x = %{x:.3g}, y = %{y:.3g}<br>cost = %{text}<extra></extra>", name: "cost",
    }];
    const mins = lab.info.minima || [];
    if (mins.length) {
      traces.push({
        type: "scatter", mode: "markers", x: mins.map((m) => m.point[0]), y: mins.map((m) => m.point[1]),
        marker: { symbol: "star", size: 12, color: "#0f172a", line: { color: "#fff", width: 1 } },
        hovertemplate: "minimum %{x:.3g}, %{y:.3g}<extra></extra>", name: "minima",
      });
    }
  }
  lab.surfaceCache = { key, traces };
  return traces;
}

export function surfaceLayout(extra = {}) {
  const layout = baseLayout({ margin: { l: 50, r: 12, t: 8, b: 46 }, ...extra });
  const box = lab.info.box || [];
  if (box[0]) layout.xaxis = { ...layout.xaxis, range: box[0], title: axisTitle((lab.info.params || ["x"])[0]) };
  if (lab.info.dim === 2 && box[1]) {
    layout.yaxis = { ...layout.yaxis, range: box[1], title: axisTitle((lab.info.params || ["x", "y"])[1]) };
  } else if (lab.info.dim === 1 && lab.info.surface) {
    const z = finite(lab.info.surface.z);
    const lo = Math.min(...z), hi = Math.max(...z), pad = 0.06 * (hi - lo || 1);
    layout.yaxis = { ...layout.yaxis, range: [lo - pad, hi + pad], title: axisTitle("cost") };
  }
  return layout;
}

/** The path of a run over the surface: positions, and the costs there for a 1-D curve. */
export function pathXY(run) {
  if (!run.params) return { x: [], y: [] };
  const x = run.params.map((p) => p[0]);
  const y = lab.info.dim === 1 ? run.losses.slice(0, x.length) : run.params.map((p) => p[1]);
  return { x, y };
}

export function pathTraces(run, color, { dash = "solid", upto = null, name = "path" } = {}) {
  const { x, y } = pathXY(run);
  const n = upto === null ? x.length : upto + 1;
  return [
    {
      type: "scatter", mode: "lines+markers", x: x.slice(0, n), y: y.slice(0, n), name,
      line: { color, width: 2, dash }, marker: { color, size: 5, line: { color: "#fff", width: 0.8 } },
      hovertemplate: "step %{pointNumber}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
    },
    {
      type: "scatter", mode: "markers", x: [x[n - 1]], y: [y[n - 1]], hoverinfo: "skip", name: "now",
      marker: { color, size: 12, line: { color: "#0f172a", width: 1.5 } },
    },
  ];
}

export function png(div, name) {
  const node = typeof div === "string" ? $(div) : div;
  if (!node || !node.data) return;
  Plotly.downloadImage(node, {
    format: "png", scale: 2, width: node.clientWidth, height: node.clientHeight,
    filename: `lrlab-${slug(state.objective)}-${name}`,
  });
}

// Plots follow their boxes: the grid changes with the objective and the view, not only the window.
export const resized = new Set();
export const observer = new ResizeObserver((entries) => {
  for (const e of entries) resized.add(e.target);
  requestAnimationFrame(() => {
    for (const node of resized) if (node.data && node.offsetParent !== null) Plotly.Plots.resize(node);
    resized.clear();
  });
});
export const observe = (node) => { if (!node.dataset.observed) { node.dataset.observed = "1"; observer.observe(node); } };

export function resizeVisible() {
  const view = $(`view-${state.view}`);
  for (const node of view.querySelectorAll(".js-plotly-plot")) Plotly.Plots.resize(node);
}

export function emptyPlots() {
  const layout = baseLayout({ xaxis: { visible: false }, yaxis: { visible: false } });
  for (const id of ["plot-path", "plot-cost", "plot-steps"]) Plotly.newPlot(id, [], layout, CONFIG);
  Plotly.newPlot("plot-log", [], { ...layout, annotations: [{ text: "The loss curve of a dropped log appears here.",
    xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#94a3b8" } }] },
  { ...CONFIG, displayModeBar: false });
  for (const id of ["plot-path", "plot-cost", "plot-steps", "plot-sweep", "plot-heatmap", "plot-history", "plot-log"]) observe($(id));
  $("plot-path").on("plotly_click", setStartFromPlot);
}
