"""Benchmarks for the model layer (run the modules as scripts, e.g. ``bench/models.py``)."""
