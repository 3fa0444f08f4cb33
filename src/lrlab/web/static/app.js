/* lrlab web lab: the page. Talks to the JSON API under /api; every picture is drawn with the
 * Plotly.js bundled in the plotly Python package and served by lrlab itself. */
"use strict";

(() => {
  // One colour per regime: the same palette as lrlab.plot.REGIME_COLORS (Okabe-Ito).
  const REGIME_COLORS = {
    diverging: "#D55E00", too_high: "#E69F00", good: "#009E73", too_low: "#0072B2", stuck: "#CC79A7",
  };
  const REGIME_LABELS = {
    diverging: "diverging", too_high: "too high", good: "good", too_low: "too low", stuck: "stuck",
  };
  const REGIMES = Object.keys(REGIME_COLORS);
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];
  const VIEWS = ["explore", "compare", "sweep", "diagnose"];
  const DEFAULT_OBJECTIVE = "himmelblau";
  const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  const CONFIG = {
    responsive: true, displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
      "hoverClosestCartesian", "hoverCompareCartesian"],
    toImageButtonOptions: { format: "png", scale: 2, filename: "lrlab" },
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    view: "explore", objective: DEFAULT_OBJECTIVE, lr: null, steps: null, start: null,
    lrs: null, lo: null, hi: null, num: null,
  };
  let info = null;           // the current objective, as /api/objective describes it
  let limits = { upload_bytes: 5 * 2 ** 20 };
  let lastRun = null;        // the explore view's run
  let lastCompare = null;    // {kind: "compare" | "pictures", data, key}
  let lastSweep = null;      // {data, key}
  let lastLog = null;        // {data, file}
  let anim = null;

  // ---------------------------------------------------------------------------------------
  // Small helpers.

  function fmt(x, digits = 3) {
    if (x === null || x === undefined || !Number.isFinite(x)) return "—";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits - 1).replace("e+", "e");
    return String(Number(x.toPrecision(digits)));
  }

  function round3(x) { return Number(x.toPrecision(3)); }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  function slug(text) {
    return String(text).replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "objective";
  }

  function parseNumber(text) {
    const v = Number(String(text).trim());
    return String(text).trim() !== "" && Number.isFinite(v) ? v : null;
  }

  function parseList(text) {
    const parts = String(text).split(/[,\s;]+/).filter(Boolean);
    const values = parts.map(parseNumber);
    return values.every((v) => v !== null) ? values : null;
  }

  function badge(node, regime) {
    node.dataset.regime = regime || "";
    node.textContent = regime ? REGIME_LABELS[regime] || regime : "—";
  }

  function finite(values) { return values.filter((v) => v !== null && Number.isFinite(v)); }

  // ---------------------------------------------------------------------------------------
  // The API.

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.detail ? body.detail : `request failed (HTTP ${status})`);
      this.status = status;
      this.body = body || {};
    }
  }

  const controllers = {};
  function fresh(key) {
    if (controllers[key]) controllers[key].abort();
    controllers[key] = new AbortController();
    return controllers[key].signal;
  }
  const aborted = (e) => e && e.name === "AbortError";

  async function api(path, body, signal) {
    let init = { signal };
    if (body instanceof FormData) init = { method: "POST", body, signal };
    else if (body !== undefined) {
      init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal };
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  let busyCount = 0;
  function busy(delta) {
    busyCount = Math.max(0, busyCount + delta);
    const s = $("status");
    s.classList.toggle("busy", busyCount > 0);
    s.classList.remove("bad");
    s.textContent = busyCount > 0 ? "computing…" : "";
  }
  function complain(message) {
    const s = $("status");
    s.classList.add("bad");
    s.classList.remove("busy");
    s.textContent = message;
  }

  // ---------------------------------------------------------------------------------------
  // The page state lives in the URL, so a view can be shared.

  function readURL() {
    const q = new URLSearchParams(location.search || location.hash.replace(/^#/, ""));
    if (VIEWS.includes(q.get("view"))) state.view = q.get("view");
    if (q.get("objective")) state.objective = q.get("objective").slice(0, 2000);
    const lr = parseNumber(q.get("lr") ?? "");
    if (lr && lr > 0) state.lr = lr;
    const steps = parseNumber(q.get("steps") ?? "");
    if (steps && steps >= 1) state.steps = Math.round(steps);
    const start = q.get("start") ? parseList(q.get("start")) : null;
    if (start && start.length) state.start = start;
    const lrs = q.get("lrs") ? parseList(q.get("lrs")) : null;
    if (lrs && lrs.length && lrs.every((v) => v > 0)) state.lrs = lrs;
    for (const k of ["lo", "hi", "num"]) {
      const v = parseNumber(q.get(k) ?? "");
      if (v && v > 0) state[k] = v;
    }
  }

  function writeURL() {
    const q = new URLSearchParams();
    q.set("view", state.view);
    q.set("objective", state.objective);
    if (state.lr) q.set("lr", String(state.lr));
    if (state.steps) q.set("steps", String(state.steps));
    if (state.start) q.set("start", state.start.join(","));
    if (state.lrs) q.set("lrs", state.lrs.join(","));
    for (const k of ["lo", "hi", "num"]) if (state[k]) q.set(k, String(state[k]));
    history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
  }

  function context() {
    return JSON.stringify([state.objective, state.steps, state.start]);
  }

  function request(extra = {}) {
    const body = { objective: state.objective, steps: state.steps, ...extra };
    if (state.start) body.start = state.start;
    return body;
  }

  // ---------------------------------------------------------------------------------------
  // Plot building blocks.

  function baseLayout(extra = {}) {
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

  function axisTitle(text) { return { text, font: { size: 11, color: "#64748b" } }; }

  /** Log scale when the values are positive and span more than a couple of decades. */
  function logScale(values) {
    const f = finite(values);
    if (!f.length || f.some((v) => v <= 0)) return false;
    return Math.max(...f) / Math.min(...f) > 50;
  }

  let surfaceCache = null; // {name, traces}

  /** The curve (1-D) or contour (2-D) of the current objective, built once per objective. */
  function surfaceTraces() {
    if (!info || !info.surface) return [];
    const key = info.name + "|" + (info.surface.x || []).length;
    if (surfaceCache && surfaceCache.key === key) return surfaceCache.traces;
    const s = info.surface;
    let traces;
    if (info.dim === 1) {
      traces = [{
        type: "scatter", mode: "lines", x: s.x, y: s.z, line: { color: "#334155", width: 2 },
        hovertemplate: "x = %{x:.4g}<br>cost = %{y:.4g}<extra></extra>", name: "cost",
      }];
      const mins = info.minima || [];
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
      const mins = info.minima || [];
      if (mins.length) {
        traces.push({
          type: "scatter", mode: "markers", x: mins.map((m) => m.point[0]), y: mins.map((m) => m.point[1]),
          marker: { symbol: "star", size: 12, color: "#0f172a", line: { color: "#fff", width: 1 } },
          hovertemplate: "minimum %{x:.3g}, %{y:.3g}<extra></extra>", name: "minima",
        });
      }
    }
    surfaceCache = { key, traces };
    return traces;
  }

  function surfaceLayout(extra = {}) {
    const layout = baseLayout({ margin: { l: 50, r: 12, t: 8, b: 46 }, ...extra });
    const box = info.box || [];
    if (box[0]) layout.xaxis = { ...layout.xaxis, range: box[0], title: axisTitle((info.params || ["x"])[0]) };
    if (info.dim === 2 && box[1]) {
      layout.yaxis = { ...layout.yaxis, range: box[1], title: axisTitle((info.params || ["x", "y"])[1]) };
    } else if (info.dim === 1 && info.surface) {
      const z = finite(info.surface.z);
      const lo = Math.min(...z), hi = Math.max(...z), pad = 0.06 * (hi - lo || 1);
      layout.yaxis = { ...layout.yaxis, range: [lo - pad, hi + pad], title: axisTitle("cost") };
    }
    return layout;
  }

  /** The path of a run over the surface: positions, and the costs there for a 1-D curve. */
  function pathXY(run) {
    if (!run.params) return { x: [], y: [] };
    const x = run.params.map((p) => p[0]);
    const y = info.dim === 1 ? run.losses.slice(0, x.length) : run.params.map((p) => p[1]);
    return { x, y };
  }

  function pathTraces(run, color, { dash = "solid", upto = null, name = "path" } = {}) {
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

  function png(div, name) {
    const node = typeof div === "string" ? $(div) : div;
    if (!node || !node.data) return;
    Plotly.downloadImage(node, {
      format: "png", scale: 2, width: node.clientWidth, height: node.clientHeight,
      filename: `lrlab-${slug(state.objective)}-${name}`,
    });
  }

  // Plots follow their boxes: the grid changes with the objective and the view, not only the window.
  const resized = new Set();
  const observer = new ResizeObserver((entries) => {
    for (const e of entries) resized.add(e.target);
    requestAnimationFrame(() => {
      for (const node of resized) if (node.data && node.offsetParent !== null) Plotly.Plots.resize(node);
      resized.clear();
    });
  });
  const observe = (node) => { if (!node.dataset.observed) { node.dataset.observed = "1"; observer.observe(node); } };

  function resizeVisible() {
    const view = $(`view-${state.view}`);
    for (const node of view.querySelectorAll(".js-plotly-plot")) Plotly.Plots.resize(node);
  }

  // ---------------------------------------------------------------------------------------
  // Objective: picker, expression box, facts.

  function fillPicker(rows) {
    const pick = $("objective-pick");
    pick.replaceChildren();
    const groups = [["Functions", "catalogue"], ["Dataset problems", "dataset"]];
    for (const [label, kind] of groups) {
      const g = el("optgroup", { label });
      for (const r of rows.filter((r) => r.kind === kind)) {
        g.append(el("option", { value: r.name, text: kind === "dataset" ? `${r.name} (${r.dim.toLocaleString()} parameters)` : r.name }));
      }
      pick.append(g);
    }
    pick.append(el("optgroup", { label: "Expression" }, el("option", { value: "", text: "your own expression…" })));
  }

  function syncPicker() {
    const pick = $("objective-pick");
    const base = state.objective.split(":")[0];
    pick.value = [...pick.options].some((o) => o.value === base) ? base : "";
  }

  function showObjectiveError(err) {
    const box = $("objective-error");
    const input = $("objective-text");
    const body = err.body || {};
    input.setAttribute("aria-invalid", "true");
    if (Number.isInteger(body.position)) {
      const text = input.value;
      $("objective-caret").textContent = `${text}\n${" ".repeat(Math.min(body.position, text.length))}^`;
      $("objective-caret").hidden = false;
      $("objective-message").textContent = `Position ${body.position}: ${body.reason || err.message}`;
    } else {
      $("objective-caret").hidden = true;
      $("objective-message").textContent = err.message;
    }
    box.hidden = false;
  }

  function clearObjectiveError() {
    $("objective-error").hidden = true;
    $("objective-text").removeAttribute("aria-invalid");
  }

  function renderObjectiveInfo() {
    const p = $("objective-info");
    p.replaceChildren();
    if (info.formula) p.append(el("code", { text: info.formula }), " ");
    if (info.description) p.append(info.description + " ");
    const facts = [];
    if (info.kind === "dataset") facts.push(`${info.dim.toLocaleString()} parameters`);
    if (info.minimum !== null) facts.push(`minimum ${fmt(info.minimum, 4)}`);
    const m = info.marks;
    if (m.sharpness !== null) facts.push(`sharpness L = ${fmt(m.sharpness)} (${m.where === "minimum" ? "at the minimum" : "at the start"})`);
    if (facts.length) p.append(el("span", { class: "muted", text: facts.join(" · ") }));

    const analytic = info.kind !== "dataset";
    const startInput = $("start");
    startInput.disabled = !analytic || info.dim > 16;
    startInput.placeholder = analytic ? (info.start || []).map((v) => fmt(v, 4)).join(", ") : "the model's initial weights";
    startInput.value = state.start ? state.start.join(", ") : "";
    $("start-hint").hidden = !(analytic && info.dim <= 2);
    $("steps").max = info.limits.steps;
    $("steps").value = state.steps;
  }

  function configureSlider() {
    const slider = $("lr-slider");
    let [lo, hi] = info.lr_range.map(Math.log10);
    const v = Math.log10(state.lr);
    lo = Math.min(lo, v - 0.25);
    hi = Math.max(hi, v + 0.25);
    slider.min = lo.toFixed(4);
    slider.max = hi.toFixed(4);
    slider.step = ((hi - lo) / 1000).toFixed(6);
    slider.value = v;
    $("lr-value").value = fmt(state.lr, 4);
    const ticks = $("lr-ticks");
    ticks.replaceChildren();
    const m = info.marks;
    const text = [];
    if (m.one_over_L) {
      ticks.append(el("option", { value: Math.log10(m.one_over_L), label: "1/L" }));
      ticks.append(el("option", { value: Math.log10(m.two_over_L), label: "2/L" }));
      text.push(`1/L = ${fmt(m.one_over_L)}`, `2/L = ${fmt(m.two_over_L)}`);
    }
    $("lr-marks").textContent = text.join(" · ");
  }

  async function loadObjective({ reset = false } = {}) {
    const signal = fresh("objective");
    busy(+1);
    try {
      const body = { objective: state.objective };
      if (state.start) body.start = state.start;
      let d;
      try {
        d = await api("/api/objective", body, signal);
      } catch (e) {
        if (!(e instanceof ApiError) || !state.start || !/^start/.test(e.message)) throw e;
        // A start that does not fit this objective: say so, and use the default start.
        $("start").setAttribute("aria-invalid", "true");
        complain(e.message);
        state.start = null;
        d = await api("/api/objective", { objective: state.objective }, signal);
      }
      clearObjectiveError();
      const changed = !info || info.name !== d.name;
      info = d;
      surfaceCache = null;
      if (reset || !state.lr) state.lr = round3(d.default_lr);
      if (reset || !state.steps) state.steps = d.default_steps;
      state.steps = Math.min(state.steps, d.limits.steps);
      if (reset) { state.lrs = null; state.lo = null; state.hi = null; lastCompare = null; lastSweep = null; }
      if (changed) stopAnimation();
      renderObjectiveInfo();
      configureSlider();
      $("explore-grid").classList.toggle("no-path", !info.surface);
      $("suggestion").hidden = true;
      writeURL();
      refreshView();
    } catch (e) {
      if (aborted(e)) return;
      if (e instanceof ApiError && e.status < 500) showObjectiveError(e);
      else complain(e.message);
    } finally {
      busy(-1);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Explore: one learning rate, the path, the cost and the step lengths.

  async function runExplore() {
    if (!info) return;
    const signal = fresh("run");
    busy(+1);
    try {
      const run = await api("/api/run", request({ lr: state.lr }), signal);
      lastRun = run;
      lastRun.key = context();
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
  const runSoon = debounce(runExplore, 60);

  function verdict(prefix, d, facts) {
    badge($(`${prefix}badge`), d.regime);
    $(`${prefix}confidence`).textContent = `confidence ${Math.round(100 * d.confidence)}%`;
    $(`${prefix}facts`).textContent = facts;
    $(`${prefix}advice`).textContent = d.advice;
  }

  function renderRun(run) {
    const color = REGIME_COLORS[run.regime] || "#334155";
    const n = run.losses.length - 1;
    const facts = [`α = ${fmt(run.lr, 4)}`, `${run.steps} steps`,
      run.diverged_at !== null ? `diverged at step ${run.diverged_at}` : `final cost ${fmt(run.final_loss, 4)}`];
    verdict("", run.diagnosis, facts.join(" · "));
    const next = run.diagnosis.next_lr;
    const btn = $("next-lr");
    btn.hidden = !(next && Number.isFinite(next));
    if (!btn.hidden) { btn.textContent = `Try α = ${fmt(next)}`; btn.dataset.lr = next; }

    if (info.surface) {
      $("path-title").textContent = info.dim === 1 ? "Path on the cost curve" : "Path on the contour";
      Plotly.react("plot-path", [...surfaceTraces(), ...pathTraces(run, color)], surfaceLayout(), CONFIG);
      const { x, y } = pathXY(run);
      const out = (v, [lo, hi]) => v === null || v < lo || v > hi;
      const outside = info.box && x.some((v, i) => out(v, info.box[0]) || (info.dim === 2 && out(y[i], info.box[1])));
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
  function showStep(k) {
    const run = lastRun;
    if (!run) return;
    const n = run.losses.length - 1;
    k = Math.max(0, Math.min(n, k));
    $("scrub").value = k;
    $("scrub-label").textContent = `${k}/${n}`;
    if (info.surface && run.params) {
      const { x, y } = pathXY(run);
      Plotly.restyle("plot-path", { x: [x.slice(0, k + 1), [x[k]]], y: [y.slice(0, k + 1), [y[k]]] },
        [surfaceTraces().length, surfaceTraces().length + 1]);
    }
    Plotly.restyle("plot-cost", { x: [[k]], y: [[run.losses[k]]] }, [1]);
    const j = Math.max(0, Math.min(k, n - 1));
    Plotly.restyle("plot-steps", { x: [[j]], y: [[run.step_sizes[j]]] }, [1]);
  }

  function stopAnimation() {
    if (anim) clearInterval(anim);
    anim = null;
    $("play").textContent = "▶ Play";
    $("play").setAttribute("aria-label", "Play the path step by step");
  }

  function play() {
    if (anim) { stopAnimation(); return; }
    if (!lastRun) return;
    const n = lastRun.losses.length - 1;
    let k = Number($("scrub").value) >= n ? 0 : Number($("scrub").value);
    const frames = Math.min(n, 150);
    const stride = Math.max(1, Math.round(n / frames));
    const interval = Math.max(25, Math.round(4000 / Math.ceil(n / stride)));
    showStep(k);
    $("play").textContent = "❚❚ Pause";
    $("play").setAttribute("aria-label", "Pause the animation");
    anim = setInterval(() => {
      k = Math.min(n, k + stride);
      showStep(k);
      if (k >= n) stopAnimation();
    }, interval);
  }

  function setLR(lr, { run = true } = {}) {
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

  // ---------------------------------------------------------------------------------------
  // Compare: several learning rates, and the seed's pictures.

  function defaultLrs() {
    const m = info.marks;
    if (m.one_over_L) return [0.05, 0.5, 1, 1.9, 2.1].map((c) => round3(c * m.one_over_L));
    return [state.lr / 10, state.lr, state.lr * 10].map(round3);
  }

  function styles(runs) {
    const seen = {};
    return runs.map((r) => {
      const i = seen[r.regime] = (seen[r.regime] ?? -1) + 1;
      return { color: REGIME_COLORS[r.regime] || "#334155", dash: DASHES[i % DASHES.length] };
    });
  }

  function smallPath(container, title, run, style, label) {
    const card = el("figure", { class: "card plot-card" });
    const head = el("figcaption", {}, el("span", { text: title }));
    const b = el("span", { class: "badge small" });
    badge(b, run.regime);
    head.append(el("span", { class: "tools" }, b));
    const div = el("div", { class: "plot", role: "img", "aria-label": label });
    card.append(head, div);
    container.append(card);
    observe(div);
    Plotly.newPlot(div, [...surfaceTraces(), ...pathTraces(run, style.color, { dash: style.dash })],
      surfaceLayout({ margin: { l: 44, r: 8, t: 4, b: 34 } }), { ...CONFIG, displayModeBar: false });
    return div;
  }

  function overlay(container, title, items, styleOf, key) {
    const card = el("figure", { class: "card plot-card" });
    const div = el("div", { class: "plot" });
    const tools = el("span", { class: "tools" },
      el("button", { class: "small ghost", type: "button", text: "PNG", onclick: () => png(div, key) }));
    card.append(el("figcaption", {}, el("span", { text: title }), tools), div);
    container.append(card);
    observe(div);
    const values = (run) => (key === "steps" ? run.step_sizes : run.losses);
    // Diverging curves leave the top of the picture instead of flattening every other curve.
    const calm = items.filter(({ run }) => run.regime !== "diverging");
    const scale = finite((calm.length ? calm : items).flatMap(({ run }) => values(run)));
    const log = logScale(scale);
    let range;
    if (calm.length && calm.length < items.length && scale.length) {
      const lo = Math.min(...scale), hi = Math.max(...scale);
      if (log) range = [Math.log10(lo) - 0.3, Math.log10(hi) + 0.8];
      else { const pad = 0.08 * (hi - lo || 1); range = [lo - pad, hi + 3 * pad]; }
    }
    const traces = items.map(({ label, run }, i) => {
      const y = values(run);
      const s = styleOf[i];
      return { type: "scatter", mode: "lines", x: [...y.keys()], y, name: label,
        line: { color: s.color, width: 2, dash: s.dash },
        hovertemplate: `${label}<br>step %{x}: %{y:.4g}<extra></extra>` };
    });
    Plotly.newPlot(div, traces, baseLayout({
      showlegend: true, legend: { orientation: "h", y: -0.22, font: { size: 10.5 } },
      margin: { l: 54, r: 12, t: 8, b: 36 },
      xaxis: { ...baseLayout().xaxis, title: axisTitle("iteration") },
      yaxis: { ...baseLayout().yaxis, title: axisTitle(key === "steps" ? "step length" : "cost"),
        type: log ? "log" : "linear", exponentformat: "power", range },
    }), CONFIG);
  }

  function runsTable(items) {
    const table = el("table", { class: "runs" });
    table.append(el("thead", {}, el("tr", {},
      ...["", "learning rate", "regime", "final cost", "diverged at", ""].map((t) => el("th", { text: t })))));
    const body = el("tbody");
    for (const { label, run } of items) {
      const b = el("span", { class: "badge small" });
      badge(b, run.regime);
      body.append(el("tr", {},
        el("td", { text: label }), el("td", { class: "num", text: fmt(run.lr, 4) }), el("td", {}, b),
        el("td", { class: "num", text: fmt(run.final_loss, 4) }),
        el("td", { class: "num", text: run.diverged_at === null ? "—" : String(run.diverged_at) }),
        el("td", {}, el("button", { class: "small secondary", type: "button", text: "Open",
          onclick: () => { setLR(run.lr, { run: false }); setView("explore"); } }))));
    }
    table.append(body);
    return table;
  }

  function renderCompare(d) {
    const out = $("compare-out");
    out.replaceChildren();
    const items = d.runs.map((run) => ({ label: `α = ${fmt(run.lr)}`, run }));
    const st = styles(d.runs);
    if (info.surface) {
      out.append(el("div", { class: "section-title", text: "Paths from the same start" }));
      const grid = el("div", { class: "compare-grid" });
      out.append(grid);
      items.forEach(({ label, run }, i) => smallPath(grid, label, run, st[i], `Path with learning rate ${fmt(run.lr)}: ${REGIME_LABELS[run.regime]}`));
    }
    const ov = el("div", { class: "overlays" });
    out.append(ov);
    overlay(ov, "Cost", items, st, "cost");
    overlay(ov, "Step length", items, st, "steps");
    out.append(runsTable(items));
  }

  function renderPictures(d) {
    const out = $("compare-out");
    out.replaceChildren();
    if (info.surface) {
      out.append(el("div", { class: "section-title", text: "Too low · just right · too high" }));
      const grid = el("div", { class: "compare-grid three", id: "pictures-paths" });
      out.append(grid);
      for (const { label, run } of d.paths) {
        smallPath(grid, `${label}: α = ${fmt(run.lr)}`, run, { color: REGIME_COLORS[run.regime], dash: "solid" },
          `${label}: learning rate ${fmt(run.lr)}, ${REGIME_LABELS[run.regime]}`);
      }
    }
    out.append(el("div", { class: "section-title", text: "Cost against iteration: very high · high · low · good" }));
    const items = d.curves.map(({ label, run }) => ({ label: `${label} (α = ${fmt(run.lr)})`, run }));
    const st = styles(d.curves.map((c) => c.run));
    const ov = el("div", { class: "overlays" });
    out.append(ov);
    overlay(ov, "Cost", items, st, "cost");
    overlay(ov, "Step length", items, st, "steps");
    const list = el("ul", { class: "picture-list", id: "pictures-curves" });
    d.curves.forEach(({ label, run }, i) => {
      const b = el("span", { class: "badge small" });
      badge(b, run.regime);
      list.append(el("li", { dataset: { regime: run.regime, picture: label } },
        el("span", { class: "swatch", style: `background:${st[i].color}` }), `${label}: α = ${fmt(run.lr)}`, b));
    });
    out.append(list);
    out.append(runsTable(d.curves.map(({ label, run }) => ({ label, run }))));
  }

  async function runCompare() {
    if (!info) return;
    const lrs = parseList($("compare-lrs").value);
    if (!lrs || !lrs.length || lrs.some((v) => !(v > 0))) {
      $("compare-lrs").setAttribute("aria-invalid", "true");
      complain("learning rates: give positive numbers separated by commas");
      return;
    }
    $("compare-lrs").removeAttribute("aria-invalid");
    state.lrs = lrs;
    writeURL();
    const signal = fresh("compare");
    busy(+1);
    try {
      const d = await api("/api/compare", request({ lrs }), signal);
      lastCompare = { kind: "compare", data: d, key: context() };
      renderCompare(d);
    } catch (e) {
      if (!aborted(e)) complain(e.message);
    } finally {
      busy(-1);
    }
  }

  async function runPictures() {
    if (!info) return;
    const signal = fresh("compare");
    busy(+1);
    try {
      const d = await api("/api/pictures", request(), signal);
      lastCompare = { kind: "pictures", data: d, key: context() };
      renderPictures(d);
    } catch (e) {
      if (!aborted(e)) complain(e.message);
    } finally {
      busy(-1);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sweep: final cost against the learning rate, coloured by regime.

  async function runSweep() {
    if (!info) return;
    const lo = parseNumber($("sweep-lo").value);
    const hi = parseNumber($("sweep-hi").value);
    const num = parseNumber($("sweep-num").value);
    state.lo = lo && lo > 0 ? lo : null;
    state.hi = hi && hi > 0 ? hi : null;
    state.num = num && num >= 2 ? Math.round(num) : null;
    writeURL();
    const body = request({ num: Math.min(state.num || 40, info.limits.lanes) });
    if (state.lo) body.lr_min = state.lo;
    if (state.hi) body.lr_max = state.hi;
    const signal = fresh("sweep");
    busy(+1);
    try {
      const d = await api("/api/sweep", body, signal);
      lastSweep = { data: d, key: context() };
      renderSweep(d);
    } catch (e) {
      if (!aborted(e)) complain(e.message);
    } finally {
      busy(-1);
    }
  }

  function renderSweep(d) {
    const runs = d.runs;
    const finals = finite(runs.map((r) => r.final_loss));
    const log = finals.length > 0 && finals.every((v) => v > 0);
    const top = finals.length ? (log ? Math.max(...finals) * 3 : Math.max(...finals) + 0.1 * ((Math.max(...finals) - Math.min(...finals)) || 1)) : 1;
    const traces = [];
    for (const regime of REGIMES) {
      const rs = runs.filter((r) => r.regime === regime);
      if (!rs.length) continue;
      traces.push({
        type: "scatter", mode: "markers", name: REGIME_LABELS[regime],
        x: rs.map((r) => r.lr), y: rs.map((r) => (r.final_loss === null ? top : r.final_loss)),
        customdata: rs.map((r) => r.lr),
        text: rs.map((r) => (r.final_loss === null ? `diverged at step ${r.diverged_at}` : `final cost ${fmt(r.final_loss, 4)}`)),
        marker: { color: REGIME_COLORS[regime], size: 10, symbol: rs.map((r) => (r.final_loss === null ? "x" : "circle")),
          line: { color: "#fff", width: 1 } },
        hovertemplate: `α = %{x:.3g}<br>%{text}<br>${REGIME_LABELS[regime]}<extra></extra>`,
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
    for (const regime of REGIMES) {
      const count = runs.filter((r) => r.regime === regime).length;
      if (!count) continue;
      legend.append(el("span", { dataset: { regime } }, el("i", { style: `background:${REGIME_COLORS[regime]}` }),
        `${REGIME_LABELS[regime]} (${count})`));
    }
    if (!m.sharpness) legend.append(el("span", { class: "muted", text: "no 1/L and 2/L marks: the sharpness is unknown here" }));
  }

  // ---------------------------------------------------------------------------------------
  // Suggest.

  async function suggest() {
    const box = $("suggestion");
    const signal = fresh("suggest");
    busy(+1);
    try {
      const body = { objective: state.objective, steps: state.steps };
      if (state.start) body.start = state.start;
      const d = await api("/api/suggest", body, signal);
      box.replaceChildren();
      box.append(el("div", {}, "Suggested ", el("span", { class: "lr", text: `α = ${fmt(d.lr, 3)}` })));
      if (d.lr_max) box.append(el("div", { class: "muted", text: `largest stable ≈ ${fmt(d.lr_max, 3)}` }));
      const methods = d.methods || {};
      if (Object.keys(methods).length) {
        const t = el("table");
        for (const [name, m] of Object.entries(methods)) {
          const lr = m && typeof m === "object" ? m.lr : m;
          t.append(el("tr", {}, el("td", { text: name.replace(/_/g, " ") }), el("td", { text: fmt(lr, 3) })));
        }
        box.append(t);
      }
      if (d.agree !== undefined && d.agree !== null) box.append(el("div", { class: "muted", text: d.agree ? "The methods agree." : "The methods disagree; see below." }));
      if (d.explanation) box.append(el("p", { text: d.explanation }));
      box.append(el("button", { class: "small", type: "button", text: "Use this learning rate",
        onclick: () => { setLR(d.lr); if (state.view !== "explore") setView("explore"); } }));
      box.hidden = false;
    } catch (e) {
      if (!aborted(e)) { box.hidden = false; box.textContent = e.message; }
    } finally {
      busy(-1);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Diagnose a loss log.

  async function uploadLog(file, column = null) {
    if (!file) return;
    const err = $("log-error");
    err.hidden = true;
    if (file.size > limits.upload_bytes) {
      err.textContent = `${file.name}: the file is larger than ${Math.round(limits.upload_bytes / 2 ** 20)} MB, the largest log accepted.`;
      err.hidden = false;
      return;
    }
    const fd = new FormData();
    fd.append("file", file, file.name);
    if (column) fd.append("column", column);
    const floorText = $("log-floor").value.trim();
    if (floorText) {
      const floor = parseNumber(floorText);
      if (floor === null) {
        $("log-floor").setAttribute("aria-invalid", "true");
        err.textContent = "Best reachable cost: give a number, or leave it empty.";
        err.hidden = false;
        return;
      }
      $("log-floor").removeAttribute("aria-invalid");
      fd.append("floor", String(floor));
    }
    const signal = fresh("log");
    busy(+1);
    try {
      const d = await api("/api/diagnose", fd, signal);
      lastLog = { data: d, file };
      renderLog(d);
    } catch (e) {
      if (aborted(e)) return;
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      busy(-1);
    }
  }

  function renderLog(d) {
    $("log-verdict").hidden = false;
    verdict("log-", d, `${d.points.toLocaleString()} points · ${d.column}`);
    const table = $("log-evidence");
    table.replaceChildren();
    for (const [k, v] of Object.entries(d.evidence || {})) {
      table.append(el("tr", {}, el("td", { text: k.replace(/_/g, " ") }),
        el("td", { text: typeof v === "number" ? fmt(v, 4) : String(v) })));
    }
    const select = $("log-column");
    select.replaceChildren(el("option", { value: "", text: "automatic" }));
    for (const c of [d.column, ...(d.available || [])]) select.append(el("option", { value: c, text: c }));
    select.value = d.column;
    select.disabled = false;
    $("log-title").textContent = `${d.source}: ${d.column}`;
    const color = REGIME_COLORS[d.regime] || "#334155";
    Plotly.react("plot-log", [{
      type: "scatter", mode: d.values.length > 400 ? "lines" : "lines+markers", x: d.steps, y: d.values, name: d.column,
      line: { color, width: 2 }, marker: { size: 4, color },
      hovertemplate: "step %{x}<br>%{y:.4g}<extra></extra>",
    }], baseLayout({
      xaxis: { ...baseLayout().xaxis, title: axisTitle("step") },
      yaxis: { ...baseLayout().yaxis, title: axisTitle(d.column), type: logScale(d.values) ? "log" : "linear", exponentformat: "power" },
    }), CONFIG);
  }

  // ---------------------------------------------------------------------------------------
  // Exports.

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 2000);
  }

  function csv(rows) {
    const cell = (v) => {
      if (v === null || v === undefined) return "";
      const s = String(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    return rows.map((r) => r.map(cell).join(",")).join("\n") + "\n";
  }

  function runRows(run, withLr) {
    const names = (info && info.params) || [];
    const head = [...(withLr ? ["lr", "regime"] : []), "step", "loss", "grad_norm", "step_size", ...names];
    const rows = [head];
    for (let t = 0; t < run.losses.length; t++) {
      const p = run.params && run.params[t] ? run.params[t] : [];
      rows.push([...(withLr ? [run.lr, run.regime] : []), t, run.losses[t], run.grad_norms[t],
        t < run.step_sizes.length ? run.step_sizes[t] : null, ...names.map((_, i) => p[i])]);
    }
    return rows;
  }

  function exportRun(kind) {
    if (!lastRun) return;
    const name = `lrlab-${slug(state.objective)}-lr${fmt(lastRun.lr)}`;
    if (kind === "json") download(`${name}.json`, JSON.stringify(lastRun, null, 1), "application/json");
    else download(`${name}.csv`, csv(runRows(lastRun, false)), "text/csv");
  }

  function exportCompare(kind) {
    if (!lastCompare) return;
    const d = lastCompare.data;
    const name = `lrlab-${slug(state.objective)}-${lastCompare.kind}`;
    if (kind === "json") { download(`${name}.json`, JSON.stringify(d, null, 1), "application/json"); return; }
    const runs = d.runs || d.curves.map((c) => c.run);
    const rows = [];
    runs.forEach((run, i) => rows.push(...runRows(run, true).slice(i === 0 ? 0 : 1)));
    download(`${name}.csv`, csv(rows), "text/csv");
  }

  function exportSweep(kind) {
    if (!lastSweep) return;
    const d = lastSweep.data;
    const name = `lrlab-${slug(state.objective)}-sweep`;
    if (kind === "json") { download(`${name}.json`, JSON.stringify(d, null, 1), "application/json"); return; }
    const rows = [["lr", "final_loss", "regime", "diverged_at", "confidence"]];
    for (const r of d.runs) rows.push([r.lr, r.final_loss, r.regime, r.diverged_at, r.confidence]);
    download(`${name}.csv`, csv(rows), "text/csv");
  }

  // ---------------------------------------------------------------------------------------
  // Views.

  function setView(view) {
    if (!VIEWS.includes(view)) view = "explore";
    state.view = view;
    for (const v of VIEWS) {
      $(`view-${v}`).hidden = v !== view;
      $(`tab-${v}`).setAttribute("aria-selected", String(v === view));
      $(`tab-${v}`).tabIndex = v === view ? 0 : -1;
    }
    document.querySelector(".shell").classList.toggle("full", view === "diagnose");
    if (view !== "explore") stopAnimation();
    writeURL();
    refreshView();
    requestAnimationFrame(resizeVisible);
  }

  function refreshView() {
    if (!info) return;
    if (state.view === "explore") {
      if (!lastRun || lastRun.key !== context() || lastRun.lr !== state.lr) runSoon();
    } else if (state.view === "compare") {
      if (!$("compare-lrs").value || !lastCompare || lastCompare.key !== context()) {
        if (!state.lrs) state.lrs = defaultLrs();
        $("compare-lrs").value = state.lrs.map((v) => fmt(v, 3)).join(", ");
        if (!lastCompare || lastCompare.key !== context()) {
          if (lastCompare && lastCompare.kind === "pictures") runPictures(); else runCompare();
        }
      }
    } else if (state.view === "sweep") {
      $("sweep-lo").value = state.lo ? fmt(state.lo) : "";
      $("sweep-hi").value = state.hi ? fmt(state.hi) : "";
      $("sweep-num").value = Math.min(state.num || 40, info.limits.lanes);
      $("sweep-num").max = info.limits.lanes;
      if (!lastSweep || lastSweep.key !== context()) runSweep();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Wiring.

  function setStartFromPlot(ev) {
    if (!info || !info.surface) return;
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
    state.start = info.dim === 1 ? [Number(x.toFixed(3))] : [Number(x.toFixed(3)), Number(y.toFixed(3))];
    $("start").value = state.start.join(", ");
    $("start").removeAttribute("aria-invalid");
    lastCompare = null; lastSweep = null;
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
        if (!v || (info && v.length !== info.dim)) {
          $("start").setAttribute("aria-invalid", "true");
          complain(`start: give ${info ? info.dim : ""} numbers separated by commas`);
          return;
        }
        state.start = v;
      }
      $("start").removeAttribute("aria-invalid");
      lastCompare = null; lastSweep = null;
      writeURL();
      loadObjective();
    });
    $("start-reset").addEventListener("click", () => {
      state.start = null; $("start").value = ""; lastCompare = null; lastSweep = null; writeURL(); loadObjective();
    });
    $("steps").addEventListener("change", () => {
      const v = parseNumber($("steps").value);
      const max = info ? info.limits.steps : 5000;
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
    $("log-column").addEventListener("change", (e) => { if (lastLog) uploadLog(lastLog.file, e.target.value || null); });
    $("log-floor").addEventListener("change", () => { if (lastLog) uploadLog(lastLog.file, $("log-column").value || null); });
    $("export-log-json").addEventListener("click", () => {
      if (lastLog) download(`lrlab-diagnosis-${slug(lastLog.data.source)}.json`, JSON.stringify(lastLog.data, null, 1), "application/json");
    });
    window.addEventListener("popstate", () => { readURL(); setView(state.view); });
  }

  function emptyPlots() {
    const layout = baseLayout({ xaxis: { visible: false }, yaxis: { visible: false } });
    for (const id of ["plot-path", "plot-cost", "plot-steps"]) Plotly.newPlot(id, [], layout, CONFIG);
    Plotly.newPlot("plot-log", [], { ...layout, annotations: [{ text: "The loss curve of a dropped log appears here.",
      xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: "#94a3b8" } }] },
    { ...CONFIG, displayModeBar: false });
    for (const id of ["plot-path", "plot-cost", "plot-steps", "plot-sweep", "plot-log"]) observe($(id));
    $("plot-path").on("plotly_click", setStartFromPlot);
  }

  async function init() {
    readURL();
    bind();
    emptyPlots();
    setView(state.view);
    $("objective-text").value = state.objective;
    try {
      const cat = await api("/api/catalogue");
      limits = cat.limits || limits;
      fillPicker(cat.objectives);
      syncPicker();
      $("upload-limit").textContent = `${Math.round(limits.upload_bytes / 2 ** 20)} MB`;
    } catch (e) {
      complain(e.message);
    }
    await loadObjective();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
