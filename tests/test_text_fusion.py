"""The fusion rule: cosine + weight x relative text relevance, over the visual candidates only."""

from __future__ import annotations

import pytest

from service.text_fusion import fuse, telling_words


def test_words_reorder_look_alikes_and_the_score_is_the_fused_one() -> None:
    visual = [("decoy-brand", 0.98), ("decoy-name", 0.975), ("target", 0.91), ("other", 0.70)]
    text = [("target", 6.0), ("decoy-brand", 3.0), ("decoy-name", 2.0)]
    fused = fuse(visual, text, k=3, text_weight=0.5)
    assert [item for item, _, _ in fused] == ["target", "decoy-brand", "decoy-name"]
    assert fused[0][1] == pytest.approx(0.91 + 0.5) and fused[0][2] == ("visual", "text")


def test_no_text_or_no_weight_leaves_the_visual_ranking_and_text_adds_no_item() -> None:
    visual = [("a", 0.9), ("b", 0.8)]
    assert fuse(visual, [], k=2, text_weight=0.5) == [("a", 0.9, ("visual",)), ("b", 0.8, ("visual",))]
    assert [i for i, _, _ in fuse(visual, [("b", 1.0)], k=2, text_weight=0.0)] == ["a", "b"]
    assert [i for i, _, _ in fuse(visual, [("zzz", 9.0)], k=2, text_weight=0.5)] == ["a", "b"]


def test_words_matching_much_of_the_catalog_do_not_tell() -> None:
    counts = {"seller": 5000, "zara": 40, "shirt": 900, "nothing": 0}
    assert telling_words(["seller", "zara", "shirt", "nothing"], counts, 5400, 0.2) == ["zara", "shirt"]
    assert telling_words(["x"], {"x": 8}, 9, 0.2) == ["x"]  # a small catalog: up to 10 items tell
