#!/usr/bin/env bash
# The helm CLI for EventFlow's chart tests (deploy/), built from the Go module
# proxy (hack/k8s-tools/helm pins the version) and cached under
# $EVENTFLOW_HELM_CACHE (default ~/.cache/eventflow/helm), so only the first
# run pays (a few minutes on 2 cores; instant after).
#
#   hack/helm.sh build    build (or reuse) $CACHE/bin/helm; prints its path
#   hack/helm.sh path     print the path without building
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${EVENTFLOW_HELM_CACHE:-$HOME/.cache/eventflow/helm}
BIN=$CACHE/bin
# The tools module is not part of the workspace.
export GOWORK=off

log() { printf '[helm] %s\n' "$*" >&2; }

# The stamp names every input of the build; a change rebuilds.
stamp() {
  {
    echo "go=$(go env GOVERSION)"
    sed -n '/^build_locked/,/^}/p' "$0"
    cat "$ROOT/hack/k8s-tools/helm/go.mod" "$ROOT/hack/k8s-tools/helm/go.sum"
  } | sha256sum | cut -d' ' -f1
}

build() {
  mkdir -p "$CACHE"
  # One build at a time: test packages run in parallel may ask together.
  ( flock 9; build_locked ) 9>"$CACHE/build.lock"
  echo "$BIN/helm"
}

build_locked() {
  local want
  want=$(stamp)
  if [[ -x $BIN/helm && -f $BIN/.stamp && $(cat "$BIN/.stamp") == "$want" ]]; then
    log "helm cached in $BIN"
    return
  fi
  mkdir -p "$BIN"
  local start=$SECONDS version kube minor
  version=$(cd "$ROOT/hack/k8s-tools/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
  # client-go v0.N.x is Kubernetes 1.N: the version `helm template` and
  # `helm lint` assume for .Capabilities (else 1.20), as helm's own build sets.
  kube=$(cd "$ROOT/hack/k8s-tools/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)
  minor=$(echo "$kube" | cut -d. -f2)
  log "building helm $version (Kubernetes 1.$minor) — the first time takes a few minutes"
  local x="-X helm.sh/helm/v3/internal/version.version=$version"
  x+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  x+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  (cd "$ROOT/hack/k8s-tools/helm" && go build -trimpath -ldflags "-s -w $x" \
    -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv -f "$BIN/helm.tmp" "$BIN/helm"
  echo "$want" > "$BIN/.stamp"
  log "built helm $version in $((SECONDS - start))s: $BIN/helm"
}

case ${1:-} in
  build) build ;;
  path) echo "$BIN/helm" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
