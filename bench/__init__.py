"""Benchmarks. ``make bench`` (``python -m bench``) runs them all; ``python -m bench NAME``
runs one. Each prints its result and the command that reproduces it; results are
recorded in docs/performance.md by hand, with the date."""
