#!/usr/bin/env bash
# Install everything the tests need, then run the linters, the type checker and the tests.
# This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
python -m pip install -q --disable-pip-version-check -e '.[test]'
python -m ruff check dnspcap tests benchmarks samples scripts
python -m ruff format --check dnspcap tests benchmarks samples scripts
python -m mypy
lint-imports  # the stages import only earlier ones (pyproject.toml)
# As root, the lab (samples/lab) records fresh captures of real resolvers in network
# namespaces first; tests/test_lab.py checks them (and fails without them when CI=true).
# Its verdict is the tests', so its exit status only shows in the log here.
if [ "$(id -u)" -eq 0 ]; then
  lab_out="$(mktemp -d /tmp/dnspcap-lab-out.XXXXXX)"
  lab_prefix="ci$$"
  trap 'python samples/lab/run.py --cleanup --prefix "$lab_prefix" >/dev/null 2>&1 || true; rm -rf "$lab_out"' EXIT
  timeout -k 15 420 python samples/lab/run.py --prefix "$lab_prefix" --out "$lab_out" </dev/null \
    || echo "lab: exit status $? (tests/test_lab.py says which capture is wrong)"
  export DNSPCAP_LAB_OUT="$lab_out"
fi
python -m pytest -q "$@"
