#!/usr/bin/env bash
# Builds the pinned control-plane binaries from Go sources into
# ~/.cache/tenant-operator/k8s/<versions>/bin. Idempotent: a binary already built is kept.
# Prints the cache's bin directory as its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${TENANT_OPERATOR_CACHE:-$HOME/.cache/tenant-operator}"
tag="r${BUILD_RECIPE}_k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
out="$cache_root/k8s/$tag"
bin="$out/bin"
mkdir -p "$bin" "$out/work"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[cluster-build] %s\n' "$*" >&2; }

timed() {  # timed NAME CMD...: runs CMD unless bin/NAME exists, printing how long it took
  local name="$1"; shift
  if [[ -x "$bin/$name" ]]; then log "$name: cached"; return 0; fi
  local start=$SECONDS
  "$@"
  log "$name: built in $((SECONDS - start))s"
}

module_gomod() {  # prints the path of a module's go.mod in the module cache
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'
}

module_dir() {  # prints the folder of a module's extracted source in the module cache
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

# A wrapper module that requires MODULE@VERSION and turns each of its local `=> ./path` or `=> ../path`
# replaces into the published module at PUBLISHED_VERSION (go install refuses modules with replaces).
wrapper_module() {
  local dir="$1" module="$2" version="$3" published_version="$4"
  rm -rf "$dir"; mkdir -p "$dir"
  local gomod; gomod="$(module_gomod "$module@$version")"
  (
    cd "$dir"
    go mod init "wrapper.local/$(basename "$dir")" >/dev/null 2>&1
    go mod edit -require "$module@$version"
    local godebug; godebug="$(grep -E '^godebug ' "$gomod" || true)"
    [[ -n "$godebug" ]] && echo "$godebug" >> go.mod
    local goline; goline="$(grep -E '^go ' "$gomod" | awk '{print $2}')"
    go mod edit -go="$goline"
    python3 - "$gomod" <<'PY' | while read -r dep; do go mod edit -replace "$dep=$dep@$published_version"; done
import re, sys
text = open(sys.argv[1]).read()
required = set(re.findall(r'^\s*(?:require\s+)?(\S+)\s+v\S+(?:\s*//.*)?$', text, re.M))
local = set(re.findall(r'^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+\.\.?/', text, re.M))
for dep in sorted(local & required):
    print(dep)
PY
  )
}

build_with_wrapper() {  # build_with_wrapper DIR OUT_NAME PACKAGE VERSION LDFLAGS
  local dir="$1" name="$2" pkg="$3" version="$4" ldflags="$5"
  (cd "$dir" && go get -tool "$pkg@$version")
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/$name" "$pkg")
}

helm_ldflags() {  # as helm's Makefile: the Kubernetes version its client-go speaks, for kubeVersion checks
  local client_go major minor flags
  client_go="$(grep -E '^\s*k8s.io/client-go ' "$(module_gomod "helm.sh/helm/v3@$HELM_VERSION")" | awk '{print $2}')"
  major=1; minor="$(echo "$client_go" | cut -d. -f2)"
  flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  echo "$flags"
}

k8s_ldflags() {
  local v="$KUBERNETES_VERSION" major minor
  major="$(echo "${v#v}" | cut -d. -f1)"; minor="$(echo "${v#v}" | cut -d. -f2)"
  local flags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    flags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

build_kubernetes() {
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local dir="$out/work/kubernetes"
  local need=()
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$bin/$c" ]] || need+=("$c")
  done
  [[ ${#need[@]} -eq 0 ]] && { log "kubernetes: cached"; return 0; }
  [[ -f "$dir/go.mod" ]] || wrapper_module "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION" "$staging_version"
  local ldflags; ldflags="$(k8s_ldflags)"
  for c in "${need[@]}"; do
    local pkg="k8s.io/kubernetes/cmd/$c"
    timed "$c" build_with_wrapper "$dir" "$c" "$pkg" "$KUBERNETES_VERSION" "$ldflags"
  done
}

build_etcd() {
  local dir="$out/work/etcd"
  [[ -x "$bin/etcd" ]] && { log "etcd: cached"; return 0; }
  [[ -f "$dir/go.mod" ]] || wrapper_module "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION"
  timed etcd build_with_wrapper "$dir" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "-s -w"
}

go_install() {  # go_install NAME PACKAGE@VERSION [LDFLAGS]
  local name="$1" pkg="$2" ldflags="${3:-"-s -w"}"
  timed "$name" env GOBIN="$bin" go install -trimpath -ldflags "$ldflags" "$pkg"
}

download_gateway_api() {  # the Gateway API CRDs stay in the module cache; tests/cluster/gateway_api.py reads them
  local start=$SECONDS dir
  dir="$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  if [[ ! -d "$dir/config/crd/standard" ]]; then
    log "gateway-api $GATEWAY_API_VERSION: no config/crd/standard in $dir"
    return 1
  fi
  log "gateway-api $GATEWAY_API_VERSION: CRDs in $dir/config/crd/standard ($((SECONDS - start))s)"
}

main() {
  local total_start=$SECONDS
  build_etcd
  go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  go_install kwokctl "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$(helm_ldflags)"
  build_kubernetes
  download_gateway_api
  log "all binaries ready in $((SECONDS - total_start))s: $bin"
  echo "$bin"
}

main "$@"
