"""Training the product embedder on the CPU: cached backbone features, a small head, a metric loss."""
