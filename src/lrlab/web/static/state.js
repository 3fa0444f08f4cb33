/* The page's state (kept in the URL, so a view can be shared), what it has loaded, and
 * the regimes' names and colours as the API gives them (the library's table, never a copy). */
import { $, parseList, parseNumber } from "./dom.js";

export const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];
export const VIEWS = ["explore", "compare", "sweep", "diagnose", "history"];
export const DEFAULT_OBJECTIVE = "himmelblau";
export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const CONFIG = {
  responsive: true, displaylogo: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
    "hoverClosestCartesian", "hoverCompareCartesian"],
  toImageButtonOptions: { format: "png", scale: 2, filename: "lrlab" },
};


export const state = {
  view: "explore", objective: DEFAULT_OBJECTIVE, lr: null, steps: null, start: null,
  lrs: null, lo: null, hi: null, num: null, optimizer: "sgd", momentum: 0,
};

// What the page has loaded and drawn, shared by the views.
export const lab = {
  info: null,          // the current objective, as /api/objective describes it
  limits: { upload_bytes: 5 * 2 ** 20 },
  regimes: [],         // [{name, label, color}] from /api/catalogue: the library's table
  lastRun: null,       // the explore view's run
  lastCompare: null,   // {kind: "compare" | "pictures", data, key}
  lastSweep: null,     // {data, key}
  lastHeatmap: null,   // {data, key}
  history: null,       // the store's listing, as /api/history gives it
  lastLog: null,       // {data, file}
  anim: null,
  surfaceCache: null,  // {name, traces}
};

// Regime names and colours come from the API, never from a copy here.
export function regimeNames() { return lab.regimes.map((r) => r.name); }
export function regimeColor(name) { const r = lab.regimes.find((x) => x.name === name); return r ? r.color : "#334155"; }
export function regimeLabel(name) { const r = lab.regimes.find((x) => x.name === name); return r ? r.label : name; }
// ---------------------------------------------------------------------------------------
// The page state lives in the URL, so a view can be shared.

export function readURL() {
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
  if (["sgd", "adam", "adamw", "rmsprop", "adagrad"].includes(q.get("optimizer"))) state.optimizer = q.get("optimizer");
  const m = parseNumber(q.get("momentum") ?? "");
  if (m !== null && m >= 0 && m < 1) state.momentum = m;
}

export function writeURL() {
  const q = new URLSearchParams();
  q.set("view", state.view);
  q.set("objective", state.objective);
  if (state.lr) q.set("lr", String(state.lr));
  if (state.steps) q.set("steps", String(state.steps));
  if (state.start) q.set("start", state.start.join(","));
  if (state.lrs) q.set("lrs", state.lrs.join(","));
  for (const k of ["lo", "hi", "num"]) if (state[k]) q.set(k, String(state[k]));
  if (state.optimizer !== "sgd") q.set("optimizer", state.optimizer);
  if (state.momentum) q.set("momentum", String(state.momentum));
  history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
}

export function context() {
  return JSON.stringify([state.objective, state.steps, state.start, state.optimizer, state.momentum]);
}

// The update rule of runs and comparisons, as the API reads it (plain SGD is left out).
export function optimizer() {
  if (state.optimizer === "sgd" && !state.momentum) return {};
  const rule = { name: state.optimizer };
  if (state.momentum && (state.optimizer === "sgd" || state.optimizer === "rmsprop")) rule.momentum = state.momentum;
  return { optimizer: rule };
}

export function request(extra = {}) {
  const body = { objective: state.objective, steps: state.steps, ...extra };
  if (state.start) body.start = state.start;
  return body;
}

// The text colour on a regime's colour: black-ish or white, whichever contrasts more (WCAG).
function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
export function inkOn(hex) {
  const l = luminance(hex);
  return (l + 0.05) / (luminance("#0f172a") + 0.05) >= 1.05 / (l + 0.05) ? "#0f172a" : "#ffffff";
}

// The regimes as the API gives them; the style sheet reads their colours from these variables.
export function setRegimes(rows) {
  lab.regimes = rows;
  for (const r of rows) {
    document.documentElement.style.setProperty(`--${r.name}`, r.color);
    document.documentElement.style.setProperty(`--${r.name}-ink`, inkOn(r.color));
  }
}
