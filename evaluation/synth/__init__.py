"""Synthetic queries built from real photos."""
