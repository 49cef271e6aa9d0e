"""belvedere.briefings."""
