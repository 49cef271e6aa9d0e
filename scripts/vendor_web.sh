#!/usr/bin/env bash
# Copy the dashboard's front-end libraries from node_modules/ into belvedere/web/static/vendor/.
#
# The dashboard must work offline (no CDN), so MapLibre GL is served by the app itself.
# `npm ci` runs only when node_modules/ is missing or does not match package-lock.json, so a
# machine that already installed the pinned version never needs the npm registry again.
#
# Usage: scripts/vendor_web.sh        (from anywhere; paths are relative to the repository root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

pkg=node_modules/maplibre-gl
dest=belvedere/web/static/vendor

# The version the lock file pins, and the one installed (empty when missing).
locked="$(node -p 'require("./package-lock.json").packages["node_modules/maplibre-gl"].version')"
installed="$(node -p 'try { require("./'"$pkg"'/package.json").version } catch (e) { "" }')"

# npm rewrites node_modules/.package-lock.json on every install; older than the lock file
# means the lock changed since (e.g. after a pull).
stale=0
if [[ -z "$installed" || "$installed" != "$locked" ]]; then
    stale=1
elif [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    stale=1
fi

if [[ "$stale" == 1 ]]; then
    echo "vendor_web: installing maplibre-gl $locked with npm ci (found: ${installed:-none})"
    npm ci --no-audit --no-fund
fi

mkdir -p "$dest"
cp "$pkg/dist/maplibre-gl.js" "$pkg/dist/maplibre-gl.css" "$dest/"
cp "$pkg/LICENSE.txt" "$dest/maplibre-gl.LICENSE.txt"
echo "vendor_web: maplibre-gl $locked -> $dest/"
