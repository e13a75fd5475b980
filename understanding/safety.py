"""The upload safety gate: NudeNet's body-region detector and a policy of classes, thresholds, actions.

NudeNet's ``320n.onnx`` (shipped in the ``nudenet`` wheel: an ultralytics YOLOv8n export) finds
body regions, covered or exposed, on people. A gate does not need its boxes, only how sure the
model is that each class is anywhere in the image: the best score per class over every anchor,
with no NMS. The policy (``SafetySettings.rules``) turns those scores into one verdict: the most
severe action among the rules that fire (refuse > flag > allow).

Pre-processing is NudeNet's own: the image padded with black at the right and bottom to a square,
resized to 320 px, RGB scaled to 0..1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from lookalike.execution import ExecutionPolicy
from lookalike.onnx_sessions import AdaptiveSession, open_session
from lookalike.packaged import nudenet_320n
from lookalike.settings import NUDENET_CLASSES, SafetyRule
from lookalike.types import SafetyFinding as Finding

SafetyAction = Literal["allow", "flag", "refuse"]
SEVERITY: dict[str, int] = {"allow": 0, "flag": 1, "refuse": 2}
INPUT_SIDE = 320


@dataclass(frozen=True)
class SafetyVerdict:
    """What the gate decided for one image, and why."""

    action: SafetyAction
    findings: tuple[Finding, ...] = ()
    ms: float = 0.0

    @property
    def flagged(self) -> bool:
        return self.action == "flag"


ALLOWED = SafetyVerdict("allow")


def policy_acts(rules: Sequence[SafetyRule]) -> bool:
    """Whether a policy can act: an empty one, or one of ``allow`` rules only, never runs the model."""
    return any(rule.action != "allow" for rule in rules)


def judge(scores: dict[str, float], rules: Sequence[SafetyRule]) -> SafetyVerdict:
    """The verdict of ``rules`` on per-class scores: the most severe action among the rules that fire."""
    findings: dict[str, Finding] = {}
    for rule in rules:
        if rule.action == "allow":
            continue
        for label in rule.classes:
            score = scores.get(label, 0.0)
            if score < rule.min_score:
                continue
            seen = findings.get(label)
            if seen is None or SEVERITY[rule.action] > SEVERITY[seen.action]:
                findings[label] = Finding(label, round(score, 4), rule.action)
    if not findings:
        return ALLOWED
    worst: SafetyAction = "refuse" if any(f.action == "refuse" for f in findings.values()) else "flag"
    ordered = sorted(findings.values(), key=lambda f: (-SEVERITY[f.action], -f.score, f.label))
    return SafetyVerdict(worst, tuple(ordered))


def letterbox(image: Image.Image, side: int = INPUT_SIDE) -> npt.NDArray[np.float32]:
    """NudeNet's input: padded with black to a square at the right and bottom, resized, CHW 0..1."""
    rgb = image.convert("RGB")
    long_side = max(rgb.size)
    square = Image.new("RGB", (long_side, long_side))
    square.paste(rgb, (0, 0))
    pixels = np.asarray(square.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None] / 255.0)


@dataclass
class BodyDetector:
    """NudeNet 320n in ONNX Runtime: the best score of each class anywhere in an image."""

    threads: int = 0
    execution: ExecutionPolicy | None = None
    side: int = INPUT_SIDE
    """The model's input side (a multiple of 32; NudeNet's own is 320)."""
    _session: AdaptiveSession | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def spec(self) -> str:
        return f"nudenet-320n@{self.side}"

    @property
    def session(self) -> AdaptiveSession:
        with self._lock:  # two first requests must not load it twice
            if self._session is None:
                self._session = open_session(nudenet_320n(), self.threads, self.execution)
            return self._session

    def class_scores(self, image: Image.Image) -> dict[str, float]:
        blob = letterbox(image, self.side)
        (out,) = self.session.run(None, {"images": blob})
        scores = np.asarray(out)[0, 4:, :]  # (classes, anchors): box rows 0-3 are not needed
        best = scores.max(axis=1)
        return {label: float(best[i]) for i, label in enumerate(NUDENET_CLASSES)}


class SafetyGate:
    """Screens an image under a policy; the model loads on the first image a policy acts on."""

    def __init__(self, detector: BodyDetector | None = None) -> None:
        self.detector = detector or BodyDetector()

    def screen(self, image: Image.Image, rules: Sequence[SafetyRule]) -> SafetyVerdict:
        if not policy_acts(rules):
            return ALLOWED
        start = time.perf_counter()
        verdict = judge(self.detector.class_scores(image), rules)
        return SafetyVerdict(verdict.action, verdict.findings, (time.perf_counter() - start) * 1000.0)


__all__ = [
    "ALLOWED",
    "BodyDetector",
    "Finding",
    "SafetyAction",
    "SafetyGate",
    "SafetyVerdict",
    "judge",
    "letterbox",
    "policy_acts",
]
