"""A closed-form whitened linear discriminant projection, fitted on the adapter head's outputs.

The head (``fit.py``) learns a nonlinear correction by gradient steps; the projection then solves
``Sb v = lambda Sw v`` in one eigen-decomposition (seconds): directions that separate the items
(between-item scatter ``Sb``) against the spread of one item's photos (within-item scatter ``Sw``,
shrunk towards a scaled identity so that a few photos per item still give a well-posed problem).
The matrix stays square, so the index keeps its width: the ``top`` discriminant directions keep
weight 1, the others (no between-item signal) are damped by ``rest`` rather than dropped. The
catalog's reference vectors count ``ref_weight`` times, as the catalog side is what queries meet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import eigh


def fit_lda(
    vectors: np.ndarray,
    items: Sequence[str],
    *,
    shrinkage: float = 0.1,
    top: int = 80,
    rest: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, matrix)`` such that ``(x - mean) @ matrix`` is the projected vector (same width)."""
    x = np.asarray(vectors, dtype=np.float64)
    names, codes = np.unique(np.asarray(items), return_inverse=True)
    counts = np.bincount(codes, minlength=len(names)).astype(np.float64)
    means = np.zeros((len(names), x.shape[1]))
    np.add.at(means, codes, x)
    means /= counts[:, None]
    mean = x.mean(axis=0)
    within = x - means[codes]
    sw = within.T @ within / len(x)
    sw = (1 - shrinkage) * sw + shrinkage * (np.trace(sw) / sw.shape[0] + 1e-6) * np.eye(sw.shape[0])
    between = (means - mean) * np.sqrt(counts / len(x))[:, None]
    _, vecs = eigh(between.T @ between, sw)
    matrix = vecs[:, ::-1].copy()
    matrix[:, min(top, len(names) - 1, matrix.shape[1]) :] *= rest
    return mean.astype(np.float32), matrix.astype(np.float32)


def project(vectors: np.ndarray, mean: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Unit vectors of the projection (the index compares by inner product)."""
    out = (np.asarray(vectors, dtype=np.float32) - mean) @ matrix
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


__all__ = ["fit_lda", "project"]
