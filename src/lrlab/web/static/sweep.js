/* Sweep: final cost against the learning rate, coloured by regime, with the 1/L and 2/L marks. */
import { aborted, api, busy, complain, fresh } from "./api.js";
import { setView } from "./app.js";
import { $, csv, download, el, finite, fmt, parseList, parseNumber, slug } from "./dom.js";
import { setLR } from "./explore.js";
import { axisTitle, baseLayout } from "./plots.js";
import { CONFIG, context, lab, regimeColor, regimeLabel, regimeNames, request, state, writeURL } from "./state.js";

// ---------------------------------------------------------------------------------------
// Sweep: final cost against the learning rate, coloured by regime.

export async function runSweep() {
  if (!lab.info) return;
  const lo = parseNumber($("sweep-lo").value);
  const hi = parseNumber($("sweep-hi").value);
  const num = parseNumber($("sweep-num").value);
  state.lo = lo && lo > 0 ? lo : null;
  state.hi = hi && hi > 0 ? hi : null;
  state.num = num && num >= 2 ? Math.round(num) : null;
  writeURL();
  // Left empty, the lab picks how many: 40, or fewer where the objective's limits allow fewer.
  const body = request(state.num ? { num: Math.min(state.num, lab.info.limits.lanes) } : {});
  if (state.lo) body.lr_min = state.lo;
  if (state.hi) body.lr_max = state.hi;
  const signal = fresh("sweep");
  busy(+1);
  try {
    const d = await api("/api/sweep", body, signal);
    lab.lastSweep = { data: d, key: context() };
    $("sweep-num").placeholder = String(d.runs.length);
    renderSweep(d);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

export function renderSweep(d) {
  const runs = d.runs;
  const finals = finite(runs.map((r) => r.final_loss));
  const log = finals.length > 0 && finals.every((v) => v > 0);
  const top = finals.length ? (log ? Math.max(...finals) * 3 : Math.max(...finals) + 0.1 * ((Math.max(...finals) - Math.min(...finals)) || 1)) : 1;
  const traces = [];
  for (const regime of regimeNames()) {
    const rs = runs.filter((r) => r.regime === regime);
    if (!rs.length) continue;
    traces.push({
      type: "scatter", mode: "markers", name: regimeLabel(regime),
      x: rs.map((r) => r.lr), y: rs.map((r) => (r.final_loss === null ? top : r.final_loss)),
      customdata: rs.map((r) => r.lr),
      text: rs.map((r) => (r.final_loss === null ? `diverged at step ${r.diverged_at}` : `final cost ${fmt(r.final_loss, 4)}`)),
      marker: { color: regimeColor(regime), size: 10, symbol: rs.map((r) => (r.final_loss === null ? "x" : "circle")),
        line: { color: "#fff", width: 1 } },
      hovertemplate: `α = %{x:.3g}<br>%{text}<br>${regimeLabel(regime)}<extra></extra>`,
    });
  }
  const m = d.marks;
  const shapes = [], annotations = [];
  for (const [x, label, dash] of [[m.one_over_L, "1/L", "dot"], [m.two_over_L, "2/L", "dash"]]) {
    if (!x) continue;
    shapes.push({ type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { color: "#0f172a", width: 1.2, dash } });
    annotations.push({ x: Math.log10(x), xref: "x", yref: "paper", y: 1, yanchor: "bottom", showarrow: false, text: label,
      font: { size: 11, color: "#0f172a" } });
  }
  const best = runs.find((r) => r.lr === d.best_lr);
  if (best && best.final_loss !== null) {
    annotations.push({ x: Math.log10(best.lr), y: log ? Math.log10(best.final_loss) : best.final_loss, text: "best",
      arrowhead: 0, ax: 0, ay: 28, font: { size: 11 } });
  }
  Plotly.react("plot-sweep", traces, baseLayout({
    margin: { l: 60, r: 16, t: 22, b: 44 }, shapes, annotations,
    xaxis: { ...baseLayout().xaxis, type: "log", title: axisTitle("learning rate α"), exponentformat: "power" },
    yaxis: { ...baseLayout().yaxis, type: log ? "log" : "linear", title: axisTitle("final cost"), exponentformat: "power" },
  }), CONFIG);
  const gd = $("plot-sweep");
  if (!gd.dataset.clicks) {
    gd.dataset.clicks = "1";
    gd.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (p && Number.isFinite(p.customdata)) { setLR(p.customdata, { run: false }); setView("explore"); }
    });
  }
  const summary = [`Best α = ${fmt(d.best_lr, 4)}`, `${runs.length} learning rates × ${d.steps} steps`];
  if (m.sharpness !== null) summary.push(`L = ${fmt(m.sharpness)} (${m.where === "minimum" ? "at the minimum" : "at the start"}), 2/L = ${fmt(m.two_over_L)}`);
  $("sweep-summary").textContent = `${summary.join(" · ")}. Click a point to open that run.`;
  const legend = $("sweep-legend");
  legend.replaceChildren();
  for (const regime of regimeNames()) {
    const count = runs.filter((r) => r.regime === regime).length;
    if (!count) continue;
    legend.append(el("span", { dataset: { regime } }, el("i", { style: `background:${regimeColor(regime)}` }),
      `${regimeLabel(regime)} (${count})`));
  }
  if (!m.sharpness) legend.append(el("span", { class: "muted", text: "no 1/L and 2/L marks: the sharpness is unknown here" }));
}

export function exportSweep(kind) {
  if (!lab.lastSweep) return;
  const d = lab.lastSweep.data;
  const name = `lrlab-${slug(state.objective)}-sweep`;
  if (kind === "json") { download(`${name}.json`, JSON.stringify(d, null, 1), "application/json"); return; }
  const rows = [["lr", "final_loss", "regime", "diverged_at", "confidence"]];
  for (const r of d.runs) rows.push([r.lr, r.final_loss, r.regime, r.diverged_at, r.confidence]);
  download(`${name}.csv`, csv(rows), "text/csv");
}

// ---------------------------------------------------------------------------------------
// Heatmap: learning rate x momentum, each cell one run of one batched sweep, coloured by its
// regime as the library diagnosed it, with the stability boundary the library gives.

export async function runHeatmap() {
  if (!lab.info) return;
  const values = parseList($("heatmap-values").value);
  if (!values || !values.length || values.some((v) => !(v >= 0 && v < 1))) {
    $("heatmap-values").setAttribute("aria-invalid", "true");
    complain("momentum values: give numbers from 0 to below 1, separated by commas");
    return;
  }
  $("heatmap-values").removeAttribute("aria-invalid");
  const rows = [...new Set(values)].slice(0, 12);
  const name = state.optimizer === "rmsprop" ? "rmsprop" : "sgd";
  const body = request({ optimizer: { name, momentum: rows } });
  // Every pair is a run: the learning rates shrink so that the pairs stay within the lanes
  // (left out, the lab picks as many as the limits allow, 40 at most).
  if (state.num) body.num = Math.max(2, Math.min(state.num, Math.floor(lab.info.limits.lanes / rows.length)));
  if (state.lo) body.lr_min = state.lo;
  if (state.hi) body.lr_max = state.hi;
  const signal = fresh("heatmap");
  busy(+1);
  try {
    const d = await api("/api/heatmap", body, signal);
    lab.lastHeatmap = { data: d, key: context() };
    renderHeatmap(d);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

export function renderHeatmap(d) {
  const names = regimeNames();
  const n = Math.max(1, names.length);
  // A stepped colour scale: regime k fills [k/n, (k+1)/n]; a cell holds k + 0.5.
  const colorscale = [];
  names.forEach((r, k) => { colorscale.push([k / n, regimeColor(r)], [(k + 1) / n, regimeColor(r)]); });
  const x = d.lrs.map((lr) => Math.log10(lr));
  const y = d.values.map((v) => String(v));
  const z = d.regimes.map((row) => row.map((r) => names.indexOf(r) + 0.5));
  const text = d.regimes.map((row, i) => row.map((r, j) => {
    const c = d.costs[i][j];
    return `α = ${fmt(d.lrs[j], 4)}<br>${d.name} = ${d.values[i]}<br>${regimeLabel(r)}<br>` +
      (c === null ? "diverged" : `final cost ${fmt(c, 4)}`);
  }));
  const traces = [{
    type: "heatmap", x, y, z, text, zmin: 0, zmax: n, colorscale, showscale: false, xgap: 1, ygap: 1,
    hovertemplate: "%{text}<extra></extra>", name: "runs",
  }];
  if (d.boundary) {
    const pts = d.boundary.map((b, i) => [b, y[i]]).filter(([b]) => b !== null && b > 0);
    traces.push({
      type: "scatter", mode: "lines+markers", name: "stability boundary (2 + 2β)/L",
      x: pts.map(([b]) => Math.log10(b)), y: pts.map(([, v]) => v),
      line: { color: "#0f172a", width: 2, dash: "dash" }, marker: { size: 6, color: "#0f172a" },
      hovertemplate: "boundary α = %{customdata:.3g}<extra></extra>", customdata: pts.map(([b]) => b),
    });
  }
  const half = x.length > 1 ? (x[x.length - 1] - x[0]) / (x.length - 1) / 2 : 0.1;  // the cells' edges
  Plotly.react("plot-heatmap", traces, baseLayout({
    margin: { l: 60, r: 16, t: 22, b: 44 }, showlegend: Boolean(d.boundary),
    legend: { orientation: "h", y: 1.08, x: 0 },
    xaxis: { ...baseLayout().xaxis, title: axisTitle("log₁₀ learning rate α"), range: [x[0] - half, x[x.length - 1] + half] },
    yaxis: { ...baseLayout().yaxis, type: "category", title: axisTitle(d.name) },
  }), CONFIG);
  const gd = $("plot-heatmap");
  if (!gd.dataset.clicks) {
    gd.dataset.clicks = "1";
    gd.on("plotly_click", (ev) => {
      const p = ev.points && ev.points.find((q) => q.data.type === "heatmap");
      const h = lab.lastHeatmap && lab.lastHeatmap.data;
      if (!p || !h) return;
      const [i, j] = p.pointIndex;
      openCell(h, i, j);
    });
  }
  const best = d.best;
  const summary = [`Best α = ${fmt(best.lr, 4)} with ${d.name} = ${best[d.name]}`,
    `${d.lrs.length} learning rates × ${d.values.length} values × ${d.steps} steps`];
  if (d.sharpness !== null) summary.push(`L = ${fmt(d.sharpness)}`);
  $("heatmap-summary").textContent = `${summary.join(" · ")}. Click a cell to open that run.`;
  const legend = $("heatmap-legend");
  legend.replaceChildren();
  for (const regime of names) {
    const count = d.regimes.flat().filter((r) => r === regime).length;
    if (!count) continue;
    legend.append(el("span", { dataset: { regime } }, el("i", { style: `background:${regimeColor(regime)}` }),
      `${regimeLabel(regime)} (${count})`));
  }
  if (!d.boundary) legend.append(el("span", { class: "muted", text: "no stability boundary: the sharpness is unknown here" }));
}

/** Open the run of row i (the hyperparameter's value) and column j (the learning rate) in Explore. */
export function openCell(d, i, j) {
  state.optimizer = d.optimizer.name;
  state.momentum = d.values[i];
  $("optimizer").value = state.optimizer;
  $("momentum").value = String(state.momentum);
  $("momentum-value").textContent = String(state.momentum);
  setLR(d.lrs[j], { run: false });
  setView("explore");
}

export function exportHeatmap() {
  if (!lab.lastHeatmap) return;
  download(`lrlab-${slug(state.objective)}-heatmap.json`, JSON.stringify(lab.lastHeatmap.data, null, 1), "application/json");
}
