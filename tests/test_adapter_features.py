"""What `lookalike adapt` can fit on besides one network's vector: colour histograms, several
networks side by side, and no head at all (the closed-form projection alone). Each is part of the
vectors' name, so an index built without it is never searched with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from embedder import Embedder, load_embedder
from embedder.adapters import fit_adapter
from embedder.colour import BINS, WithColour, colour_histogram
from embedder.concat import Concatenated, parse_concat
from lookalike.settings import EmbedderSettings
from tests.conftest import CPU_EMBEDDER
from tests.images import clothing_photos
from tests.test_adapters import _domain_gap


def _photo() -> Image.Image:
    with Image.open(clothing_photos(1)[0]) as img:
        return img.convert("RGB")


def test_colour_histograms_tell_a_red_crop_from_a_green_one_of_the_same_shape() -> None:
    red, green = Image.new("RGB", (80, 80), (200, 30, 30)), Image.new("RGB", (80, 80), (30, 200, 30))
    h_red, h_green = colour_histogram(red), colour_histogram(green)
    assert h_red.shape == (2 * BINS,) and np.isclose(np.linalg.norm(h_red[:BINS]), 1.0)
    assert float(h_red @ h_green) < 0.01 and np.isclose(float(h_red @ colour_histogram(red)), 2.0)


def test_with_colour_is_named_wider_and_unit_length(embedder: Embedder) -> None:
    coloured = WithColour(embedder)
    assert coloured.spec == embedder.spec + "+colour" and coloured.dim == embedder.dim + 2 * BINS
    photo = _photo()
    a, b = coloured.embed_images([photo, ImageOps.mirror(photo)])
    assert a.shape == (coloured.dim,) and np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert np.allclose(a[embedder.dim :], b[embedder.dim :], atol=1e-6), "a mirror has the same colours"
    assert coloured.embed_images([]).shape == (0, coloured.dim)


def test_the_setting_builds_it_into_the_vectors_name() -> None:
    settings = CPU_EMBEDDER.model_copy(update={"colour_histogram": True})
    assert load_embedder(settings).spec.endswith("+colour")


def test_concat_puts_the_parts_side_by_side_each_counting_equally(embedder: Embedder) -> None:
    both = Concatenated([embedder, embedder])
    assert both.spec == f"concat({embedder.spec},{embedder.spec})" and both.dim == 2 * embedder.dim
    (v,) = both.embed_images([_photo()])
    assert np.isclose(np.linalg.norm(v), 1.0, atol=1e-5)
    assert np.allclose(v[: embedder.dim], v[embedder.dim :])
    assert parse_concat("torchvision:mobilenet_v2") is None
    assert parse_concat("concat:a, b") == ["a", "b"]
    with pytest.raises(ValueError, match="at least two"):
        parse_concat("concat:a")


@pytest.mark.slow
def test_a_concat_spec_loads_its_parts() -> None:
    spec = "concat:torchvision:mobilenet_v2,torchvision:mobilenet_v2"
    loaded = load_embedder(EmbedderSettings(spec=spec, device="cpu", runtime="torch"))
    assert loaded.spec.startswith("concat(torchvision:mobilenet_v2@") and loaded.dim == 2560


def test_no_head_fits_the_projection_alone_and_still_beats_the_frozen_vectors() -> None:
    photos, labels, refs, ref_items = _domain_gap(40, 6, 0)
    adapter, report = fit_adapter(photos, labels, refs, ref_items, base_spec="toy", max_steps=0)
    assert report.steps == 0 and adapter.head.hidden == 1 and adapter.projection is not None
    assert report.recall["adapter"]["@1"] >= report.recall["frozen"]["@1"] + 0.15, report.recall
    x = photos[:5]
    with torch.no_grad():
        assert np.allclose(adapter.head(torch.from_numpy(x)).numpy(), x, atol=1e-5), (
            "the head is the identity"
        )


def test_the_projections_shrinkage_is_reported_versioned_and_bounded() -> None:
    photos, labels, refs, ref_items = _domain_gap(30, 6, 2)
    low, low_report = fit_adapter(photos, labels, refs, ref_items, base_spec="toy", max_steps=0)
    high, high_report = fit_adapter(
        photos, labels, refs, ref_items, base_spec="toy", max_steps=0, shrinkage=0.8
    )
    assert low_report.shrinkage == 0.1 and high_report.shrinkage == 0.8
    assert high.meta["fit"]["shrinkage"] == 0.8
    assert low.digest != high.digest, "another shrinkage is another projection, so another version"
    assert high_report.recall["adapter"]["@1"] >= high_report.recall["frozen"]["@1"] + 0.15
    with pytest.raises(ValueError, match="shrinkage"):
        fit_adapter(photos, labels, refs, ref_items, base_spec="toy", max_steps=0, shrinkage=1.0)
