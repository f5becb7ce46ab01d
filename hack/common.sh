# Shared by hack/run.sh and hack/test.sh: a virtualenv with the project installed, and the built CLIs.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

ensure_venv() {
  local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [[ ! -f "$stamp" ]]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
    touch "$stamp"
  fi
  export PATH="$REPO/.venv/bin:$PATH"
}

ensure_cluster_binaries() {  # puts the pinned kubectl, helm and kwokctl first on PATH
  local bin
  bin="$(bash tests/cluster/build.sh | tail -n 1)"
  export PATH="$bin:$PATH"
}
