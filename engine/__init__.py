"""Tagging engine: model, vectors, projection, ranking, store, training. Never imports Qt."""
