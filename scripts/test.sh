#!/usr/bin/env bash
# The README's test command: installs everything the tests need, lints, then runs the tests.
#   bash scripts/test.sh [pytest args...]
# Python packages go into ./.venv (or the active virtualenv) at the versions locked in requirements/dev.txt,
# so a fresh clone tests what the last commit tested (scripts/check-newest.sh tries the newest allowed ones).
# Debian's prometheus/promtool, prometheus-alertmanager/amtool and chromium (integration tests) via apt-get
# when they are missing; without apt-get or root, the script says what to install and runs what it can.
set -euo pipefail
cd "$(dirname "$0")/.."

missing_packages=()
# ensure_package PACKAGE WHY COMMAND...: apt-get install PACKAGE unless every COMMAND is on PATH.
ensure_package() {
    local package=$1 why=$2 command sudo=""
    shift 2
    for command in "$@"; do
        command -v "$command" >/dev/null && continue
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        if ! command -v apt-get >/dev/null || { [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; }; then
            echo "== cannot install Debian package $package ($why): no apt-get, or no root" >&2
            missing_packages+=("$package")
            return
        fi
        echo "== installing Debian package $package ($why)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null
        return
    done
}
ensure_package prometheus "real server + promtool for integration tests" prometheus promtool
ensure_package prometheus-alertmanager "real Alertmanager + amtool for alerting tests" prometheus-alertmanager amtool
ensure_package chromium "headless browser for the HTML report test" chromium
ensure_package nodejs "the OpenTelemetry JS exporter as a client of the pipeline" node
ensure_package npm "installs the JS clients (tests/js, locked in its package-lock.json)" npm
if [ ${#missing_packages[@]} -gt 0 ]; then
    echo "== the tests that need ${missing_packages[*]} will fail; install them (Debian/Ubuntu:" \
        "apt-get install ${missing_packages[*]}) and run this script again" >&2
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -d .venv ] || python3 -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
echo "== installing spanmeter[dev] into $VIRTUAL_ENV (versions from requirements/dev.txt)"
python -m pip install -q --upgrade pip
python -m pip install -q -c requirements/dev.txt -e '.[dev]'

if command -v npm >/dev/null; then
    echo "== installing the JS test clients into tests/js/node_modules (npm ci, versions from package-lock.json)"
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error >/dev/null
fi

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
