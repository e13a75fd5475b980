// The catalog list: items, images, the live index version of each catalog.
import { UI, getJson, showError } from "./api.js";
import { el } from "./cards.js";

try {
  const { catalogs } = await getJson("/catalogs");
  document.querySelector("#catalogs tbody").replaceChildren(
    ...catalogs.map((c) =>
      el(
        "tr",
        { "data-catalog": c.name },
        el("th", { scope: "row" }, el("a", { href: `${UI}/catalogs/${encodeURIComponent(c.name)}`, text: c.name })),
        el("td", { class: "num", text: c.item_count.toLocaleString() }),
        el("td", { class: "num", text: c.image_count.toLocaleString() }),
        el("td", {}, el("code", { text: c.index_version || "not indexed yet" })),
        el("td", { text: new Date(c.created_at).toLocaleDateString() }),
      ),
    ),
  );
  if (!catalogs.length) showError(new Error("no catalog yet: load one with `lookalike ingest`"));
  document.body.dataset.ready = "true";
} catch (err) {
  showError(err);
}
