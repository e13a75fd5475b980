// One catalog's items a page at a time (?page=N&category=X), each linking to its item page.
import { UI, catalogPath, getJson, showError } from "./api.js";
import { el, itemCard } from "./cards.js";

const PAGE = 24;
const catalog = document.body.dataset.catalog;
const params = new URLSearchParams(location.search);
const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
const category = params.get("category") || "";
const select = document.getElementById("category");

function pageHref(n) {
  const query = new URLSearchParams({ page: String(n) });
  if (category) query.set("category", category);
  return `${UI}/catalogs/${encodeURIComponent(catalog)}?${query}`;
}

select.addEventListener("change", () => {
  const query = select.value ? `?category=${encodeURIComponent(select.value)}` : "";
  location.assign(`${UI}/catalogs/${encodeURIComponent(catalog)}${query}`);
});

try {
  const query = new URLSearchParams({ offset: String((page - 1) * PAGE), limit: String(PAGE) });
  if (category) query.set("category", category);
  const [facets, items] = await Promise.all([
    getJson(`${catalogPath(catalog)}/facets`),
    getJson(`${catalogPath(catalog)}/items?${query}`),
  ]);
  select.append(
    ...facets.categories.map((c) => el("option", { value: c.value, selected: c.value === category, text: `${c.value} (${c.count})` })),
  );
  const pages = Math.max(1, Math.ceil(items.total / PAGE));
  document.getElementById("summary").textContent =
    `${items.total.toLocaleString()} items${category ? ` in ${category}` : ""} · page ${page} of ${pages}`;
  document.getElementById("items").replaceChildren(...items.items.map((item) => itemCard(catalog, item)));
  document.getElementById("pager").replaceChildren(
    page > 1 ? el("a", { href: pageHref(page - 1), rel: "prev", text: "← Previous" }) : el("span"),
    el("span", { text: `${page} / ${pages}` }),
    page < pages ? el("a", { href: pageHref(page + 1), rel: "next", text: "Next →" }) : el("span"),
  );
  document.body.dataset.ready = "true";
} catch (err) {
  showError(err);
}
