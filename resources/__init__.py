"""Bundled resources: model, class names, vocabularies, samples, screenshot."""
