#!/usr/bin/env bash
# Render the French event briefing of an OM match from a store and save its first page as
# docs/images/briefing-fr-page1.png (the screenshot shown in the docs).
#
# Usage: scripts/briefing_screenshot.sh [STORE] [EVENT_ID]
#   STORE     a DuckDB store holding the synthetic city (default: ./belvedere.duckdb; build one
#             with `belvedere simulate --days 60 --seed 3` + `belvedere ingest`)
#   EVENT_ID  a planned event's id (default: the OM match in the middle of the data period)
# Needs poppler-utils (pdftoppm).
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="${1:-belvedere.duckdb}"
EVENT="${2:-}"
PYTHON="${PYTHON:-.venv/bin/python}"
command -v pdftoppm >/dev/null || { echo "pdftoppm missing: apt-get install poppler-utils" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" - "$STORE" "$EVENT" "$WORK/brief.pdf" <<'PY'
import sys
from pathlib import Path

from belvedere.briefings.event_brief import render_event_brief
from belvedere.privacy.release import Actor
from belvedere.store.duckdb_store import DuckDBStore

store_path, event_id, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if not store_path.exists():
    sys.exit(f"no store at {store_path}")
store = DuckDBStore(store_path)
try:
    if not event_id:
        period = store.data_period()
        if period is None:
            sys.exit(f"the store {store_path} is empty")
        matches = [e for e in store.planned_events(*period).to_pylist()
                   if e["kind"] == "match_football"]
        if not matches:
            sys.exit("no football match in the store: pass an EVENT_ID")
        event_id = str(matches[len(matches) // 2]["source_id"])
    render_event_brief(store, event_id=event_id, lang="fr", out=out,
                       actor=Actor("docs-screenshot", "analyst"))
    print(f"briefing of {event_id} rendered")
finally:
    store.close()
PY
mkdir -p docs/images
pdftoppm -png -r 80 -f 1 -l 1 -singlefile "$WORK/brief.pdf" docs/images/briefing-fr-page1
echo "docs/images/briefing-fr-page1.png"
