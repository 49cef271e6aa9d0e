"""Tests of belvedere.briefings."""
