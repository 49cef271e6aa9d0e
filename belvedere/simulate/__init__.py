"""belvedere.simulate."""
