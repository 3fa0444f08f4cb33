/* Diagnose: a dropped loss log read and diagnosed. */
import { aborted, api, busy, fresh } from "./api.js";
import { $, el, fmt, parseNumber } from "./dom.js";
import { verdict } from "./explore.js";
import { axisTitle, baseLayout, logScale } from "./plots.js";
import { CONFIG, lab, regimeColor } from "./state.js";

// ---------------------------------------------------------------------------------------
// Diagnose a loss log.

export async function uploadLog(file, column = null) {
  if (!file) return;
  const err = $("log-error");
  err.hidden = true;
  if (file.size > lab.limits.upload_bytes) {
    err.textContent = `${file.name}: the file is larger than ${Math.round(lab.limits.upload_bytes / 2 ** 20)} MB, the largest log accepted.`;
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
    lab.lastLog = { data: d, file };
    renderLog(d);
  } catch (e) {
    if (aborted(e)) return;
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    busy(-1);
  }
}

export function renderLog(d) {
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
  const color = regimeColor(d.regime) || "#334155";
  Plotly.react("plot-log", [{
    type: "scatter", mode: d.values.length > 400 ? "lines" : "lines+markers", x: d.steps, y: d.values, name: d.column,
    line: { color, width: 2 }, marker: { size: 4, color },
    hovertemplate: "step %{x}<br>%{y:.4g}<extra></extra>",
  }], baseLayout({
    xaxis: { ...baseLayout().xaxis, title: axisTitle("step") },
    yaxis: { ...baseLayout().yaxis, title: axisTitle(d.column), type: logScale(d.values) ? "log" : "linear", exponentformat: "power" },
  }), CONFIG);
}
