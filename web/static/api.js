// The one place the page talks to the lookalike HTTP API: base path, the optional key, errors.
const data = document.body.dataset;
export const API = data.api;
export const UI = data.ui;
const KEY = "lookalike.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

// Tenants' keys (issue 17): kept for this tab only, sent with every call when set.
const keyInput = document.getElementById("api-key");
keyInput.value = apiKey();
document.getElementById("key-form").addEventListener("submit", (e) => e.preventDefault());
keyInput.addEventListener("change", () => {
  const key = keyInput.value.trim();
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
});

export async function call(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(API + path, { ...init, headers });
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message})`);
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const problem = await response.json(); // RFC 9457 problem details
      detail = problem.detail || problem.title || detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail);
  }
  return response;
}

export async function getJson(path, init) {
  return (await call(path, init)).json();
}

const enc = encodeURIComponent;

export function catalogPath(catalog) {
  return `/catalogs/${enc(catalog)}`;
}

export function itemPath(catalog, itemId) {
  return `${catalogPath(catalog)}/items/${itemId.split("/").map(enc).join("/")}`;
}

export function showError(err) {
  const box = document.getElementById("error");
  box.textContent = err ? err.message : "";
  box.hidden = !err;
}
