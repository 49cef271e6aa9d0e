"""belvedere.store: persistence behind one protocol (:class:`belvedere.store.base.Store`).

Backends live in folders of their own — ``duckdb/`` (the embedded default) and ``postgres/``
(the server store) — and are opened by URL with :func:`belvedere.store.factory.open_store`.
"""
