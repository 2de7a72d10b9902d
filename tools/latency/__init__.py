"""Latency studies across runtimes (issue 55)."""
