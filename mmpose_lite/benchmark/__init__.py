"""Benchmarks (the CLI wrappers live in tools/)."""
