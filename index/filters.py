"""What a search may be restricted to: categories, brands, a price range, stock and attribute equality.

Values are compared in a canonical text form (``canonical``) so that a CSV "True", a JSON
``true`` and a form field "true" mean the same, and "Nike" matches "nike".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})
IN_STOCK = "in_stock"
"""The item attribute that says whether an item can be bought now (absent = unknown)."""


def canonical(value: object) -> str | None:
    """The form a value is matched in: trimmed, case-folded text; booleans and whole numbers normalised."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        return text or None
    return None  # lists and objects are not filterable


def stock_state(value: object) -> int:
    """1 in stock, 0 out of stock, -1 unknown (absent or unreadable); a count > 0 means in stock."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value > 0)
    text = canonical(value)
    if text in TRUE_WORDS:
        return 1
    if text in FALSE_WORDS:
        return 0
    return -1


@dataclass(frozen=True)
class SearchFilter:
    """A conjunction of restrictions; ``None`` / empty means "no restriction" for that field.

    ``in_stock=True`` keeps only items known to be in stock; ``in_stock=False`` drops them
    (items whose stock is unknown stay).
    """

    categories: frozenset[str] | None = None
    brands: frozenset[str] | None = None
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def combine(flt: SearchFilter | None, categories: Collection[str] | None) -> SearchFilter:
        """The filter a search call means: ``flt`` with ``categories`` (the older argument) folded in."""
        flt = flt or SearchFilter()
        return replace(flt, categories=frozenset(categories)) if categories else flt

    @staticmethod
    def of(
        *,
        categories: Iterable[str] | None = None,
        brands: Iterable[str] | None = None,
        price_min: float | None = None,
        price_max: float | None = None,
        in_stock: bool | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> SearchFilter:
        """Build a filter from loose values (brands and attribute values are canonicalised)."""
        attrs: dict[str, str] = {}
        for name, value in (attributes or {}).items():
            text = canonical(value)
            if text is None:
                raise ValueError(f"attribute {name!r}: only text, number or boolean values can be matched")
            attrs[name.strip()] = text
        brand_set = {b for b in (canonical(x) for x in brands or ()) if b}
        return SearchFilter(
            categories=frozenset(categories) if categories else None,
            brands=frozenset(brand_set) if brand_set else None,
            price_min=price_min,
            price_max=price_max,
            in_stock=in_stock,
            attributes=tuple(sorted(attrs.items())),
        )

    @property
    def empty(self) -> bool:
        return not (
            self.categories
            or self.brands
            or self.price_min is not None
            or self.price_max is not None
            or self.in_stock is not None
            or self.attributes
        )

    def accepts(
        self, category: str | None, brand: str | None, price: float | None, attributes: Mapping[str, object]
    ) -> bool:
        """Whether one item's values pass (what ``Payload.mask`` decides for index rows)."""
        if self.categories and category not in self.categories:
            return False
        if self.brands and canonical(brand) not in self.brands:
            return False
        if self.price_min is not None and (price is None or price < self.price_min):
            return False
        if self.price_max is not None and (price is None or price > self.price_max):
            return False
        stock = stock_state(attributes.get(IN_STOCK))
        if self.in_stock is True and stock != 1:
            return False
        if self.in_stock is False and stock == 1:
            return False
        return all(canonical(attributes.get(name)) == value for name, value in self.attributes)

    def describe(self) -> str:
        parts = []
        if self.categories:
            parts.append(f"category in {sorted(self.categories)}")
        if self.brands:
            parts.append(f"brand in {sorted(self.brands)}")
        if self.price_min is not None or self.price_max is not None:
            parts.append(f"price in [{self.price_min}, {self.price_max}]")
        if self.in_stock is not None:
            parts.append(f"in_stock={self.in_stock}")
        parts.extend(f"{k}={v}" for k, v in self.attributes)
        return " and ".join(parts) or "none"


NO_FILTER = SearchFilter()
