"""belvedere.web."""
