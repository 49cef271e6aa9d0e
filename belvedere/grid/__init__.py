"""② The common space-time model: records, H3 cells, time bins, zones, named places."""
