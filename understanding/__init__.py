"""Understanding a screenshot beyond its pixels: the text in it (OCR) and the words worth searching.

- ``ScreenReader.find(image, mode)``, then ``.recognise(image, found, regions)``: text lines with
  boxes (PP-OCRv4 in ONNX Runtime, the models packaged in ``rapidocr-onnxruntime``), per the
  ``understanding`` settings; ``choose_lines``: which lines are worth recognising;
- ``tie_lines(lines, boxes)``: which product region each line describes;
- ``query_words(*texts)``: the searchable words (no prices, hashtags, emoji or app chrome);
- ``SafetyGate.screen(image, rules)``: the upload safety gate (NudeNet 320n in ONNX Runtime, the
  model packaged in ``nudenet``) under a policy of classes, thresholds and actions;
- ``Explainer.explain(crop, item_vectors, embed)``: why a crop matched an item, as an occlusion
  heatmap (a grid of cosine drops and a PNG).

A stage: it stands on the shared ground alone.
"""

from understanding.explain import Explainer, ExplainOptions
from understanding.layout import choose_lines, tie_lines
from understanding.ocr import ReaderOptions, TextReader
from understanding.safety import (
    ALLOWED,
    BodyDetector,
    SafetyAction,
    SafetyGate,
    SafetyVerdict,
    judge,
    policy_acts,
)
from understanding.screen import OCR_MODES, FoundLines, FoundText, OcrMode, ScreenReader, ScreenText
from understanding.words import Price, QueryWords, find_prices, query_words

__all__ = [
    "ALLOWED",
    "OCR_MODES",
    "BodyDetector",
    "ExplainOptions",
    "Explainer",
    "FoundLines",
    "FoundText",
    "OcrMode",
    "Price",
    "QueryWords",
    "ReaderOptions",
    "SafetyAction",
    "SafetyGate",
    "SafetyVerdict",
    "ScreenReader",
    "ScreenText",
    "TextReader",
    "choose_lines",
    "find_prices",
    "judge",
    "policy_acts",
    "query_words",
    "tie_lines",
]
