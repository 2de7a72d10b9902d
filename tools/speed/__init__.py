"""Speed benchmarks: a search step, the data path, a retrain, the whole benchmark loop."""
