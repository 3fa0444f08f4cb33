/* Sweep: final cost against the learning rate, coloured by regime, with the 1/L and 2/L marks. */
import { aborted, api, busy, complain, fresh } from "./api.js";
import { setView } from "./app.js";
import { $, csv, download, el, finite, fmt, parseNumber, slug } from "./dom.js";
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
  const body = request({ num: Math.min(state.num || 40, lab.info.limits.lanes) });
  if (state.lo) body.lr_min = state.lo;
  if (state.hi) body.lr_max = state.hi;
  const signal = fresh("sweep");
  busy(+1);
  try {
    const d = await api("/api/sweep", body, signal);
    lab.lastSweep = { data: d, key: context() };
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
