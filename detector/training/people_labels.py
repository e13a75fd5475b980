"""Clothing Co-Parsing's fine labels -> the detector's classes, or excluded with the reason.

Every label of the dataset's vocabulary (59, of which 48 occur in the shared photos) is listed:
``PEOPLE_CLASS_MAP.class_of`` raises on any other, so a label is never lost silently.
Products worth a region: garments, footwear, bags, hats and scarves. Excluded: what is not a
product (skin, hair), hosiery (it reads as legs), and items too thin or small for a crop to find
its product at phone-screenshot scale (belts, eyewear, jewellery, ties, gloves, the dataset's
catch-all "accessories"); evaluation scores detections on them as neither right nor wrong.
"""

from __future__ import annotations

from detector.training.classes import GARMENT_CLASSES, ClassMap

TOPS = ("blouse", "bodysuit", "hoodie", "jumper", "shirt", "sweater", "sweatshirt", "t-shirt", "top")
BOTTOMS = ("jeans", "leggings", "pants", "shorts", "skirt")
DRESSES = ("dress", "romper")
OUTERWEAR = ("blazer", "cape", "cardigan", "coat", "jacket", "suit", "vest")
FOOTWEAR = ("boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "wedges")
BAGS = ("bag", "purse", "wallet")

EXCLUDED: dict[str, str] = {
    **dict.fromkeys(("null", "skin", "hair"), "not a product"),
    **dict.fromkeys(("stockings", "tights", "socks"), "hosiery: reads as legs, rarely the product"),
    **dict.fromkeys(("bra", "intimate", "panties"), "underwear: not visible in street photos"),
    **dict.fromkeys(
        ("belt", "sunglasses", "glasses", "tie", "gloves"), "thin or small: median short side 18-29 px"
    ),
    **dict.fromkeys(("bracelet", "earrings", "necklace", "ring", "watch"), "jewellery: too small"),
    "accessories": "the dataset's catch-all for small items (hair clips, jewellery)",
}

PEOPLE_CATEGORIES: dict[str, str | None] = {
    **dict.fromkeys(TOPS, "top"),
    **dict.fromkeys(BOTTOMS, "bottom"),
    **dict.fromkeys(DRESSES, "dress"),
    **dict.fromkeys(OUTERWEAR, "outerwear"),
    **dict.fromkeys(FOOTWEAR, "footwear"),
    "hat": "headwear",
    "scarf": "other",
    "swimwear": "other",
    **dict.fromkeys(BAGS, "bag"),
    **dict.fromkeys(EXCLUDED, None),
}

PEOPLE_CLASS_MAP = ClassMap(GARMENT_CLASSES, PEOPLE_CATEGORIES)
