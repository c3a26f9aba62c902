#!/usr/bin/env bash
# The README's test command: installs everything the tests need, lints, then runs the tests.
#   bash scripts/test.sh [pytest args...]
# Debian's prometheus/promtool and prometheus-alertmanager/amtool (integration tests) via apt-get; Python packages into
# ./.venv (or the active virtualenv) via pip.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "== installing Debian package prometheus (real server + promtool for integration tests)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then
    echo "== installing Debian package prometheus-alertmanager (real Alertmanager + amtool for alerting tests)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi

if ! command -v chromium >/dev/null; then
    echo "== installing Debian package chromium (headless browser for the HTML report test)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -d .venv ] || python3 -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
echo "== installing spanmeter[dev] into $VIRTUAL_ENV"
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[dev]'

echo "== lint: ruff check, ruff format --check (config in pyproject.toml)"
# One command per line: under `set -e` a failure on the left of `&&` would not stop the script.
ruff check .
ruff format --check .

echo "== running tests"
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
