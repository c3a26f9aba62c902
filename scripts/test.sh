#!/usr/bin/env bash
# The README's test command: installs everything the tests need, lints, then runs the tests.
#   bash scripts/test.sh [pytest args...]
# Debian's prometheus/promtool and prometheus-alertmanager/amtool (integration tests) via apt-get; Python packages into
# ./.venv (or the active virtualenv) via pip.
set -euo pipefail
cd "$(dirname "$0")/.."

# ensure_package PACKAGE WHY COMMAND...: apt-get install PACKAGE unless every COMMAND is on PATH.
ensure_package() {
    local package=$1 why=$2 command
    shift 2
    for command in "$@"; do
        if ! command -v "$command" >/dev/null; then
            echo "== installing Debian package $package ($why)"
            local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null
            return
        fi
    done
}
ensure_package prometheus "real server + promtool for integration tests" prometheus promtool
ensure_package prometheus-alertmanager "real Alertmanager + amtool for alerting tests" prometheus-alertmanager amtool
ensure_package chromium "headless browser for the HTML report test" chromium

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
