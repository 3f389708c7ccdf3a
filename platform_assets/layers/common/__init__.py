"""What every layer uses: checks framework, metadata, partitions, jobs, freshness, SQL asset factory."""
