"""The server store: PostgreSQL with PostGIS, shared by every process of a deployment."""
