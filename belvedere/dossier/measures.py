"""The security and privacy measures belvedere actually implements, each tied to its code.

The record of processing (its "security measures" field), the PIA (its section 3.1, "planned
or existing measures", and the measures each risk lists) and the transparency page all read
this one list. Each measure names the code that implements it (``module`` or
``module:attribute``); a test imports every reference, so a measure whose code is renamed or
removed fails the build instead of lingering in the dossier.

Example:
    >>> MEASURES["pseudonymisation"].category
    'minimisation'
    >>> "belvedere.privacy.audit:record" in MEASURES["hash_chain"].code
    True
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("minimisation", "release", "accountability", "access", "integrity", "retention",
              "models", "oversight")


@dataclass(frozen=True, slots=True)
class Measure:
    """One implemented measure: what it does, in a sentence or three, and where its code is."""

    id: str
    category: str
    title: str
    description: str
    code: tuple[str, ...]


_MEASURES = (
    Measure("allowlists", "minimisation", "Field allowlists at the door",
            "Each connector reads only the fields of its allowlist (SourceInfo.keeps); every "
            "other input field — names, addresses, narratives, phone numbers — is dropped "
            "before anything is stored, and the drops are counted in the ingest log.",
            ("belvedere.sources.base:SourceInfo", "belvedere.sources.ingest:ingest_file")),
    Measure("pseudonymisation", "minimisation", "Keyed pseudonyms at the door",
            "Identifiers a feed must keep distinct (a field agent's id) are replaced by an "
            "HMAC-SHA256 pseudonym whose key is kept outside the store (environment or a key "
            "file readable by its owner only); a test scans every stored column for the key.",
            ("belvedere.sources.minimise:Pseudonymiser",
             "belvedere.sources.ingest:pseudonymiser_for")),
    Measure("redaction", "minimisation", "Free-text redaction",
            "Free text is dropped by default; when a mapping keeps a comment, e-mail addresses, "
            "IBANs, phone numbers, social-security numbers, plates and names after a civility "
            "are replaced by placeholders, vectorised over the whole column.",
            ("belvedere.sources.redact:redact",)),
    Measure("red_line_quarantine", "minimisation", "Red-line payloads refused",
            "A CCTV analytics payload carrying an image, a face, an embedding, a track id or "
            "a plate is quarantined with the rule red_line and nothing of it is stored; field "
            "names meaning a person are refused in any feed.",
            ("belvedere.sources.minimise:red_line_content",
             "belvedere.sources.minimise:crosses_red_line", "belvedere.sources.cctv")),
    Measure("place_based_outputs", "minimisation", "Outputs keyed by place, never by person",
            "Every route, export and model output is keyed by an H3 cell, a zone or a site; a "
            "checker run by the red-line tests over every output flags any field named for a "
            "person and any value that looks like an e-mail, phone, plate or pseudonym.",
            ("belvedere.privacy.redlines:person_findings",)),
    Measure("release_gate", "release", "One release gate, coarsened by role",
            "Every figure reaching a person passes the release gate, which coarsens the query "
            "to the finest level its role may see (operators: H3 cell × hour; every other "
            "role: arrondissement × day) and records the release in the access log.",
            ("belvedere.privacy.release:release", "belvedere.privacy.release:grant",
             "belvedere.privacy.policy:POLICIES")),
    Measure("k_suppression", "release", "Small counts suppressed",
            "Counts under k = 11 are withheld for every role but the supervision centre's "
            "operators, and for every role on the feeds that count residents or patients "
            "(mobile presence, hospital arrivals).",
            ("belvedere.privacy.release:suppress", "belvedere.privacy.policy:DEFAULT_K",
             "belvedere.privacy.policy:ALWAYS_THRESHOLDED")),
    Measure("differential_privacy", "release", "Differential privacy on released counts",
            "Analysts, the DPO and the public receive counts with discrete Laplace (or "
            "discrete Gaussian) noise calibrated by OpenDP over a key domain fixed before "
            "looking at the data, then thresholded; the ε per release comes from the "
            "register of purposes.",
            ("belvedere.privacy.dp:calibrate", "belvedere.privacy.dp:noise_situation")),
    Measure("privacy_ledger", "release", "Privacy-loss ledger with caps",
            "Each noised release is charged to its purpose's budget before its figures are "
            "computed; a release that would pass the purpose's cap for the day is refused.",
            ("belvedere.privacy.ledger",)),
    Measure("purpose_register", "release", "Register of purposes and role × purpose policies",
            "Each release declares a purpose; the register says which roles may serve it, on "
            "which datasets, into which outputs, and a refusal names the rule that refused.",
            ("belvedere.privacy.purposes:Registry",)),
    Measure("hash_chain", "accountability", "Hash-chained access log",
            "Every release, collection, alteration and erasure is one line of the access log: "
            "who (a keyed pseudonym), role, purpose, action, what and how many rows; each "
            "line's SHA-256 covers the previous line's hash, so an edit or a deletion shows.",
            ("belvedere.privacy.audit:record", "belvedere.privacy.audit:verify")),
    Measure("merkle_heads", "accountability", "Merkle tree and signed tree heads",
            "An RFC 6962 Merkle tree over the access log; its heads are signed with an Ed25519 "
            "key kept outside the store, published, and checkable by anyone with inclusion and "
            "consistency proofs, without access to the store.",
            ("belvedere.privacy.merkle:MerkleTree", "belvedere.privacy.audit:sign_head",
             "belvedere.privacy.access_log:published_head")),
    Measure("actor_pseudonyms", "accountability", "Pseudonymised actors in the access log",
            "The log names users by a keyed pseudonym; the DPO alone, holding the key, finds a "
            "person's lines, and that search is itself recorded.",
            ("belvedere.privacy.audit:pseudonym", "belvedere.privacy.access_log:read_lines")),
    Measure("argon2", "access", "Argon2id password hashes",
            "Passwords are stored as Argon2id hashes; session tokens are random and only "
            "their SHA-256 is stored.",
            ("belvedere.privacy.users:add_user", "belvedere.privacy.users:hash_token")),
    Measure("csrf_cookies", "access", "CSRF protection and strict cookies",
            "The session cookie is HttpOnly and SameSite=Strict; unsafe requests must echo a "
            "CSRF token derived from the session by HMAC (double submit).",
            ("belvedere.privacy.users:check_csrf", "belvedere.api.routes.auth")),
    Measure("machine_tokens", "access", "Scoped, expiring machine tokens",
            "Feeds that push data authenticate with named tokens of 256 random bits, stored as "
            "SHA-256 only, with a role (machine: delivers feeds, reads nothing), an expiry and "
            "a revocation, each action recorded.",
            ("belvedere.privacy.tokens:create_api_token",
             "belvedere.privacy.tokens:revoke_api_token")),
    Measure("login_throttle", "access", "Failed-login throttling",
            "At most 5 failed logins per user name and per address in 15 minutes; the sixth "
            "is refused before the password is checked.",
            ("belvedere.privacy.throttle:LoginThrottle",)),
    Measure("route_rules", "access", "A role rule on every route",
            "Every API route declares the roles allowed to call it; a test checks every route "
            "and the documented tables.",
            ("belvedere.api.deps:allow",)),
    Measure("deployment_checks", "access", "No default secret in production",
            "In production belvedere refuses to start with a demo password, an empty "
            "pseudonymisation or signing key, or a key or store file other users can read.",
            ("belvedere.privacy.deployment:check_deployment",)),
    Measure("no_external_assets", "access", "No third-party origin at run time",
            "The dashboard's assets are vendored and a Content-Security-Policy forbids any "
            "other origin; briefings render offline (the PDF renderer may only open data: "
            "URIs).",
            ("belvedere.web.pages:CONTENT_SECURITY_POLICY",
             "belvedere.briefings.render:offline_fetcher")),
    Measure("transactions_quarantine", "integrity", "Transactional ingest with quarantine",
            "Each file is appended in one transaction with its ingest log and cursor; rows "
            "that fail a rule are quarantined with the reason, reviewed under the purpose "
            "data_quality (each reading recorded) and retried.",
            ("belvedere.sources.ingest:ingest_folder",
             "belvedere.privacy.quarantine:review_quarantine")),
    Measure("retention_purge", "retention", "Retention enforced, with receipts",
            "Each dataset is erased when its retention ends (incidents first coarsened into "
            "hourly counts), one transaction per dataset, and a receipt — count and SHA-256 "
            "of the erased keys — is written to the access log.",
            ("belvedere.privacy.retention:purge", "belvedere.privacy.retention:RetentionJob")),
    Measure("feedback_guard", "models", "Feedback-loop guard",
            "Forecasters refuse to train on incidents discovered by patrols unless they carry "
            "propensity weights, so that a forecast cannot learn where patrols were sent "
            "(Ensign et al. 2018).",
            ("belvedere.models.base:check_feedback", "belvedere.models.feedback")),
    Measure("no_resident_features", "models", "No socio-demographic feature",
            "Models use environmental, temporal and event variables only; no attribute of the "
            "people who live somewhere is a feature (a test checks the features' names).",
            ("belvedere.models.features:window_features",)),
    Measure("human_decision", "oversight", "Forecasts are advice; alerts need a person",
            "Nothing is dispatched automatically; an alert is acknowledged, closed or "
            "dismissed by an operator with a reason (redacted, recorded).",
            ("belvedere.privacy.alerts",)),
)

MEASURES: dict[str, Measure] = {m.id: m for m in _MEASURES}
"""The measures by id, in the order the dossier lists them."""
