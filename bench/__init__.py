"""Benchmarks: models, retrieval, the graph, reports, the server (run the modules as scripts).

For example ``bench/models.py``; speed targets are ratios measured side by side.
"""
