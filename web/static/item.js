// One item: its facts, every reference image, and "more like this" (a search with its own photo).
import { getJson, itemPath, showError } from "./api.js";
import { el, money } from "./cards.js";

const { catalog, item: itemId } = document.body.dataset;

function fact(name, ...value) {
  return [el("dt", { text: name }), el("dd", {}, ...value)];
}

try {
  const [item, { images }] = await Promise.all([
    getJson(itemPath(catalog, itemId)),
    getJson(`${itemPath(catalog, itemId)}/images`),
  ]);
  const name = item.title || item.item_id;
  document.getElementById("title").textContent = name;
  document.title = `${name} · ${catalog} · lookalike`;
  document.getElementById("facts").replaceChildren(
    ...fact("Item id", el("code", { text: item.item_id })),
    ...(item.brand ? fact("Brand", item.brand) : []),
    ...(item.category ? fact("Category", item.category) : []),
    ...(item.price !== null ? fact("Price", money(item.price, item.currency)) : []),
    ...Object.entries(item.attributes).flatMap(([key, value]) => fact(key, String(value))),
    ...(item.url ? fact("Product page", el("a", { href: item.url, rel: "noopener", text: item.url })) : []),
  );
  document.getElementById("images").replaceChildren(
    ...images.map((image, n) =>
      el(
        "li",
        {},
        el(
          "figure",
          {},
          el("img", {
            src: image.url,
            width: String(image.width),
            height: String(image.height),
            alt: `${name}, reference image ${n + 1} of ${images.length}`,
          }),
          el("figcaption", { text: n === 0 ? "Primary image" : `Image ${n + 1}` }),
        ),
      ),
    ),
  );
  document.body.dataset.ready = "true";
} catch (err) {
  showError(err);
}
