"""belvedere.api."""
