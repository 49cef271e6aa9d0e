"""belvedere — a privacy-by-design public-safety data observatory for cities.

Place-based only: every output is keyed by a space-time cell or a zone, never by a person.
See ``docs/architecture.md`` for the data flow:
sources → grid → store → models → privacy → api / web / briefings / cli.
"""

__version__ = "0.1.0"
