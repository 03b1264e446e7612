#!/bin/sh
# Refresh the explorer's vendored JavaScript from the npm registry (the versions are pinned here and in
# resnet_inspect/views/explorer_assets/vendor/VERSIONS). Nothing is fetched when the app or an exported
# page runs: they load these files from the package.
set -eu
CYTOSCAPE=3.35.0
CYTOSCAPE_DAGRE=4.0.1  # bundles @dagrejs/dagre 3.x
here=$(cd "$(dirname "$0")/.." && pwd)
vendor="$here/resnet_inspect/views/explorer_assets/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "cytoscape@$CYTOSCAPE" "cytoscape-dagre@$CYTOSCAPE_DAGRE"
# cytoscape-dagre's build bundles dagre (its own licence comes from the dagre package).
dagre_range=$(node -p "require('cytoscape-dagre/package.json').devDependencies['@dagrejs/dagre']")
npm pack --silent "@dagrejs/dagre@$dagre_range" >/dev/null
tar xzf dagrejs-dagre-*.tgz package/LICENSE
cp node_modules/cytoscape/dist/cytoscape.min.js "$vendor/"
# The source map is not shipped: its reference would make a browser's developer tools ask for it.
sed '/sourceMappingURL/d' node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js > "$vendor/cytoscape-dagre.min.js"
cp node_modules/cytoscape/LICENSE "$vendor/LICENSE.cytoscape.txt"
cp node_modules/cytoscape-dagre/LICENSE "$vendor/LICENSE.cytoscape-dagre.txt"
cp package/LICENSE "$vendor/LICENSE.dagre.txt"
printf 'cytoscape %s (MIT)\ncytoscape-dagre %s (MIT), bundling @dagrejs/dagre %s (MIT)\n' \
  "$CYTOSCAPE" "$CYTOSCAPE_DAGRE" "$dagre_range" > "$vendor/VERSIONS"
echo "vendored into $vendor:"; cat "$vendor/VERSIONS"
