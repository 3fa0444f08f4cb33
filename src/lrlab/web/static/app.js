/* lrlab web lab: the entry module. Views, wiring and start-up. The page talks to the JSON API
 * under /api; every picture is drawn with the Plotly.js bundled in the plotly Python package and
 * served by lrlab itself. ES modules, one per view, no build step. */
import { api, complain } from "./api.js";
import { defaultLrs, exportCompare, runCompare, runPictures } from "./compare.js";
import { uploadLog } from "./diagnose.js";
import { $, debounce, download, fmt, parseList, parseNumber, round3, slug } from "./dom.js";
import { exportRun, play, runSoon, setLR, showStep, stopAnimation } from "./explore.js";
import { fillPicker, loadObjective, syncPicker } from "./objective.js";
import { emptyPlots, png, resizeVisible } from "./plots.js";
import { VIEWS, context, lab, readURL, setRegimes, state, writeURL } from "./state.js";
import { suggest } from "./suggest.js";
import { loadHistory, openBoth } from "./history.js";
import { exportHeatmap, exportSweep, runHeatmap, runSweep } from "./sweep.js";

// ---------------------------------------------------------------------------------------
// Views.

export function setView(view) {
  if (!VIEWS.includes(view)) view = "explore";
  state.view = view;
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== view;
    $(`tab-${v}`).setAttribute("aria-selected", String(v === view));
    $(`tab-${v}`).tabIndex = v === view ? 0 : -1;
  }
  document.querySelector(".shell").classList.toggle("full", view === "diagnose" || view === "history");
  if (view !== "explore") stopAnimation();
  writeURL();
  refreshView();
  requestAnimationFrame(resizeVisible);
}

export function refreshView() {
  if (state.view === "history") { if (!lab.history) loadHistory(); return; }
  if (!lab.info) return;
  if (state.view === "explore") {
    if (!lab.lastRun || lab.lastRun.key !== context() || lab.lastRun.lr !== state.lr) runSoon();
  } else if (state.view === "compare") {
    if (!$("compare-lrs").value || !lab.lastCompare || lab.lastCompare.key !== context()) {
      if (!state.lrs) state.lrs = defaultLrs();
      $("compare-lrs").value = state.lrs.map((v) => fmt(v, 3)).join(", ");
      if (!lab.lastCompare || lab.lastCompare.key !== context()) {
        if (lab.lastCompare && lab.lastCompare.kind === "pictures") runPictures(); else runCompare();
      }
    }
  } else if (state.view === "sweep") {
    $("sweep-lo").value = state.lo ? fmt(state.lo) : "";
    $("sweep-hi").value = state.hi ? fmt(state.hi) : "";
    $("sweep-num").value = state.num ? Math.min(state.num, lab.info.limits.lanes) : "";
    $("sweep-num").max = lab.info.limits.lanes;
    if (!lab.lastSweep || lab.lastSweep.key !== context()) runSweep();
  }
}

// ---------------------------------------------------------------------------------------
// Wiring.

export function setStartFromPlot(ev) {
  if (!lab.info || !lab.info.surface) return;
  const gd = $("plot-path");
  let x = null, y = null;
  try {
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.getBoundingClientRect();
    x = xa.p2d(ev.event.clientX - box.left - xa._offset);
    y = ya.p2d(ev.event.clientY - box.top - ya._offset);
  } catch (_) {
    const p = ev.points && ev.points[0];
    if (p) { x = p.x; y = p.y; }
  }
  if (!Number.isFinite(x)) return;
  state.start = lab.info.dim === 1 ? [Number(x.toFixed(3))] : [Number(x.toFixed(3)), Number(y.toFixed(3))];
  $("start").value = state.start.join(", ");
  $("start").removeAttribute("aria-invalid");
  lab.lastCompare = null; lab.lastSweep = null;
  writeURL();
  runSoon();
}

function bind() {
  for (const v of VIEWS) $(`tab-${v}`).addEventListener("click", () => setView(v));
  document.querySelector(".tabs").addEventListener("keydown", (e) => {
    const i = VIEWS.indexOf(state.view);
    const j = e.key === "ArrowRight" ? (i + 1) % VIEWS.length : e.key === "ArrowLeft" ? (i + VIEWS.length - 1) % VIEWS.length : -1;
    if (j >= 0) { setView(VIEWS[j]); $(`tab-${VIEWS[j]}`).focus(); }
  });

  $("objective-pick").addEventListener("change", (e) => {
    if (!e.target.value) { $("objective-text").value = ""; $("objective-text").focus(); return; }
    state.objective = e.target.value;
    state.start = null;
    $("objective-text").value = state.objective;
    loadObjective({ reset: true });
  });
  const typed = debounce(() => {
    const text = $("objective-text").value.trim();
    if (!text || text === state.objective) return;
    state.objective = text;
    state.start = null;
    syncPicker();
    loadObjective({ reset: true });
  }, 500);
  $("objective-text").addEventListener("input", typed);
  $("objective-text").addEventListener("keydown", (e) => { if (e.key === "Enter") typed(); });

  $("start").addEventListener("change", () => {
    const text = $("start").value.trim();
    if (!text) { state.start = null; }
    else {
      const v = parseList(text);
      if (!v || (lab.info && v.length !== lab.info.dim)) {
        $("start").setAttribute("aria-invalid", "true");
        complain(`start: give ${lab.info ? lab.info.dim : ""} numbers separated by commas`);
        return;
      }
      state.start = v;
    }
    $("start").removeAttribute("aria-invalid");
    lab.lastCompare = null; lab.lastSweep = null;
    writeURL();
    loadObjective();
  });
  $("start-reset").addEventListener("click", () => {
    state.start = null; $("start").value = ""; lab.lastCompare = null; lab.lastSweep = null; writeURL(); loadObjective();
  });
  $("steps").addEventListener("change", () => {
    const v = parseNumber($("steps").value);
    const max = lab.info ? lab.info.limits.steps : 5000;
    if (!v || v < 1) { $("steps").value = state.steps; return; }
    state.steps = Math.min(max, Math.round(v));
    $("steps").value = state.steps;
    writeURL();
    refreshView();
  });

  $("lr-slider").addEventListener("input", (e) => {
    state.lr = round3(10 ** Number(e.target.value));
    $("lr-value").value = fmt(state.lr, 4);
    writeURL();
    if (state.view === "explore") runSoon();
  });
  $("optimizer").addEventListener("change", (e) => { state.optimizer = e.target.value; writeURL(); refreshView(); });
  $("momentum").addEventListener("input", (e) => {
    state.momentum = Number(e.target.value);
    $("momentum-value").textContent = String(state.momentum);
    writeURL();
    refreshView();
  });
  $("lr-value").addEventListener("change", (e) => {
    const v = parseNumber(e.target.value);
    if (!(v > 0)) { e.target.setAttribute("aria-invalid", "true"); complain("learning rate: give a number > 0"); return; }
    setLR(v);
  });
  $("next-lr").addEventListener("click", (e) => setLR(round3(Number(e.target.dataset.lr))));

  $("play").addEventListener("click", play);
  $("scrub").addEventListener("input", (e) => { stopAnimation(); showStep(Number(e.target.value)); });
  $("export-run-csv").addEventListener("click", () => exportRun("csv"));
  $("export-run-json").addEventListener("click", () => exportRun("json"));
  $("compare-run").addEventListener("click", runCompare);
  $("compare-lrs").addEventListener("keydown", (e) => { if (e.key === "Enter") runCompare(); });
  $("pictures-run").addEventListener("click", runPictures);
  $("export-compare-csv").addEventListener("click", () => exportCompare("csv"));
  $("export-compare-json").addEventListener("click", () => exportCompare("json"));
  $("sweep-run").addEventListener("click", runSweep);
  $("export-sweep-csv").addEventListener("click", () => exportSweep("csv"));
  $("export-sweep-json").addEventListener("click", () => exportSweep("json"));
  $("heatmap-run").addEventListener("click", runHeatmap);
  $("heatmap-values").addEventListener("keydown", (e) => { if (e.key === "Enter") runHeatmap(); });
  $("export-heatmap-json").addEventListener("click", exportHeatmap);
  $("history-refresh").addEventListener("click", loadHistory);
  $("history-both").addEventListener("click", openBoth);
  $("suggest").addEventListener("click", suggest);
  for (const b of document.querySelectorAll("button.png[data-plot]")) {
    b.addEventListener("click", () => png(b.dataset.plot, b.dataset.name));
  }

  const drop = $("drop");
  // A file dropped anywhere else must not replace the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  drop.addEventListener("dragenter", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) { $("log-column").value = ""; uploadLog(file); }
  });
  $("log-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) { $("log-column").value = ""; uploadLog(file); }
  });
  $("log-column").addEventListener("change", (e) => { if (lab.lastLog) uploadLog(lab.lastLog.file, e.target.value || null); });
  $("log-floor").addEventListener("change", () => { if (lab.lastLog) uploadLog(lab.lastLog.file, $("log-column").value || null); });
  $("export-log-json").addEventListener("click", () => {
    if (lab.lastLog) download(`lrlab-diagnosis-${slug(lab.lastLog.data.source)}.json`, JSON.stringify(lab.lastLog.data, null, 1), "application/json");
  });
  window.addEventListener("popstate", () => { readURL(); setView(state.view); });
}

async function init() {
  readURL();
  bind();
  emptyPlots();
  setView(state.view);
  $("objective-text").value = state.objective;
  $("optimizer").value = state.optimizer;
  $("momentum").value = String(state.momentum);
  $("momentum-value").textContent = String(state.momentum);
  try {
    const cat = await api("/api/catalogue");
    lab.limits = cat.limits || lab.limits;
    setRegimes(cat.regimes || []);
    fillPicker(cat.objectives);
    syncPicker();
    $("upload-limit").textContent = `${Math.round(lab.limits.upload_bytes / 2 ** 20)} MB`;
  } catch (e) {
    complain(e.message);
  }
  await loadObjective();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
