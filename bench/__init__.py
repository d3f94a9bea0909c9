"""Benchmarks of the station outbox and the end-to-end sync path (``make bench``).

Every figure is printed next to a raw baseline measured in the same run on the same machine,
so the ratio says how much the project's own code costs over the bare library or broker.
Nothing here asserts on wall-clock time; the tests never do either.
"""
