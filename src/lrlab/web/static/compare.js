/* Compare: several learning rates side by side, and the seed's pictures. */
import { aborted, api, busy, complain, fresh } from "./api.js";
import { setView } from "./app.js";
import { $, badge, csv, download, el, finite, fmt, parseList, round3, runRows, slug } from "./dom.js";
import { setLR } from "./explore.js";
import { axisTitle, baseLayout, logScale, observe, pathTraces, png, surfaceLayout, surfaceTraces } from "./plots.js";
import { CONFIG, DASHES, context, lab, optimizer, regimeColor, regimeLabel, request, state, writeURL } from "./state.js";

// ---------------------------------------------------------------------------------------
// Compare: several learning rates, and the seed's pictures.

export function defaultLrs() {
  const m = lab.info.marks;
  if (m.one_over_L) return [0.05, 0.5, 1, 1.9, 2.1].map((c) => round3(c * m.one_over_L));
  return [state.lr / 10, state.lr, state.lr * 10].map(round3);
}

export function styles(runs) {
  const seen = {};
  return runs.map((r) => {
    const i = seen[r.regime] = (seen[r.regime] ?? -1) + 1;
    return { color: regimeColor(r.regime) || "#334155", dash: DASHES[i % DASHES.length] };
  });
}

export function smallPath(container, title, run, style, label) {
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

export function overlay(container, title, items, styleOf, key) {
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

export function runsTable(items) {
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

export function renderCompare(d) {
  const out = $("compare-out");
  out.replaceChildren();
  const items = d.runs.map((run) => ({ label: `α = ${fmt(run.lr)}`, run }));
  const st = styles(d.runs);
  if (lab.info.surface) {
    out.append(el("div", { class: "section-title", text: "Paths from the same start" }));
    const grid = el("div", { class: "compare-grid" });
    out.append(grid);
    items.forEach(({ label, run }, i) => smallPath(grid, label, run, st[i], `Path with learning rate ${fmt(run.lr)}: ${regimeLabel(run.regime)}`));
  }
  const ov = el("div", { class: "overlays" });
  out.append(ov);
  overlay(ov, "Cost", items, st, "cost");
  overlay(ov, "Step length", items, st, "steps");
  out.append(runsTable(items));
}

export function renderPictures(d) {
  const out = $("compare-out");
  out.replaceChildren();
  if (lab.info.surface) {
    out.append(el("div", { class: "section-title", text: "Too low · just right · too high" }));
    const grid = el("div", { class: "compare-grid three", id: "pictures-paths" });
    out.append(grid);
    for (const { label, run } of d.paths) {
      smallPath(grid, `${label}: α = ${fmt(run.lr)}`, run, { color: regimeColor(run.regime), dash: "solid" },
        `${label}: learning rate ${fmt(run.lr)}, ${regimeLabel(run.regime)}`);
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

export async function runCompare() {
  if (!lab.info) return;
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
    const d = await api("/api/compare", request({ lrs, ...optimizer() }), signal);
    lab.lastCompare = { kind: "compare", data: d, key: context() };
    renderCompare(d);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

export async function runPictures() {
  if (!lab.info) return;
  const signal = fresh("compare");
  busy(+1);
  try {
    const d = await api("/api/pictures", request(), signal);
    lab.lastCompare = { kind: "pictures", data: d, key: context() };
    renderPictures(d);
  } catch (e) {
    if (!aborted(e)) complain(e.message);
  } finally {
    busy(-1);
  }
}

export function exportCompare(kind) {
  if (!lab.lastCompare) return;
  const d = lab.lastCompare.data;
  const name = `lrlab-${slug(state.objective)}-${lab.lastCompare.kind}`;
  if (kind === "json") { download(`${name}.json`, JSON.stringify(d, null, 1), "application/json"); return; }
  const runs = d.runs || d.curves.map((c) => c.run);
  const rows = [];
  runs.forEach((run, i) => rows.push(...runRows(run, true).slice(i === 0 ? 0 : 1)));
  download(`${name}.csv`, csv(rows), "text/csv");
}
