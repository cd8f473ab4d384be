#!/usr/bin/env bash
# The browser suite validates every page type's HTML with the Nu HTML Checker (vnu.jar,
# from the vnu-jar package of the npm registry), run on the machine's Java. Fetched once
# into var/vnu.
set -eu
VERSION=24.10.17
DIR="var/vnu"
if [ ! -f "$DIR/$VERSION/vnu.jar" ]; then
  command -v java >/dev/null || { echo "java is needed for the HTML checker" >&2; exit 1; }
  mkdir -p "$DIR/$VERSION"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "vnu-jar@$VERSION" >/dev/null && tar xzf "vnu-jar-$VERSION.tgz")
  cp "$tmp/package/build/dist/vnu.jar" "$DIR/$VERSION/vnu.jar"
  rm -rf "$tmp"
fi
