"""belvedere.models."""
