"""belvedere.live: real-time ingestion and the live picture (docs/live.md)."""
