/* Small DOM and number helpers, and file downloads. */
import { lab, regimeLabel } from "./state.js";

export const $ = (id) => document.getElementById(id);
// ---------------------------------------------------------------------------------------
// Small helpers.

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits - 1).replace("e+", "e");
  return String(Number(x.toPrecision(digits)));
}

export function round3(x) { return Number(x.toPrecision(3)); }

export function el(tag, attrs = {}, ...children) {
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

export function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

export function slug(text) {
  return String(text).replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "objective";
}

export function parseNumber(text) {
  const v = Number(String(text).trim());
  return String(text).trim() !== "" && Number.isFinite(v) ? v : null;
}

export function parseList(text) {
  const parts = String(text).split(/[,\s;]+/).filter(Boolean);
  const values = parts.map(parseNumber);
  return values.every((v) => v !== null) ? values : null;
}

export function badge(node, regime) {
  node.dataset.regime = regime || "";
  node.textContent = regime ? regimeLabel(regime) || regime : "—";
}

export function finite(values) { return values.filter((v) => v !== null && Number.isFinite(v)); }

// ---------------------------------------------------------------------------------------
// Exports.

export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 2000);
}

export function csv(rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\n") + "\n";
}

export function runRows(run, withLr) {
  const names = (lab.info && lab.info.params) || [];
  const head = [...(withLr ? ["lr", "regime"] : []), "step", "loss", "grad_norm", "step_size", ...names];
  const rows = [head];
  for (let t = 0; t < run.losses.length; t++) {
    const p = run.params && run.params[t] ? run.params[t] : [];
    rows.push([...(withLr ? [run.lr, run.regime] : []), t, run.losses[t], run.grad_norms[t],
      t < run.step_sizes.length ? run.step_sizes[t] : null, ...names.map((_, i) => p[i])]);
  }
  return rows;
}
