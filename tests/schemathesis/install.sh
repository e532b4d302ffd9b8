#!/usr/bin/env bash
# Installs Schemathesis (from the Python package registry, pinned in
# requirements.txt) into a virtualenv under the target dir, once, and prints the
# path of its command. Usage: bash tests/schemathesis/install.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${CARGO_TARGET_DIR:-$root/target}/schemathesis/venv
pinned=$(sed -n 's/^schemathesis==//p' "$here/requirements.txt")
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$pinned"; then
  echo "installing schemathesis $pinned into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
echo "$venv/bin/schemathesis"
