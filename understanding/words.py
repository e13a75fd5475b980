"""From text read in a screenshot (or typed in ``q=``) to the words worth searching for.

A screenshot's text mixes the product's name with prices, hashtags, handles, emoji, the clock
and app chrome ("Add to bag", "Sponsored"). Prices are kept apart (``Price``); hashtags,
handles, links, emoji, numbers and chrome words never reach the text search, so they cannot
pull in items that merely share a "#ootd" or "$39".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
CURRENCY_CODES = ("EUR", "USD", "GBP", "JPY", "CHF", "SEK", "DKK", "NOK", "PLN", "AUD", "CAD", "INR")
_SIGNS = "".join(re.escape(s) for s in CURRENCY_SIGNS)
_CODES = "|".join(CURRENCY_CODES)
_AMOUNT = r"\d{1,6}(?:[.,]\d{3})*(?:[.,]\d{1,2})?"
PRICE = re.compile(
    rf"(?:(?P<pre>[{_SIGNS}]|\b(?:{_CODES})\b)\s?(?P<a1>{_AMOUNT}))"
    rf"|(?:(?P<a2>{_AMOUNT})\s?(?P<post>[{_SIGNS}]|\b(?:{_CODES})\b))",
    re.IGNORECASE,
)
NOISE = re.compile(r"(?:https?://|www\.)\S+|[#@][^\s#@]+", re.IGNORECASE)
WORD = re.compile(r"[^\W_]+(?:[-'&][^\W_]+)*")
CHROME = frozenset(
    """
    a an and the of for with to in on at by or from new sale off free now more all see view
    add bag cart basket buy shop shopping checkout wishlist save saved share like likes liked
    comment comments reply follow following followers message sponsored ad ads promoted
    search home results sort filter filters size sizes colour colours color colors price
    details delivery shipping returns reviews review stars item items only left stock
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
MIN_WORD_LENGTH = 2
MAX_WORDS = 32


@dataclass(frozen=True, slots=True)
class Price:
    """An amount read next to a currency sign or code."""

    amount: float
    currency: str


@dataclass(frozen=True, slots=True)
class QueryWords:
    """What a text ranking searches for, and the prices seen (never searched as words)."""

    words: tuple[str, ...]
    prices: tuple[Price, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.words

    def text(self) -> str:
        return " ".join(self.words)


def _amount(raw: str) -> float:
    """'1.299,00' -> 1299.0, '39.90' -> 39.9, '1,299' -> 1299.0."""
    last = max(raw.rfind("."), raw.rfind(","))
    if last >= 0 and len(raw) - last - 1 in (1, 2):
        whole, cents = raw[:last], raw[last + 1 :]
        return float(re.sub(r"[.,]", "", whole) + "." + cents)
    return float(re.sub(r"[.,]", "", raw))


def find_prices(text: str) -> list[Price]:
    found = []
    for m in PRICE.finditer(text):
        sign = (m.group("pre") or m.group("post") or "").upper()
        amount = m.group("a1") or m.group("a2") or "0"
        found.append(Price(_amount(amount), CURRENCY_SIGNS.get(sign, sign)))
    return found


def query_words(*texts: str) -> QueryWords:
    """The searchable words of some lines, lower-cased, first occurrence first, chrome left out."""
    words: dict[str, None] = {}
    prices: list[Price] = []
    for text in texts:
        prices.extend(find_prices(text))
        cleaned = NOISE.sub(" ", PRICE.sub(" ", text))
        for word in WORD.findall(cleaned):
            w = word.lower()
            if len(w) < MIN_WORD_LENGTH or w in CHROME or (any(c.isdigit() for c in w) and not _mixed(w)):
                continue
            words.setdefault(w, None)
    return QueryWords(tuple(words)[:MAX_WORDS], tuple(prices))


def _mixed(word: str) -> bool:
    """Model codes ('501', no; 'x200', 'af1', yes): words with letters and digits are kept."""
    return any(c.isalpha() for c in word)
