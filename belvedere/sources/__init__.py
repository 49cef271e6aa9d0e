"""belvedere.sources."""
