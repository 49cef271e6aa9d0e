"""⑨ The compliance dossier, generated from the code: the record of processing, a DPIA the
CNIL's PIA tool imports, model cards, the register of algorithms, the retention table with the
latest purge receipts, and the public transparency page (docs/dossier.md).

It sits with the briefings in the human-facing layer: it reads the store only through
:mod:`belvedere.privacy` (:mod:`belvedere.privacy.dossier`), and each generation is a line of
the access log.

Public entry point: :func:`belvedere.dossier.build.write_dossier`.
"""
