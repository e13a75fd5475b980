"""Understanding a screenshot beyond its pixels: the text in it (OCR) and the words worth searching.

- ``ScreenReader.read(image, mode)``: text lines with boxes (PP-OCRv4 in ONNX Runtime, the models
  packaged in ``rapidocr-onnxruntime``), per the ``understanding`` settings;
- ``tie_lines(lines, boxes)``: which product region each line describes;
- ``query_words(*texts)``: the searchable words (no prices, hashtags, emoji or app chrome).

A stage: it stands on the shared ground alone.
"""

from understanding.layout import tie_lines
from understanding.ocr import ReaderOptions, TextReader
from understanding.screen import OCR_MODES, OcrMode, ScreenReader, ScreenText
from understanding.words import Price, QueryWords, find_prices, query_words

__all__ = [
    "OCR_MODES",
    "OcrMode",
    "Price",
    "QueryWords",
    "ReaderOptions",
    "ScreenReader",
    "ScreenText",
    "TextReader",
    "find_prices",
    "query_words",
    "tie_lines",
]
