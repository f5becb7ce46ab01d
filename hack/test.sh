#!/usr/bin/env bash
# Runs every test: unit tests and e2e tests against a real control plane started for the run.
# Extra arguments go to pytest (e.g. --cluster=existing, -k tenant).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv
ensure_cluster_binaries
exec python -m pytest "$@"
