#!/usr/bin/env bash
# Copy the dashboard's front-end libraries from node_modules/ into belvedere/web/static/vendor/.
#
# The dashboard must work offline (no CDN), so MapLibre GL (and pmtiles, for an optional local
# basemap) are served by the app itself.
# `npm ci` runs only when node_modules/ is missing or does not match package-lock.json, so a
# machine that already installed the pinned version never needs the npm registry again.
#
# Usage: scripts/vendor_web.sh        (from anywhere; paths are relative to the repository root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

dest=belvedere/web/static/vendor
# Each vendored package: the version the lock file pins, and the one installed (empty if none).
packages=(maplibre-gl pmtiles)

stale=0
for name in "${packages[@]}"; do
    locked="$(node -p 'require("./package-lock.json").packages["node_modules/'"$name"'"].version')"
    installed="$(node -p 'try { require("./node_modules/'"$name"'/package.json").version } catch (e) { "" }')"
    if [[ -z "$installed" || "$installed" != "$locked" ]]; then
        echo "vendor_web: $name $locked is needed (found: ${installed:-none})"
        stale=1
    fi
done
# npm rewrites node_modules/.package-lock.json on every install; older than the lock file
# means the lock changed since (e.g. after a pull).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    stale=1
fi

if [[ "$stale" == 1 ]]; then
    echo "vendor_web: installing the locked front-end packages with npm ci"
    npm ci --no-audit --no-fund
fi

mkdir -p "$dest"
cp node_modules/maplibre-gl/dist/maplibre-gl.js node_modules/maplibre-gl/dist/maplibre-gl.css "$dest/"
cp node_modules/maplibre-gl/LICENSE.txt "$dest/maplibre-gl.LICENSE.txt"
# pmtiles reads the operator's optional local basemap with HTTP range requests (BSD-3-Clause).
cp node_modules/pmtiles/dist/pmtiles.js "$dest/"
echo "vendor_web: maplibre-gl and pmtiles -> $dest/"
