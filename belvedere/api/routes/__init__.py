"""belvedere.api/routes."""
