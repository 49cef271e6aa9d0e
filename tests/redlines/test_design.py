"""Red lines that are about what belvedere is made of: no connector reads social media, planned
events (demonstrations included) carry no one who organises or attends them, and nothing in the
package sends a message or dispatches anyone (forecasts and alerts are advice for a person)."""

from __future__ import annotations

import ast
from pathlib import Path

from belvedere.api.schemas import EventCreate, EventPublic
from belvedere.privacy.redlines import person_key
from belvedere.sources.base import registry
from belvedere.sources.events import FIELDS
from belvedere.sources.mapping import packaged_mappings, read_mapping_data

PACKAGE = Path(__file__).resolve().parents[2] / "belvedere"
SOCIAL_MEDIA = ("twitter", "tweet", "facebook", "instagram", "tiktok", "telegram", "whatsapp",
                "snapchat", "youtube", "mastodon", "reddit", "linkedin", "bluesky", "social")
MESSAGING = ("smtplib", "aiosmtplib", "email.mime", "twilio", "slack_sdk", "telegram",
             "pika", "kafka", "aiokafka", "nats", "redis", "firebase_admin", "pywebpush")
"""Modules that send mail, SMS, chat or push messages, or feed a queue to other systems."""


def test_no_connector_or_packaged_mapping_reads_social_media() -> None:
    texts = {name: " ".join([name, s.info.label_fr, s.info.label_en, s.info.description,
                             *s.info.patterns]) for name, s in registry().items()}
    texts |= {f"mapping {m}": f"{m} {read_mapping_data(m)[0]}" for m in packaged_mappings()}
    assert len(texts) > 15
    assert {name for name, text in texts.items()
            if any(word in text.lower() for word in SOCIAL_MEDIA)} == set()


def test_planned_events_keep_no_one_who_organises_or_attends() -> None:
    fields = [*FIELDS, *EventCreate.model_fields, *EventPublic.model_fields]
    assert "expected_attendance" in fields  # a crowd's size, never who is in it
    assert [f for f in fields if person_key(f)] == []
    for word in ("organiser", "organizer", "attendee", "participant", "contact"):
        assert not [f for f in fields if word in f.lower()], word


def test_nothing_in_belvedere_sends_a_message_or_dispatches_anyone() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        found += [(path.name, n) for n in imported
                  if any(n == m or n.startswith(f"{m}.") for m in MESSAGING)]
        # The MQTT bridge subscribes; a publish() where an MQTT client is at hand would send.
        if any(n.startswith("paho") for n in imported):
            found += [(path.name, ast.unparse(n.func)) for n in ast.walk(tree)
                      if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                      and n.func.attr == "publish"]
    assert found == []
