"""Bottom layer shared by every package: error types, atomic writes, logging, device and timing helpers.

Imports nothing from the project, so configs, dataset, models, search_space, engine, run_apis and
tools may all use it without cycles."""
