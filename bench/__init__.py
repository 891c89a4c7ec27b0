"""Benchmarks: scripts that measure qa and build the data they measure it on, one folder an area.
Run from the repository root as modules (`python -m bench.retrieval.speed`); see bench/README.md."""
