/* The objective: picker, expression box with its errors, facts, the learning-rate slider. */
import { ApiError, aborted, api, busy, complain, fresh } from "./api.js";
import { refreshView } from "./app.js";
import { $, el, fmt, round3 } from "./dom.js";
import { stopAnimation } from "./explore.js";
import { lab, state, writeURL } from "./state.js";

// ---------------------------------------------------------------------------------------
// Objective: picker, expression box, facts.

export function fillPicker(rows) {
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

export function syncPicker() {
  const pick = $("objective-pick");
  const base = state.objective.split(":")[0];
  pick.value = [...pick.options].some((o) => o.value === base) ? base : "";
}

export function showObjectiveError(err) {
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

export function clearObjectiveError() {
  $("objective-error").hidden = true;
  $("objective-text").removeAttribute("aria-invalid");
}

export function renderObjectiveInfo() {
  const p = $("objective-info");
  p.replaceChildren();
  if (lab.info.formula) p.append(el("code", { text: lab.info.formula }), " ");
  if (lab.info.description) p.append(lab.info.description + " ");
  const facts = [];
  if (lab.info.kind === "dataset") facts.push(`${lab.info.dim.toLocaleString()} parameters`);
  if (lab.info.minimum !== null) facts.push(`minimum ${fmt(lab.info.minimum, 4)}`);
  const m = lab.info.marks;
  if (m.sharpness !== null) facts.push(`sharpness L = ${fmt(m.sharpness)} (${m.where === "minimum" ? "at the minimum" : "at the start"})`);
  if (facts.length) p.append(el("span", { class: "muted", text: facts.join(" · ") }));

  const analytic = lab.info.kind !== "dataset";
  const startInput = $("start");
  startInput.disabled = !analytic || lab.info.dim > 16;
  startInput.placeholder = analytic ? (lab.info.start || []).map((v) => fmt(v, 4)).join(", ") : "the model's initial weights";
  startInput.value = state.start ? state.start.join(", ") : "";
  $("start-hint").hidden = !(analytic && lab.info.dim <= 2);
  $("steps").max = lab.info.limits.steps;
  $("steps").value = state.steps;
}

export function configureSlider() {
  const slider = $("lr-slider");
  let [lo, hi] = lab.info.lr_range.map(Math.log10);
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
  const m = lab.info.marks;
  const text = [];
  if (m.one_over_L) {
    ticks.append(el("option", { value: Math.log10(m.one_over_L), label: "1/L" }));
    ticks.append(el("option", { value: Math.log10(m.two_over_L), label: "2/L" }));
    text.push(`1/L = ${fmt(m.one_over_L)}`, `2/L = ${fmt(m.two_over_L)}`);
  }
  $("lr-marks").textContent = text.join(" · ");
}

export async function loadObjective({ reset = false } = {}) {
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
    const changed = !lab.info || lab.info.name !== d.name;
    lab.info = d;
    lab.surfaceCache = null;
    if (reset || !state.lr) state.lr = round3(d.default_lr);
    if (reset || !state.steps) state.steps = d.default_steps;
    state.steps = Math.min(state.steps, d.limits.steps);
    if (reset) { state.lrs = null; state.lo = null; state.hi = null; lab.lastCompare = null; lab.lastSweep = null; }
    if (changed) stopAnimation();
    renderObjectiveInfo();
    configureSlider();
    $("explore-grid").classList.toggle("no-path", !lab.info.surface);
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
