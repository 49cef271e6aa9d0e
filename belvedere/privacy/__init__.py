"""belvedere.privacy."""
