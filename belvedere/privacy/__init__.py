"""⑤ The only way out: release gate, policies, users and sessions, the access log.

Public entry point: :func:`belvedere.privacy.release.release`.
"""
