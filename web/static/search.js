// The search page: an image in (drop, paste, pick, URL, or a catalog item), regions and matches out.
import { UI, catalogPath, call, getJson, itemPath, showError } from "./api.js";
import { el, itemCard } from "./cards.js";
import { Stage, regionLabel } from "./stage.js";

const K = 12; // matches per region
const $ = (id) => document.getElementById(id);
const catalogSelect = $("catalog");
const filtersForm = $("filters");
const status = $("status");

const state = {
  source: null, // {blob, name} or {url}
  queries: [null], // null = detect every region; [x1, y1, x2, y2] = a box drawn by the user
  answers: [], // one API answer per query
  selected: 0,
  selectNewest: false, // after drawing a box, show its matches
  run: 0, // answers of an older run are dropped
};

const stage = new Stage({
  onSelect: (i) => {
    state.selected = i;
    render();
    // On a phone the grid sits under the picture: bring it into view.
    if (!matchMedia("(min-width: 900px)").matches) $("results").scrollIntoView({ block: "start" });
  },
  onDraw: (box) => drawBox(box),
});

// -- what to search ----------------------------------------------------------------------

function filters() {
  const out = {};
  const category = $("f-category").value;
  const brand = $("f-brand").value.trim();
  const min = $("f-min").value;
  const max = $("f-max").value;
  if (category) out.categories = [category];
  if (brand) out.brand = [brand];
  if (min !== "") out.price_min = Number(min);
  if (max !== "") out.price_max = Number(max);
  if ($("f-stock").checked) out.in_stock = true;
  return out;
}

async function searchOnce(box) {
  const params = { catalog: catalogSelect.value, k: K, ...filters() };
  if (box) params.box = box;
  if (state.source.url) {
    return getJson("/search", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ image_url: state.source.url, ...params }),
    });
  }
  const form = new FormData();
  form.append("image", state.source.blob, state.source.name || "screenshot");
  // Lists go as JSON lists, which the API reads in form fields too: a brand may hold a comma.
  for (const [name, value] of Object.entries(params)) form.append(name, Array.isArray(value) ? JSON.stringify(value) : String(value));
  return getJson("/search", { method: "POST", body: form });
}

async function runQueries(indices, started) {
  const run = ++state.run;
  status.textContent = "Searching…";
  document.body.dataset.state = "searching";
  showError(null);
  try {
    const answers = await Promise.all(indices.map((i) => searchOnce(state.queries[i])));
    if (run !== state.run) return;
    indices.forEach((q, n) => (state.answers[q] = answers[n]));
    render();
    document.body.dataset.searches = String(Number(document.body.dataset.searches || 0) + 1);
    // The first result is on screen once the browser has painted this frame.
    requestAnimationFrame(() => {
      const shown = performance.now() - started;
      const server = answers[0].timings_ms.total;
      document.body.dataset.serverMs = server.toFixed(1);
      document.body.dataset.shownMs = shown.toFixed(1);
      $("timings").textContent += ` · shown in ${shown.toFixed(0)} ms (server ${server.toFixed(0)} ms)`;
    });
    document.body.dataset.state = "done";
  } catch (err) {
    if (run !== state.run) return;
    status.textContent = "";
    document.body.dataset.state = "error";
    showError(err);
  }
}

function searchAll(started = performance.now()) {
  if (!state.source || !catalogSelect.value) return;
  runQueries(state.queries.map((_, i) => i), started);
}

function setSource(source, previewUrl) {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = source.blob ? previewUrl : null;
  state.source = source;
  state.queries = [null];
  state.answers = [];
  state.selected = 0;
  stage.show(previewUrl);
  $("results").replaceChildren();
  $("timings").textContent = "";
  searchAll(performance.now());
}

function useFile(file) {
  if (!file || !file.type.startsWith("image/")) {
    showError(new Error("that is not an image: drop, paste or choose a PNG, JPEG, WebP or GIF"));
    return;
  }
  setSource({ blob: file, name: file.name }, URL.createObjectURL(file));
}

function useUrl(url) {
  setSource({ url }, url);
}

function drawBox(box) {
  state.queries.push(box);
  state.selectNewest = true;
  runQueries([state.queries.length - 1], performance.now());
}

// -- what came back ------------------------------------------------------------------------

function regions() {
  return state.answers.flatMap((answer, q) =>
    answer ? answer.regions.map((region) => ({ ...region, drawn: state.queries[q] !== null })) : [],
  );
}

function render() {
  const all = regions();
  const first = state.answers[0];
  if (!first) return;
  if (state.selectNewest) state.selected = all.length - 1;
  if (state.selected >= all.length) state.selected = 0;
  state.selectNewest = false;
  stage.setRegions(all, state.selected, [first.image_width, first.image_height]);
  const found = all.filter((r) => !r.drawn).length;
  status.textContent = found
    ? `${found} ${found === 1 ? "product" : "products"} found in ${first.catalog}.`
    : "No product found: drag a box on the picture to search an area.";
  renderTimings(state.answers[state.answers.length - 1] || first);
  const results = $("results");
  const region = all[state.selected];
  if (!region) {
    results.replaceChildren();
    return;
  }
  const catalog = first.catalog;
  results.replaceChildren(
    el("h2", { id: "results-title", text: `Matches for ${regionLabel(region, state.selected)}` }),
    region.matches.length
      ? el("ul", { class: "grid", "aria-labelledby": "results-title" }, ...region.matches.map((m) => itemCard(catalog, m, { score: m.score })))
      : el("p", { class: "empty", text: "No matches: loosen the filters." }),
    // Issue 20 adds OCR text and "why this match" heatmaps to the answer: show them here.
  );
}

function renderTimings(answer) {
  const stages = Object.entries(answer.timings_ms)
    .filter(([name]) => name !== "total")
    .map(([name, ms]) => `${name} ${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)}`);
  $("timings").textContent = `${stages.join(" · ")} ms · index ${answer.index_version}`;
}

// -- catalogs and filters ------------------------------------------------------------------

async function loadCatalogs() {
  const wanted = new URLSearchParams(location.search).get("catalog") || document.body.dataset.defaultCatalog;
  const { catalogs } = await getJson("/catalogs");
  catalogSelect.replaceChildren(
    ...catalogs.map((c) => el("option", { value: c.name, selected: c.name === wanted, text: `${c.name} (${c.item_count} items)` })),
  );
  if (!catalogs.length) showError(new Error("this server has no catalog yet: load one with `lookalike ingest`"));
}

async function loadFacets() {
  const catalog = catalogSelect.value;
  if (!catalog) return;
  const facets = await getJson(`${catalogPath(catalog)}/facets`);
  $("f-category").replaceChildren(
    el("option", { value: "", text: "Any" }),
    ...facets.categories.map((c) => el("option", { value: c.value, text: `${c.value} (${c.count})` })),
  );
  $("brands").replaceChildren(...facets.brands.map((b) => el("option", { value: b.value })));
  for (const id of ["f-min", "f-max"]) {
    $(id).placeholder = id === "f-min" ? String(facets.price_min ?? "") : String(facets.price_max ?? "");
  }
}

// A catalog item's own photo as the query: "more like this" on the item page.
async function searchItem(catalog, itemId) {
  try {
    const blob = await (await call(`${itemPath(catalog, itemId)}/image`)).blob();
    setSource({ blob, name: itemId }, URL.createObjectURL(blob));
  } catch {
    const item = await getJson(itemPath(catalog, itemId)); // a remote photo the browser may not read
    useUrl(item.image_url);
  }
}

// An example screenshot the operator left in <data_dir>/examples (make demo puts one there).
async function searchExample(name) {
  const response = await fetch(`${UI}/examples/${encodeURIComponent(name)}`);
  if (!response.ok) throw new Error(`no example ${name} on this server`);
  const blob = await response.blob();
  setSource({ blob, name }, URL.createObjectURL(blob));
}

// -- wiring --------------------------------------------------------------------------------

$("file").addEventListener("change", (e) => {
  if (!e.target.files.length) return;
  useFile(e.target.files[0]);
  e.target.value = ""; // picking the same file again searches again
});
for (const button of document.querySelectorAll("button.example")) {
  button.addEventListener("click", () => searchExample(button.dataset.example).catch(showError));
}
$("url-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const url = $("url").value.trim();
  if (url) useUrl(url);
});
const drop = $("drop");
document.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
document.addEventListener("dragleave", () => drop.classList.remove("over"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  const uri = e.dataTransfer.getData("text/uri-list").split("\n")[0].trim();
  if (file) useFile(file);
  else if (uri) useUrl(uri);
});
document.addEventListener("paste", (e) => {
  const file = [...e.clipboardData.files].find((f) => f.type.startsWith("image/"));
  if (file) {
    e.preventDefault();
    useFile(file);
  }
});
// Typing re-queries once it pauses; a picked category or a ticked box re-queries at once.
const typed = (target) => target.type === "number" || target.type === "text" || target.type === "search";
let debounce;
filtersForm.addEventListener("input", (e) => {
  if (!typed(e.target)) return;
  clearTimeout(debounce);
  debounce = setTimeout(() => searchAll(), 300);
});
filtersForm.addEventListener("change", (e) => {
  if (!typed(e.target)) searchAll();
});
filtersForm.addEventListener("reset", () => setTimeout(() => searchAll(), 0));
filtersForm.addEventListener("submit", (e) => {
  e.preventDefault();
  searchAll();
});
catalogSelect.addEventListener("change", () => {
  loadFacets().catch(showError);
  searchAll();
});

(async () => {
  try {
    await loadCatalogs();
    await loadFacets();
    const params = new URLSearchParams(location.search);
    if (params.get("item")) await searchItem(catalogSelect.value, params.get("item"));
    else if (params.get("example")) await searchExample(params.get("example"));
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err);
  }
})();
