#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for EventFlow's tests:
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler, with
# kwok standing in for kubelets. Everything is built from the Go module proxy
# and cached under $EVENTFLOW_K8S_CACHE (default ~/.cache/eventflow/k8s), so
# only the first run pays (about 15-20 minutes on 2 cores; under a minute
# after).
#
#   hack/k8s.sh build    build (or reuse) the binaries
#   hack/k8s.sh up       build, then start the cluster and wait until usable
#   hack/k8s.sh down     stop and delete the cluster
#   hack/k8s.sh status   print whether it runs
#
# After `up`: kubeconfig at $CACHE/kubeconfig (printed on stdout), kubectl at
# $CACHE/bin/kubectl. EVENTFLOW_K8S_CLUSTER=<name> runs another cluster beside
# it (tests do), with its kubeconfig at $CACHE/kubeconfig-<name>.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${EVENTFLOW_K8S_CACHE:-$HOME/.cache/eventflow/k8s}
BIN=$CACHE/bin
NAME=${EVENTFLOW_K8S_CLUSTER:-eventflow}
KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
export KWOK_WORKDIR=$CACHE/kwok
if [[ $NAME == eventflow ]]; then KUBECONFIG_OUT=$CACHE/kubeconfig; else KUBECONFIG_OUT=$CACHE/kubeconfig-$NAME; fi
# kwokctl runs kubectl from PATH or downloads one (which fails offline): give
# it ours.
export KWOK_KUBECTL_BINARY=$BIN/kubectl
export KUBECACHEDIR=$CACHE/kubectl-cache
export PATH=$BIN:$PATH
# The tools modules are not part of the workspace.
export GOWORK=off

log() { printf '[k8s] %s\n' "$*" >&2; }

# The stamp names every input of the build; a change rebuilds.
stamp() {
  {
    echo "kube=$KUBE_VERSION etcd=$ETCD_VERSION kwok=$KWOK_VERSION go=$(go env GOVERSION)"
    cat "$ROOT/hack/k8s-tools/kube/go.mod" "$ROOT/hack/k8s-tools/etcd/go.mod" "$ROOT/hack/k8s-tools/etcd/main.go"
  } | sha256sum | cut -d' ' -f1
}

build() {
  mkdir -p "$CACHE"
  # One build at a time (tests in parallel packages may ask together). The
  # lock lives in a subshell: the cluster's detached processes must not
  # inherit it.
  ( flock 9; build_locked ) 9>"$CACHE/build.lock"
}

build_locked() {
  local want
  want=$(stamp)
  if [[ -f $BIN/.stamp && $(cat "$BIN/.stamp") == "$want" ]]; then
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl; do
      [[ -x $BIN/$b ]] || { want=; break; }
    done
    if [[ -n $want ]]; then log "binaries cached in $BIN"; return; fi
    want=$(stamp)
  fi
  mkdir -p "$BIN"
  local start=$SECONDS
  local pkg=k8s.io/component-base/version cgo=k8s.io/client-go/pkg/version
  local vflags="-X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37 -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
  vflags+=" -X $cgo.gitVersion=$KUBE_VERSION -X $cgo.gitMajor=1 -X $cgo.gitMinor=37 -X $cgo.gitTreeState=clean"
  log "building Kubernetes $KUBE_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) — the first time takes 10-15 minutes"
  (cd "$ROOT/hack/k8s-tools/kube" && go build -trimpath -ldflags "-s -w $vflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  log "building etcd $ETCD_VERSION ($((SECONDS - start))s so far)"
  (cd "$ROOT/hack/k8s-tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" .)
  log "building kwok and kwokctl $KWOK_VERSION ($((SECONDS - start))s so far)"
  GOBIN=$BIN GOFLAGS=-trimpath go install -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  echo "$want" > "$BIN/.stamp"
  log "built in $((SECONDS - start))s: $(ls "$BIN" | tr '\n' ' ')"
}

# kwok's default stages (node and pod "fast", node heartbeat with lease)
# plus the chaos stage for failing pods. Passing any stage drops all the
# defaults, so the whole set is given; the files come from kwok's module.
stages() {
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  for f in "$dir"/kustomize/stage/node/fast/node-initialize.yaml \
           "$dir"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           "$dir"/kustomize/stage/pod/fast/pod-ready.yaml \
           "$dir"/kustomize/stage/pod/fast/pod-complete.yaml \
           "$dir"/kustomize/stage/pod/fast/pod-delete.yaml \
           "$dir"/kustomize/stage/pod/chaos/pod-container-running-failed.yaml; do
    echo "---"
    grep -v '^---$' "$f"
  done
}

write_config() {
  mkdir -p "$CACHE"
  # A KwokConfiguration given with -c is taken without kwok's defaults:
  # every field is written out. Pods get loopback addresses (127.244.0.0/16):
  # kwok runs no containers, so a test can serve "as a pod" on its IP and
  # traffic to pods really crosses TCP; services keep 10.96.0.0/16.
  cat > "$CACHE/kwokctl-$NAME.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeAuthorization: true
  disableQPSLimits: true
  enableCRDs: [Logs, ClusterLogs]
---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 127.244.0.0/16
  nodeIP: 127.0.0.1
  manageAllNodes: true
  enableDebuggingHandlers: true
  enableContentionProfiling: false
  enableProfilingHandler: false
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableCRDs: [Logs, ClusterLogs]
$(stages)
EOF
}

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

running() {
  [[ -f $KUBECONFIG_OUT ]] && kctl get --raw /readyz >/dev/null 2>&1
}

up() {
  build
  if running; then log "cluster $NAME already running"; echo "$KUBECONFIG_OUT"; return; fi
  down quiet
  write_config
  local start=$SECONDS
  log "starting cluster $NAME on 127.0.0.1"
  # --kubeconfig= keeps kwokctl away from ~/.kube/config. kwokctl picks free
  # ports when it creates a cluster: two created at once can pick the same,
  # so creations take turns (-o: the cluster's processes do not hold the lock).
  flock -o "$CACHE/create.lock" "$BIN/kwokctl" create cluster --name "$NAME" -c "$CACHE/kwokctl-$NAME.yaml" \
    --kube-apiserver-binary "$BIN/kube-apiserver" \
    --kube-controller-manager-binary "$BIN/kube-controller-manager" \
    --kube-scheduler-binary "$BIN/kube-scheduler" \
    --etcd-binary "$BIN/etcd" --kwok-controller-binary "$BIN/kwok" \
    --kubeconfig= \
    --extra-args kube-apiserver=service-cluster-ip-range=10.96.0.0/16 \
    --extra-args kube-controller-manager=service-cluster-ip-range=10.96.0.0/16 \
    --extra-args kube-controller-manager=horizontal-pod-autoscaler-sync-period=1s \
    --wait 2m >"$CACHE/kwokctl-$NAME.log" 2>&1 || { tail -20 "$CACHE/kwokctl-$NAME.log" >&2; exit 1; }
  cp "$KWOK_WORKDIR/clusters/$NAME/kubeconfig.yaml" "$KUBECONFIG_OUT"
  # One fake node (kwok manages every node here); pods are scheduled onto it.
  kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0}
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "250"}
  capacity: {cpu: "32", memory: 256Gi, pods: "250"}
EOF
  kctl wait --for=condition=Ready node/kwok-node-0 --timeout=60s >/dev/null
  local i
  for i in $(seq 1 100); do
    kctl get serviceaccount default -n default >/dev/null 2>&1 && break
    sleep 0.1
  done
  log "cluster ready in $((SECONDS - start))s; KUBECONFIG=$KUBECONFIG_OUT"
  echo "$KUBECONFIG_OUT"
}

down() {
  if [[ -x $BIN/kwokctl && -d $KWOK_WORKDIR/clusters/$NAME ]]; then
    # Delete needs a kubeconfig path to edit; give it a throwaway one.
    "$BIN/kwokctl" delete cluster --name "$NAME" --kubeconfig "$CACHE/throwaway-kubeconfig-$NAME" >"$CACHE/kwokctl-$NAME.log" 2>&1 || true
    [[ ${1:-} == quiet ]] || log "cluster $NAME deleted"
  fi
  rm -f "$KUBECONFIG_OUT" "$CACHE/throwaway-kubeconfig-$NAME"
  [[ $NAME == eventflow ]] || rm -f "$CACHE/kwokctl-$NAME.yaml" "$CACHE/kwokctl-$NAME.log"
}

case ${1:-} in
  build) build ;;
  up) up ;;
  down) down ;;
  status) if running; then echo "running: KUBECONFIG=$KUBECONFIG_OUT"; else echo "not running"; exit 1; fi ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
