#!/usr/bin/env bash
# Install everything the tests need, then run the linters, the type checker and the tests.
# This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
python -m pip install -q --disable-pip-version-check -e '.[test]'
python -m ruff check dnspcap tests benchmarks samples
python -m ruff format --check dnspcap tests benchmarks samples
python -m mypy
python -m pytest -q "$@"
