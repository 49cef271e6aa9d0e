"""⑧ Briefings: HTML/PDF reports for people — the event-preparation briefing first.

Briefings read data only through the release gate and the models' loaders (never the store's
implementation), threshold every count shown in a table, and record their own production in
the access log. See :mod:`belvedere.briefings.event_brief`.
"""
