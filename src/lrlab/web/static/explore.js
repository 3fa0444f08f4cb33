/* Explore: one learning rate, the path, the cost and the step lengths, played step by step. */
import { aborted, api, busy, complain, fresh } from "./api.js";
import { $, badge, csv, debounce, download, fmt, runRows, slug } from "./dom.js";
import { configureSlider } from "./objective.js";
import { axisTitle, baseLayout, logScale, pathTraces, pathXY, surfaceLayout, surfaceTraces } from "./plots.js";
import { CONFIG, context, lab, optimizer, regimeColor, request, state, writeURL } from "./state.js";

// ---------------------------------------------------------------------------------------
// Explore: one learning rate, the path, the cost and the step lengths.

export async function runExplore() {
  if (!lab.info) return;
  const signal = fresh("run");
  busy(+1);
  try {
    const run = await api("/api/run", request({ lr: state.lr, ...optimizer() }), signal);
    lab.lastRun = run;
    lab.lastRun.key = context();
    stopAnimation();
    renderRun(run);
  } catch (e) {
    if (!aborted(e)) {
      complain(e.message);
      $("advice").textContent = e.message;
      badge($("badge"), null);
    }
  } finally {
    busy(-1);
  }
}
export const runSoon = debounce(runExplore, 60);

export function verdict(prefix, d, facts) {
  badge($(`${prefix}badge`), d.regime);
  $(`${prefix}confidence`).textContent = `confidence ${Math.round(100 * d.confidence)}%`;
  $(`${prefix}facts`).textContent = facts;
  $(`${prefix}advice`).textContent = d.advice;
}

export function renderRun(run) {
  const color = regimeColor(run.regime) || "#334155";
  const n = run.losses.length - 1;
  const facts = [`α = ${fmt(run.lr, 4)}`, `${run.steps} steps`,
    run.diverged_at !== null ? `diverged at step ${run.diverged_at}` : `final cost ${fmt(run.final_loss, 4)}`];
  verdict("", run.diagnosis, facts.join(" · "));
  const next = run.diagnosis.next_lr;
  const btn = $("next-lr");
  btn.hidden = !(next && Number.isFinite(next));
  if (!btn.hidden) { btn.textContent = `Try α = ${fmt(next)}`; btn.dataset.lr = next; }

  if (lab.info.surface) {
    $("path-title").textContent = lab.info.dim === 1 ? "Path on the cost curve" : "Path on the contour";
    Plotly.react("plot-path", [...surfaceTraces(), ...pathTraces(run, color)], surfaceLayout(), CONFIG);
    const { x, y } = pathXY(run);
    const out = (v, [lo, hi]) => v === null || v < lo || v > hi;
    const outside = lab.info.box && x.some((v, i) => out(v, lab.info.box[0]) || (lab.info.dim === 2 && out(y[i], lab.info.box[1])));
    $("path-note").hidden = !outside;
    $("path-note").textContent = outside ? "The path leaves the plotted region." : "";
  }
  const steps = [...Array(n + 1).keys()];
  const costLayout = baseLayout({
    xaxis: { ...baseLayout().xaxis, title: axisTitle("iteration") },
    yaxis: { ...baseLayout().yaxis, title: axisTitle("cost"), type: logScale(run.losses) ? "log" : "linear",
      exponentformat: "power" },
  });
  const floor = run.floor;
  const costTraces = [
    { type: "scatter", mode: "lines", x: steps, y: run.losses, line: { color, width: 2 }, name: "cost",
      hovertemplate: "step %{x}<br>cost %{y:.4g}<extra></extra>" },
    { type: "scatter", mode: "markers", x: [n], y: [run.losses[n]], marker: { color, size: 9, line: { color: "#0f172a", width: 1.2 } },
      hoverinfo: "skip", name: "now" },
  ];
  if (floor !== null && Number.isFinite(floor) && (costLayout.yaxis.type !== "log" || floor > 0)) {
    costLayout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: floor, y1: floor,
      line: { color: "#94a3b8", width: 1, dash: "dot" } }];
    costLayout.annotations = [{ xref: "paper", x: 1, y: floor, yanchor: "bottom", xanchor: "right", showarrow: false,
      text: "best reachable", font: { size: 10, color: "#64748b" } }];
  }
  Plotly.react("plot-cost", costTraces, costLayout, CONFIG);
  const stepLayout = baseLayout({
    xaxis: { ...baseLayout().xaxis, title: axisTitle("iteration") },
    yaxis: { ...baseLayout().yaxis, title: axisTitle("step length"), type: logScale(run.step_sizes) ? "log" : "linear",
      exponentformat: "power" },
  });
  Plotly.react("plot-steps", [
    { type: "scatter", mode: "lines", x: steps.slice(0, n), y: run.step_sizes, line: { color, width: 2 }, name: "step",
      hovertemplate: "step %{x}<br>length %{y:.4g}<extra></extra>" },
    { type: "scatter", mode: "markers", x: [n - 1], y: [run.step_sizes[n - 1]], marker: { color, size: 9, line: { color: "#0f172a", width: 1.2 } },
      hoverinfo: "skip", name: "now" },
  ], stepLayout, CONFIG);
  const scrub = $("scrub");
  scrub.max = n;
  scrub.value = n;
  $("scrub-label").textContent = `${n}/${n}`;
}

/** Show the run up to step k (the animation and the step scrubber). */
export function showStep(k) {
  const run = lab.lastRun;
  if (!run) return;
  const n = run.losses.length - 1;
  k = Math.max(0, Math.min(n, k));
  $("scrub").value = k;
  $("scrub-label").textContent = `${k}/${n}`;
  if (lab.info.surface && run.params) {
    const { x, y } = pathXY(run);
    Plotly.restyle("plot-path", { x: [x.slice(0, k + 1), [x[k]]], y: [y.slice(0, k + 1), [y[k]]] },
      [surfaceTraces().length, surfaceTraces().length + 1]);
  }
  Plotly.restyle("plot-cost", { x: [[k]], y: [[run.losses[k]]] }, [1]);
  const j = Math.max(0, Math.min(k, n - 1));
  Plotly.restyle("plot-steps", { x: [[j]], y: [[run.step_sizes[j]]] }, [1]);
}

export function stopAnimation() {
  if (lab.anim) clearInterval(lab.anim);
  lab.anim = null;
  $("play").textContent = "▶ Play";
  $("play").title = "Play the path step by step";
}

export function play() {
  if (lab.anim) { stopAnimation(); return; }
  if (!lab.lastRun) return;
  const n = lab.lastRun.losses.length - 1;
  let k = Number($("scrub").value) >= n ? 0 : Number($("scrub").value);
  const frames = Math.min(n, 150);
  const stride = Math.max(1, Math.round(n / frames));
  const interval = Math.max(25, Math.round(4000 / Math.ceil(n / stride)));
  showStep(k);
  $("play").textContent = "❚❚ Pause";
  $("play").title = "Pause the animation";
  lab.anim = setInterval(() => {
    k = Math.min(n, k + stride);
    showStep(k);
    if (k >= n) stopAnimation();
  }, interval);
}

export function setLR(lr, { run = true } = {}) {
  if (!(lr > 0) || !Number.isFinite(lr)) return;
  state.lr = lr;
  const slider = $("lr-slider");
  const v = Math.log10(lr);
  if (v < Number(slider.min) || v > Number(slider.max)) configureSlider();
  slider.value = v;
  $("lr-value").value = fmt(lr, 4);
  $("lr-value").removeAttribute("aria-invalid");
  writeURL();
  if (run && state.view === "explore") runSoon();
}

export function exportRun(kind) {
  if (!lab.lastRun) return;
  const name = `lrlab-${slug(state.objective)}-lr${fmt(lab.lastRun.lr)}`;
  if (kind === "json") download(`${name}.json`, JSON.stringify(lab.lastRun, null, 1), "application/json");
  else download(`${name}.csv`, csv(runRows(lab.lastRun, false)), "text/csv");
}
