/* The JSON API: requests that a newer one of the same kind aborts, errors, the status line. */
import { $ } from "./dom.js";

// ---------------------------------------------------------------------------------------
// The API.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `request failed (HTTP ${status})`);
    this.status = status;
    this.body = body || {};
  }
}

export const controllers = {};
export function fresh(key) {
  if (controllers[key]) controllers[key].abort();
  controllers[key] = new AbortController();
  return controllers[key].signal;
}
export const aborted = (e) => e && e.name === "AbortError";

export async function api(path, body, signal) {
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

export let busyCount = 0;
export function busy(delta) {
  busyCount = Math.max(0, busyCount + delta);
  const s = $("status");
  s.classList.toggle("busy", busyCount > 0);
  s.classList.remove("bad");
  s.textContent = busyCount > 0 ? "computing…" : "";
}
export function complain(message) {
  const s = $("status");
  s.classList.add("bad");
  s.classList.remove("busy");
  s.textContent = message;
}
