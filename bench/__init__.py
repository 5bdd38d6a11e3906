"""Benchmarks for publisher: a site generator and a harness that times the real CLI.

Not part of `make test`; `make bench` runs it and `make bench-smoke` runs a tiny size.
"""
