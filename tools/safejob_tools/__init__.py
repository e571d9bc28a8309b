"""Operator tooling: the safejob-ops CLI, the local AWS harness, the demo and benchmarks."""
