"""What every part of the dossier reads: the code's registers, the store's facts, and the
hand-written content (``content.toml``) and CNIL PIA structure (``pia_structure.json``) beside
this module.

:class:`Context` gathers them once. The code's registers are the single source of truth for
what they hold — purposes and legal bases (:mod:`belvedere.privacy.purposes`), feeds and their
allowlists (:func:`belvedere.sources.base.registry`), retention
(:mod:`belvedere.privacy.retention`), roles (:mod:`belvedere.privacy.policy`), models and their
parameters (:mod:`belvedere.models.registry`), measures (:mod:`belvedere.dossier.measures`);
``content.toml`` holds only what the code cannot state (who the data may be about, the risk
analysis, statements of practice, the measured figures with their source).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from belvedere.errors import ConfigError
from belvedere.privacy.dossier import DossierFacts
from belvedere.privacy.purposes import Purpose, Registry, registry
from belvedere.privacy.retention import Dataset as RetentionEntry
from belvedere.privacy.retention import Retention, load_retention
from belvedere.settings import setting
from belvedere.sources.base import SourceInfo
from belvedere.sources.base import registry as source_registry

HERE = Path(__file__).parent
CONTENT_FILE = HERE / "content.toml"
STRUCTURE_FILE = HERE / "pia_structure.json"
TO_COMPLETE = "to complete"
"""The marker of what a deployment must fill in (a test lists them in the docs)."""


@cache
def content() -> dict[str, Any]:
    """``content.toml``, parsed."""
    try:
        return tomllib.loads(CONTENT_FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"dossier content {CONTENT_FILE}: {exc}") from exc


@cache
def pia_structure() -> dict[str, Any]:
    """The CNIL PIA tool's structure (sections, items, question ids) and its provenance."""
    return json.loads(STRUCTURE_FILE.read_text(encoding="utf-8"))


def question_ids() -> list[int]:
    """Every question id of the PIA tool's structure, in the tool's order."""
    return [q["id"] for s in pia_structure()["sections"] for i in s["items"]
            for q in i["questions"]]


@dataclass(frozen=True)
class Context:
    """Everything the dossier states, gathered once at ``generated``."""

    generated: datetime
    registry: Registry
    sources: dict[str, SourceInfo]
    retention: Retention
    facts: DossierFacts
    dpo_contact: str
    text: dict[str, Any]

    @classmethod
    def gather(cls, facts: DossierFacts, generated: datetime) -> Context:
        """The context of a dossier generated at ``generated`` from ``facts``."""
        return cls(generated=generated, registry=registry(),
                   sources={n: s.info for n, s in source_registry().items()},
                   retention=load_retention(), facts=facts,
                   dpo_contact=setting("dpo_contact") or
                   f"({TO_COMPLETE}: set BELVEDERE_DPO_CONTACT)",
                   text=content())

    @property
    def controller(self) -> str:
        """The controller's name, from the register of purposes."""
        return self.registry.controller.name

    def dataset_ids(self) -> list[str]:
        """Every feed: the source registry's, then any only the register of purposes names."""
        return [*self.sources, *(d for d in self.registry.datasets if d not in self.sources)]

    def dataset_label(self, name: str, lang: str = "en") -> str:
        """A feed's label in ``lang`` (the connector's, else the register's)."""
        info = self.sources.get(name)
        if info is not None:
            return info.label_fr if lang == "fr" else info.label_en
        reg = self.registry.datasets.get(name)
        return reg.label if reg else name

    def dataset_text(self, name: str) -> dict[str, Any]:
        """``content.toml``'s description of a feed (subjects, personal, sensitive); a feed
        it does not describe gets the to-complete marker, so that it still appears."""
        missing = f"({TO_COMPLETE}: describe this feed in belvedere/dossier/content.toml)"
        return self.text.get("datasets", {}).get(
            name, {"subjects": [missing], "personal": missing, "sensitive": missing})

    def kept_fields(self, name: str) -> list[str]:
        """The fields a feed's connector keeps (its allowlist); empty if none is declared."""
        info = self.sources.get(name)
        return list(info.keeps) if info else []

    def retention_of(self, name: str) -> list[RetentionEntry]:
        """The retention entries that apply to a feed's stored rows: those naming it, or those
        of its table that do not exclude it."""
        info = self.sources.get(name)
        out = []
        for entry in self.retention.datasets:
            if entry.sources:
                if name in entry.sources:
                    out.append(entry)
            elif info is not None and entry.table == info.kind \
                    and name not in entry.exclude_sources:
                out.append(entry)
        return out

    def aggregates_entry(self) -> RetentionEntry | None:
        """The retention entry of the hourly aggregates left by purges, if any."""
        return next((e for e in self.retention.datasets if e.table == "aggregates"), None)

    def retention_text(self, name: str) -> str:
        """A feed's retention in words: each entry's days, and what is kept after."""
        after = self.aggregates_entry()
        parts = []
        for e in self.retention_of(name):
            then = (f", then hourly aggregates per cell and arrondissement "
                    f"({after.keep.days} days)" if e.aggregate and after else "")
            enforced = "" if e.enforced else " (decided, not enforced yet)"
            parts.append(f"{e.name}: {e.keep.days} days{then}{enforced}")
        return "; ".join(parts) or f"({TO_COMPLETE}: no retention entry applies)"

    def purpose_label_fr(self, purpose: Purpose) -> str:
        """A purpose's French label (``content.toml``), else its English one."""
        return str(self.text.get("purposes", {}).get(purpose.id, {}).get("label_fr",
                                                                          purpose.label))

    def recipients(self, purpose: Purpose) -> list[str]:
        """The roles that may receive outputs for ``purpose``, and how (exact or noised)."""
        out = []
        for row in self.registry.policies.values():
            if row.purpose != purpose.id:
                continue
            if row.mechanism == "none":
                how = "exact figures"
            elif row.epsilon:
                how = f"{row.mechanism.replace('_', ' ')} noise, ε = {row.epsilon:g} per release"
            else:
                how = f"{row.mechanism.replace('_', ' ')} noise, ρ = {row.rho:g} per release"
            out.append(f"{row.role} ({how}; outputs: {', '.join(row.outputs)})")
        return out
