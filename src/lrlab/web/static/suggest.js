/* Suggest: a learning rate with the evidence of each method. */
import { aborted, api, busy, fresh } from "./api.js";
import { setView } from "./app.js";
import { $, el, fmt } from "./dom.js";
import { setLR } from "./explore.js";
import { state } from "./state.js";

// ---------------------------------------------------------------------------------------
// Suggest.

export async function suggest() {
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
