#!/usr/bin/env bash
# Create .venv and install the project with everything the site and the tests need.
# Idempotent: a stamp records the pyproject.toml it installed, so a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.answers-installed"
want=$(sha256sum pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first, pinned to builds the machines hold locally (no multi-GB download of another build)
case "$(uname -m)" in
  aarch64|arm64) torch_pins="torch==2.9.1 torchvision==0.24.1" ;;
  *)             torch_pins="torch==2.14.1 torchvision==0.29.1" ;;
esac
echo "bootstrap: installing $torch_pins (about a minute)"
"$VENV/bin/python" -m pip install --quiet $torch_pins
echo "bootstrap: installing the project with its docs and test extras"
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
# torchattacks is the peer our attacks are compared with (tests and benchmarks only). It pins requests~=2.25,
# which contradicts mkdocs-material's requests>=2.33, so it is installed without its dependencies: the parts we
# use need only torch.
"$VENV/bin/python" -m pip install --quiet --no-deps torchattacks==3.5.1
echo "$want" > "$stamp"
