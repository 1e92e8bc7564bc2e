#!/usr/bin/env bash
# Create .venv and install rulecast with its test dependencies and the npm
# package of Microsoft's KQL parser. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e '.[test,sigma]'
if ! command -v node >/dev/null 2>&1; then
    echo "setup: node is not installed; the KQL checks need Node.js 18 or newer (apt-get install nodejs npm)" >&2
    exit 1
fi
npm ci --prefix tests/kusto --no-audit --no-fund --loglevel=error
