"""Building and updating an index: embedding throughput, full builds, incremental updates, cold start."""
