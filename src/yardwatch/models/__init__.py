"""Detector models: the only package that imports ultralytics (lazily, inside functions)."""
