"""Benchmarks: the product against the bare frameworks and the platform limits (issue 7)."""
