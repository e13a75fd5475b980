"""The search pipeline's own rules: which regions are searched, how results merge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from detector import select_regions
from lookalike.errors import InvalidParameterError
from lookalike.settings import DetectorSettings, Settings, load_settings
from lookalike.types import Box, DecodedImage, Region
from service.search import SearchRequest, merge_neighbours


def blank(w: int = 100, h: int = 200) -> DecodedImage:
    return DecodedImage(Image.new("RGB", (w, h)), "0" * 64)


def test_no_detection_falls_back_to_the_whole_image() -> None:
    regions = select_regions([], blank(), DetectorSettings())
    assert [r.box.as_list() for r in regions] == [[0, 0, 100, 200]]


def test_tiny_boxes_are_dropped_and_the_best_few_kept() -> None:
    settings = DetectorSettings(max_regions=2, min_box_fraction=0.05)
    found = [
        Region(Box(0, 0, 5, 5), "a", 0.99),  # 25 px: under 5% of 20,000
        Region(Box(0, 0, 50, 50), "b", 0.5),
        Region(Box(10, 10, 90, 90), "c", 0.9),
        Region(Box(0, 100, 100, 200), "d", 0.7),
    ]
    assert [r.category for r in select_regions(found, blank(), settings)] == ["c", "d"]


def test_boxes_are_clipped_to_the_image_and_whole_image_added_on_request() -> None:
    settings = DetectorSettings(include_whole_image=True)
    regions = select_regions([Region(Box(-10, -10, 60, 300), "x", 0.8)], blank(), settings)
    assert regions[0].box.as_list() == [0, 0, 60, 200]
    assert regions[-1].box.as_list() == [0, 0, 100, 200]


def test_a_box_around_both_shoes_is_dropped_when_each_shoe_has_its_own() -> None:
    pair = Region(Box(10, 150, 90, 190), "Shoes", 0.6)
    left, right = Region(Box(12, 152, 45, 188), "Shoes", 0.5), Region(Box(55, 152, 88, 188), "Shoes", 0.4)
    skirt = Region(Box(5, 60, 95, 150), "bottom", 0.9)  # holds nothing of its category: kept
    kept = select_regions([pair, left, right, skirt], blank(), DetectorSettings())
    assert kept == [skirt, left, right]
    # one shoe boxed on its own is no pair: the bigger box may be the other shoe's only region
    assert select_regions([pair, left], blank(), DetectorSettings()) == [pair, left]
    assert pair in select_regions([pair, left, right], blank(), DetectorSettings(pair_categories=[]))


def test_merge_keeps_best_score_per_item_and_breaks_ties_by_id() -> None:
    merged = merge_neighbours(
        [("b", 0.5), ("a", 0.9), ("b", 0.95), ("c", 0.9), ("a", 0.1)], k=3, min_score=None
    )
    assert merged == [("b", 0.95), ("a", 0.9), ("c", 0.9)]
    assert merge_neighbours([("a", 0.9), ("b", 0.2)], k=5, min_score=0.5) == [("a", 0.9)]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest("c", k=0), "k must be between 1 and 100"),
        (SearchRequest("c", k=101), "k must be between 1 and 100"),
        (SearchRequest("c", box=Box(50, 50, 10, 60)), "x2 > x1"),
        (SearchRequest("c", box=Box(0, 0, 101, 50)), "outside"),
        (SearchRequest("c", box=Box(10, 10, 11, 11)), "too small"),
        (SearchRequest("c", min_score=2.0), "min_score"),
    ],
)
def test_bad_parameters_are_client_errors(request_: SearchRequest, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        request_.validate(blank())


def test_a_config_file_is_read_where_it_is_given_and_leaves_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOOKALIKE_CONFIG", raising=False)
    config = tmp_path / "lookalike.toml"
    config.write_text('[detector]\nspec = "none"\n[embedder]\nbatch_size = 8\n')
    monkeypatch.setenv("LOOKALIKE_EMBEDDER__BATCH_SIZE", "4")
    settings = load_settings(config)
    assert settings.detector.spec == "none" and settings.embedder.batch_size == 4  # the environment wins
    assert "LOOKALIKE_CONFIG" not in os.environ
    assert Settings().detector.spec == "garment-yolo", "a later load reads no file it was not given"


def test_settings_read_nested_environment_and_toml(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "lookalike.toml"
    config.write_text('data_dir = "/srv/look"\n[embedder]\nbatch_size = 8\n[detector]\nspec = "none"\n')
    monkeypatch.setenv("LOOKALIKE_CONFIG", str(config))
    monkeypatch.setenv("LOOKALIKE_DETECTOR__MAX_REGIONS", "3")
    s = Settings()
    assert s.embedder.batch_size == 8 and s.detector.spec == "none" and s.detector.max_regions == 3
    assert s.db_url == "sqlite:////srv/look/lookalike.db"
