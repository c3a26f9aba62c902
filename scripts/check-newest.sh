#!/usr/bin/env bash
# Drift check (not part of the suite): installs the newest versions pyproject.toml allows into a fresh
# virtualenv, lists where they differ from the lock (requirements/dev.txt), and runs the tests with them,
# so a dependency's new release that breaks spanmeter is found before a user installs it.
#   bash scripts/check-newest.sh [pytest args...]
# When it passes, refresh the lock (see the README's "Dependencies" section) and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=$(mktemp -d)/newest
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
echo "== installing the newest allowed spanmeter[dev] into $venv"
python -m pip install -q --upgrade pip
python -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'

echo "== versions that differ from requirements/dev.txt (locked -> newest)"
python - <<'PY'
import re
from importlib.metadata import distributions

locked = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open("requirements/dev.txt").read(), re.MULTILINE))
locked = {name.lower().replace("_", "-"): version for name, version in locked.items()}
for dist in sorted(distributions(), key=lambda d: d.metadata["Name"].lower()):
    name = dist.metadata["Name"].lower().replace("_", "-")
    if name in locked and locked[name] != dist.version:
        print(f"  {name}: {locked[name]} -> {dist.version}")
PY

echo "== running tests against the newest versions"
python -m pytest "$@"
