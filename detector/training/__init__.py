"""Training our own product detector: compose a YOLO dataset from catalog photos, train, export.

Separate from ``evaluation.synth`` on purpose (own layouts, own seeds, disjoint items), so the
benchmark measures generalisation rather than memorised generator quirks.
"""
