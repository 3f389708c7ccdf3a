"""Benchmark harness: ``python -m benchmarks --events N`` times the platform against baselines.

Every case compares the platform with a baseline measured in the same run, in fresh worker
processes; results land in ``benchmarks/RESULTS.md``, one section per input size.
"""
