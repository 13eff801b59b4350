"""Benchmarks and load-test tooling, run on demand (not part of the test suite)."""
