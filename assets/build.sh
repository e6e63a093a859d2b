#!/usr/bin/env bash
# Rebuild the vendored browser assets of the dashboard from the npm registry (pinned in
# package-lock.json): ECharts' minified bundle and Natural Earth's 110m country outlines
# (world-atlas TopoJSON converted to GeoJSON by topojson-client, coordinates rounded to 0.01°).
# Output: fraudcases/static/fraudcases/vendor/ (committed, so the project runs offline without
# npm). Run `make assets` (or `bash assets/build.sh`) after changing a version here.
set -euo pipefail
cd "$(dirname "$0")"
out=../fraudcases/static/fraudcases/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
mkdir -p "$out"
cp "$work/node_modules/echarts/dist/echarts.min.js" "$out/echarts.min.js"
cp "$work/node_modules/echarts/LICENSE" "$out/echarts.LICENSE"
cp "$work/node_modules/echarts/NOTICE" "$out/echarts.NOTICE"
cp "$work/node_modules/world-atlas/LICENSE" "$out/world-atlas.LICENSE"
node - "$work" "$out/world-110m.geojson" <<'JS'
const [work, target] = process.argv.slice(2);
const path = require("path");
const topo = require(path.join(work, "node_modules/world-atlas/countries-110m.json"));
const { feature } = require(path.join(work, "node_modules/topojson-client"));
const geo = feature(topo, topo.objects.countries);
const round = (v) => Array.isArray(v) ? v.map(round) : Math.round(v * 100) / 100;
for (const f of geo.features) {
  f.geometry.coordinates = round(f.geometry.coordinates);
  f.properties = { name: f.properties.name };
}
require("fs").writeFileSync(target, JSON.stringify(geo));
JS
(cd "$out" && sha256sum echarts.min.js world-110m.geojson > SHA256SUMS)
echo "vendored: $(cd "$out" && ls)"
