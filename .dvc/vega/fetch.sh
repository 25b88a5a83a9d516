#!/usr/bin/env bash
# Refetches Vega, Vega-Lite and vega-embed from npm, checks each tarball against the
# integrity hash README.md records, copies each LICENSE here and writes offline.html:
# DVC's plots page with the three minified builds inlined, so the HTML that
# `dvc plots show` / `dvc plots diff` write needs no network. Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
packages=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
for spec in "${packages[@]}"; do
    name="${spec%@*}"
    tarball="$name-${spec#*@}.tgz"
    npm pack --silent "$spec" >/dev/null
    integrity="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if ! grep -qF -- "$integrity" "$here/README.md"; then
        echo "$tarball: integrity $integrity is not the one .dvc/vega/README.md records" >&2
        exit 1
    fi
    mkdir "$name"
    tar xzf "$tarball" -C "$name"
    cp "$name/package/LICENSE" "$here/LICENSE-$name"
done
{
    # DVC fills {refresh_tag} and {plot_divs}; without a {scripts} placeholder it
    # adds none of its CDN <script> tags.
    cat <<'HEAD'
<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <title>DVC Plot</title>
HEAD
    for spec in "${packages[@]}"; do
        name="${spec%@*}"
        printf '    <script>/* %s, build/%s.min.js, licence: .dvc/vega/LICENSE-%s */\n' \
            "$spec" "$name" "$name"
        cat "$name/package/build/$name.min.js"
        printf '\n    </script>\n'
    done
    cat <<'TAIL'
    <script>
        // SVG, not vega-embed's default canvas: sharp at any zoom, text selectable
        // and searchable (series names are in the page itself).
        const embedOnCanvas = vegaEmbed;
        window.vegaEmbed = (el, spec, opt) => embedOnCanvas(el, spec, { renderer: "svg", ...opt });
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
TAIL
} >"$here/offline.html.tmp"
mv "$here/offline.html.tmp" "$here/offline.html"
