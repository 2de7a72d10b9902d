"""Command-line entry points: python -m run_apis.<search|retrain|validation|profile|latency_measure|export>."""
