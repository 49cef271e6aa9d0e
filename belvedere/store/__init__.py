"""belvedere.store."""
