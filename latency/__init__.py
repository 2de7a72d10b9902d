"""Latency measurement on a device: per-op lookup tables measured in isolation or fitted in context
(``latency.measure``, ``latency.fit``), whole networks timed in fresh processes
(``latency.network_timing``), the statistics that check a table against measured networks
(``latency.stats``).

It sits on the search space it measures for (its topology, the cost-table format the search reads
in ``search_space.cost_table``, the derive's cost rule) and below the engine and the command-line
tools: ``run_apis.latency_measure`` and ``run_apis.profile`` are its front ends.
"""
