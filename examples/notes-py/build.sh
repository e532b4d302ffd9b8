#!/usr/bin/env bash
# Builds the Python example module into a component:
#   target/notes-py/notes-py.wasm
# componentize-py comes from the Python package registry, into a virtualenv under
# target/ (nothing else is installed). Usage: bash examples/notes-py/build.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CARGO_TARGET_DIR:-$root/target}/notes-py
venv=$out/venv
mkdir -p "$out"
if [ ! -x "$venv/bin/componentize-py" ]; then
  echo "installing componentize-py into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
echo "building $out/notes-py.wasm" >&2
"$venv/bin/componentize-py" -d "$root/wit/0.2.0" -w module componentize -p "$here" app -o "$out/notes-py.wasm"
ls -l "$out/notes-py.wasm" >&2
