"""The one exception root of belvedere, and its hierarchy.

Every error raised on purpose by belvedere derives from :class:`BelvedereError`, so a caller can
catch them all at once; each carries structured fields so that a message names the file, the row
and the rule that failed. Domain code never raises HTTP errors: ``api/`` maps these to status codes.

::

    BelvedereError
    ├── ConfigError                  a setting or a command-line value is unusable
    ├── SourceError                  a feed cannot be read at all (missing file, unknown format)
    │   └── RowRejected              one input row breaks a rule (goes to quarantine, never lost)
    ├── StoreError                   the store cannot be opened, migrated or written
    │   ├── StoreBusy                another process holds the DuckDB file
    │   └── AuditLogBroken           the access log was altered: its chain or tree heads disagree
    ├── PrivacyError                 the release gate refuses
    │   ├── RedLineViolation         a request or payload crosses a red line (person, image, plate…)
    │   └── PolicyDenied             the actor's role may not see this at this granularity
    └── AuthError                    unknown user, wrong password, expired session
        ├── CsrfRejected             a cookie-authenticated unsafe request lacks its CSRF token
        └── TooManyAttempts          too many failed logins: wait ``retry_after`` seconds
"""

from __future__ import annotations


class BelvedereError(Exception):
    """Root of every error belvedere raises on purpose."""


class ConfigError(BelvedereError):
    """A setting or command-line value is unusable."""


class NotFound(ConfigError):
    """The thing asked for by its id (an event, an alert, a zone) does not exist (HTTP 404)."""


class SourceError(BelvedereError):
    """A feed cannot be read at all.

    Attributes:
        source: the connector's name (``police_log``…).
        file: the file being read, when there is one.
    """

    def __init__(self, message: str, *, source: str, file: str | None = None) -> None:
        self.source = source
        self.file = file
        where = f"{source}" + (f" ({file})" if file else "")
        super().__init__(f"{where}: {message}")


class RowRejected(SourceError):
    """One input row breaks a rule; the ingest quarantines it with this reason.

    Attributes:
        row: 1-based line (CSV) or item number (JSON) in ``file``.
        rule: short machine-readable name of the rule that failed (``no_place``, ``bad_time``…).
    """

    def __init__(
        self, message: str, *, source: str, file: str | None, row: int, rule: str
    ) -> None:
        self.row = row
        self.rule = rule
        super().__init__(f"row {row}: {rule}: {message}", source=source, file=file)


class StoreError(BelvedereError):
    """The store cannot be opened, migrated or written."""


class StoreBusy(StoreError):
    """Another process (usually ``belvedere serve``) holds the DuckDB file."""


class AuditLogBroken(StoreError):
    """The access log was altered: a line's hash, its place in the chain or a signed tree head
    no longer matches (``belvedere audit verify`` names it).

    Attributes:
        seq: the first line found wrong (``None`` when only a tree head is).
    """

    def __init__(self, message: str, *, seq: int | None) -> None:
        self.seq = seq
        super().__init__(message)


class PrivacyError(BelvedereError):
    """The release gate refuses a release."""


class RedLineViolation(PrivacyError):
    """A request or a payload crosses one of the red lines of DESIGN.md §2.

    Attributes:
        rule: which red line (``person_key``, ``image``, ``plate``, ``track_id``…).
    """

    def __init__(self, message: str, *, rule: str) -> None:
        self.rule = rule
        super().__init__(f"{rule}: {message}")


class PolicyDenied(PrivacyError):
    """The actor's role may not receive this release."""


class AuthError(BelvedereError):
    """Unknown user, wrong password or expired session."""


class CsrfRejected(AuthError):
    """An unsafe request (POST, PUT, PATCH, DELETE) authenticated by the session cookie came
    without the matching ``X-CSRF-Token`` header: it may have been forged by another site."""


class TooManyAttempts(AuthError):
    """Too many failed logins for a user name or from a client address.

    Attributes:
        retry_after: seconds until the next attempt is accepted.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"{message}; try again in {retry_after} s")
