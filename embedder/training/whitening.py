"""Learned whitening of the tuned tail's vectors, fitted in closed form on the training data.

Radenovic et al.'s supervised whitening ("Lw", TPAMI 2018): centre the unit vectors on the
training mean and multiply by the inverse square root of the covariance of *matching* differences
(a store photo minus its product's mean vector; a garment's screenshot view minus its photo), so
the directions in which photos of one product vary count less than those in which products
differ. The covariance is shrunk towards a multiple of the identity (``shrinkage`` x its mean
eigenvalue): the training products' own variation is smaller than a new product's (the tail was
trained to pull them together), and unshrunk the whitening over-trusts it. The width stays 1,280.
"""

from __future__ import annotations

import numpy as np


def matching_differences(vectors: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """Each vector minus the mean of its identity's vectors (identities with one vector give none)."""
    out = []
    for ident in np.unique(identity):
        rows = vectors[identity == ident]
        if len(rows) > 1:
            out.append(rows - rows.mean(0))
    return np.concatenate(out) if out else np.zeros((0, vectors.shape[1]), vectors.dtype)


def fit_whitening(
    vectors: np.ndarray, differences: np.ndarray, shrinkage: float
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection): ``(v - mean) @ projection`` whitens ``differences``' covariance, shrunk."""
    if shrinkage <= 0:
        raise ValueError(f"shrinkage must be positive, not {shrinkage}")
    if len(differences) < 2:
        raise ValueError("whitening needs at least two matching differences")
    d = differences.astype(np.float64)
    cov = d.T @ d / len(d)
    cov += shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    eigval, eigvec = np.linalg.eigh(cov)
    proj = (eigvec * eigval**-0.5) @ eigvec.T
    return vectors.mean(0).astype(np.float32), proj.astype(np.float32)


__all__ = ["fit_whitening", "matching_differences"]
