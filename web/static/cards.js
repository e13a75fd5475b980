// Small DOM helpers and the product card shared by the search results and the catalog browser.
import { UI, itemPath } from "./api.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.dataset[name.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function money(price, currency) {
  if (price === null || price === undefined) return "";
  try {
    return new Intl.NumberFormat(undefined, currency ? { style: "currency", currency } : {}).format(price);
  } catch {
    return `${price} ${currency || ""}`.trim(); // an unknown currency code
  }
}

export function itemHref(catalog, itemId) {
  return UI + itemPath(catalog, itemId); // the page's item view mirrors the API's item path
}

// One product: photo, title, brand, price, and the score when it comes from a search.
export function itemCard(catalog, item, { score } = {}) {
  const name = item.title || item.item_id;
  const href = itemHref(catalog, item.item_id);
  return el(
    "li",
    { class: "card", "data-item-id": item.item_id, "data-price": item.price ?? null },
    el(
      "a",
      { href, class: "photo", tabindex: "-1" }, // one tab stop per card: the title link below
      item.image_url ? el("img", { src: item.image_url, alt: `Photo of ${name}`, loading: "lazy", decoding: "async" }) : null,
    ),
    el("h3", {}, el("a", { href }, name)),
    item.brand ? el("p", { class: "brand", text: item.brand }) : null,
    el(
      "p",
      { class: "meta" },
      el("span", { class: "price", text: money(item.price, item.currency) }),
      score !== undefined ? el("span", { class: "score", title: "cosine similarity", text: `score ${score.toFixed(2)}` }) : null,
    ),
    item.url ? el("a", { class: "shop", href: item.url, rel: "noopener", text: "Product page" }) : null,
  );
}
