/* History: the records in the store, newest first; open one to see its curves or landscape,
 * tick two sweeps to draw both on one landscape. */
import { aborted, api, busy, complain, fresh } from "./api.js";
import { $, el, fmt } from "./dom.js";
import { axisTitle, baseLayout, logScale } from "./plots.js";
import { CONFIG, DASHES, lab, regimeColor, regimeLabel } from "./state.js";

const SYMBOLS = ["circle", "diamond", "square", "triangle-up"];

export async function loadHistory() {
  const signal = fresh("history");
  busy(+1);
  try {
    const d = await api("/api/history", undefined, signal);
    lab.history = d;
    renderList(d);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

function picked() {
  return Array.from(document.querySelectorAll("#history-table input[type=checkbox]:checked")).map((c) => c.value);
}

function renderList(d) {
  $("history-store").textContent = d.store ? `store: ${d.store}${d.recording ? "" : " (not recording)"}` : "";
  $("history-problem").hidden = !d.problem;
  $("history-problem").textContent = d.problem || "";
  const body = document.querySelector("#history-table tbody");
  body.replaceChildren();
  for (const r of d.records) {
    const box = el("input", { type: "checkbox", value: r.id, "aria-label": `pick sweep ${r.id}`, disabled: r.kind !== "sweep" || r.status !== "done" });
    box.addEventListener("change", () => {
      const ids = picked();
      $("history-both").disabled = ids.length !== 2;
    });
    const open = el("button", { type: "button", class: "link mono", text: r.id, title: `Open record ${r.id}` });
    open.addEventListener("click", () => openRecord(r.id));
    body.append(el("tr", { dataset: { id: r.id, kind: r.kind } },
      el("td", {}, box), el("td", {}, open), el("td", { text: r.kind }), el("td", { class: "mono", text: r.objective }),
      el("td", { text: r.status }), el("td", { class: "num", text: r.created.replace("T", " ").replace("+00:00", " UTC") })));
  }
  if (!d.records.length) {
    body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: d.problem ? "No records to show." : "No records yet: sweeps made here, and runs and sweeps of the lrlab command, appear here." })));
  }
  $("history-both").disabled = true;
}

async function fetchRecord(id, signal) {
  return api(`/api/history/${encodeURIComponent(id)}`, undefined, signal);
}

export async function openRecord(id) {
  const signal = fresh("history-record");
  busy(+1);
  try {
    const rec = await fetchRecord(id, signal);
    lab.lastRecord = rec;
    const out = rec.output || {};
    if (rec.kind === "sweep" && out.runs) drawLandscape([rec]);
    else if (rec.kind === "run" && out.losses) drawRun(rec);
    else drawNothing(rec);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

export async function openBoth() {
  const ids = picked();
  if (ids.length !== 2) return;
  const signal = fresh("history-record");
  busy(+1);
  try {
    const recs = await Promise.all(ids.map((id) => fetchRecord(id, signal)));
    drawLandscape(recs);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

function title(rec) {
  return `${rec.id} · ${rec.kind} of ${rec.objective} · ${rec.steps} steps`;
}

/** Final cost against the learning rate, one series per sweep, each point coloured by regime. */
function drawLandscape(recs) {
  const traces = [];
  const finals = recs.flatMap((r) => r.output.runs.map((x) => x.final_loss)).filter((v) => v !== null);
  const log = finals.length > 0 && finals.every((v) => v > 0);
  const top = finals.length ? (log ? Math.max(...finals) * 3 : Math.max(...finals) + 1) : 1;
  // One series per sweep, and per value of a swept hyperparameter (a heatmap's rows).
  const series = recs.flatMap((rec) => {
    const swept = Object.keys(rec.output.best || {}).find((key) => key !== "lr");
    if (!swept) return [{ rec, runs: rec.output.runs, name: `${rec.id} (${rec.objective})` }];
    const values = [...new Set(rec.output.runs.map((r) => r[swept]))];
    return values.map((v) => ({ rec, runs: rec.output.runs.filter((r) => r[swept] === v), name: `${rec.id} ${swept} = ${v}` }));
  });
  series.forEach(({ rec, runs: rows, name }, k) => {
    const runs = [...rows].sort((a, b) => a.lr - b.lr);
    traces.push({
      type: "scatter", mode: "lines+markers", name,
      x: runs.map((r) => r.lr), y: runs.map((r) => (r.final_loss === null ? top : r.final_loss)),
      text: runs.map((r) => `${regimeLabel(r.regime)}${r.momentum !== undefined ? ` · momentum ${r.momentum}` : ""}` +
        (r.final_loss === null ? ` · diverged at step ${r.diverged_at}` : "")),
      line: { color: "#94a3b8", width: 1, dash: DASHES[k % DASHES.length] },
      marker: { size: 9, color: runs.map((r) => regimeColor(r.regime)), symbol: SYMBOLS[k % SYMBOLS.length],
        line: { color: "#0f172a", width: 1 } },
      hovertemplate: `${rec.id}<br>α = %{x:.3g}<br>final cost %{y:.4g}<br>%{text}<extra></extra>`,
    });
  });
  Plotly.react("plot-history", traces, baseLayout({
    margin: { l: 60, r: 16, t: 22, b: 44 }, showlegend: true, legend: { orientation: "h", y: 1.1, x: 0 },
    xaxis: { ...baseLayout().xaxis, type: "log", title: axisTitle("learning rate α"), exponentformat: "power" },
    yaxis: { ...baseLayout().yaxis, type: log ? "log" : "linear", title: axisTitle("final cost"), exponentformat: "power" },
  }), CONFIG);
  $("history-title").textContent = recs.length === 1
    ? `${title(recs[0])} · best α = ${fmt(recs[0].output.best_lr, 4)}${recs[0].note ? ` · ${recs[0].note}` : ""}`
    : `Two sweeps on one landscape: ${recs.map(title).join(" and ")}`;
}

/** A run's cost curve. */
function drawRun(rec) {
  const out = rec.output;
  const color = regimeColor(out.regime);
  Plotly.react("plot-history", [{
    type: "scatter", mode: "lines", name: "cost", x: out.losses.map((_, t) => t), y: out.losses,
    line: { color, width: 2 }, hovertemplate: "step %{x}<br>cost %{y:.4g}<extra></extra>",
  }], baseLayout({
    margin: { l: 60, r: 16, t: 22, b: 44 },
    xaxis: { ...baseLayout().xaxis, title: axisTitle("iteration") },
    yaxis: { ...baseLayout().yaxis, title: axisTitle("cost"), type: logScale(out.losses) ? "log" : "linear", exponentformat: "power" },
  }), CONFIG);
  $("history-title").textContent = `${title(rec)} · α = ${fmt(out.lr, 4)} · ${regimeLabel(out.regime)}`;
}

function drawNothing(rec) {
  Plotly.react("plot-history", [], baseLayout({ xaxis: { visible: false }, yaxis: { visible: false } }), CONFIG);
  const what = rec.status !== "done" ? `it is ${rec.status}` : "runs and sweeps have pictures";
  $("history-title").textContent = `${title(rec)} · no picture: ${what}`;
}
