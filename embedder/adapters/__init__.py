"""A retailer's domain fit: a small head trained on the frozen embedder's vectors of its own labelled
photos (``fit.py``), stored as one file (``adapter.py``) whose content hash joins the vectors' name,
so an index built with another adapter (or none) is refused, never mixed."""

from embedder.adapters.adapter import AdaptedEmbedder, Adapter, load_adapter
from embedder.adapters.fit import FitReport, fit_adapter, recall_at

__all__ = ["AdaptedEmbedder", "Adapter", "FitReport", "fit_adapter", "load_adapter", "recall_at"]
