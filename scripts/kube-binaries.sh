#!/usr/bin/env bash
# Builds a real Kubernetes control plane from Go modules, once per version, into a cache outside
# the repository: etcd, kube-apiserver, kube-controller-manager and kwok (with kwok's stage files).
# A second run finds every binary in the cache and builds nothing. Only the Go module proxy is
# needed. Prints the cache directory (the last line of stdout) for `make e2e-kube` and the tests.
#
#   KUBE_VERSION   k8s.io/kubernetes version (default v1.30.14: the minor NYC Mesh runs with k3s)
#   ETCD_VERSION   go.etcd.io/etcd/server/v3 version (default v3.6.17)
#   KWOK_VERSION   sigs.k8s.io/kwok version (default v0.8.0)
#   CUTOVERBOT_KUBE_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/cutoverbot/kube)
#
# Cold builds take minutes each (kube-apiserver is the longest) and several GB of memory, so the
# binaries are built one after another.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.30.14}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.17}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
GO="${GO:-go}"
CACHE_ROOT="${CUTOVERBOT_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutoverbot/kube}"
DIR="$CACHE_ROOT/$KUBE_VERSION-etcd$ETCD_VERSION-kwok$KWOK_VERSION"
BIN="$DIR/bin"

# The toolchain here builds everything; never fetch another one.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod"

log() { echo "kube-binaries: $*" >&2; }

mkdir -p "$BIN" "$DIR/src"

# version NAME: the version a binary is built from.
version() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    *) echo "$KUBE_VERSION" ;;
  esac
}

# have NAME: the binary exists and its build of this version finished (the stamp is written
# after a build succeeds, so a build killed half-way is redone).
have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.done" 2>/dev/null)" = "$(version "$1")" ]; }

timed() {
  local name="$1"; shift
  local start=$SECONDS
  log "building $name $(version "$name") (cold builds take minutes)"
  "$@"
  version "$name" >"$BIN/.$name.done"
  log "built $name in $((SECONDS - start)) s"
}

build_etcd() {
  # `go install go.etcd.io/etcd/server/v3@v` is refused because that go.mod has replace
  # directives; a wrapper module that requires it and builds its root (package main) works.
  local src="$DIR/src/etcd"
  mkdir -p "$src"
  cat >"$src/go.mod" <<EOF
module cutoverbot.local/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  : >"$src/go.sum"
  (cd "$src" && "$GO" build -trimpath -ldflags '-s -w' -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

# kube_module writes a wrapper module that requires k8s.io/kubernetes and points each staging
# module (a `./staging/...` replace in kubernetes's own go.mod) at its published v0.X.Y version.
kube_module() {
  local src="$DIR/src/kubernetes"
  [ -f "$src/go.mod" ] && return 0
  mkdir -p "$src"
  local gomod staging
  gomod="$(cd "$src" && GOFLAGS= "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  staging="v0.${KUBE_VERSION#v1.}"
  local goline
  goline="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  {
    echo "module cutoverbot.local/kubernetes"
    echo
    echo "go $goline"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { print "replace " $1 " => " $1 " " v }' "$gomod"
  } >"$src/go.mod.tmp"
  : >"$src/go.sum"
  mv "$src/go.mod.tmp" "$src/go.mod"
  log "wrapper module: $(grep -c '^replace' "$src/go.mod") staging modules at $staging"
}

build_kube() {
  local name="$1"
  kube_module
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  local pkg
  # The version the API server reports (and that clients and kwok read) comes from these.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (cd "$DIR/src/kubernetes" && "$GO" build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$BIN/$name.tmp" "$BIN/$name"
}

build_kwok() {
  local src="$DIR/src/kwok"
  mkdir -p "$src"
  (cd "$src" && GOBIN="$BIN" GOFLAGS= "$GO" install -trimpath -ldflags '-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  # kwok's node and pod lifecycles are YAML stages kept in its module, not in the binary.
  local dir
  dir="$(cd "$src" && GOFLAGS= "$GO" mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir/kustomize/stage" ] || { log "kwok stages not found in $dir"; exit 1; }
  rm -rf "$DIR/kwok-stage"
  cp -r "$dir/kustomize/stage" "$DIR/kwok-stage"
  chmod -R u+w "$DIR/kwok-stage"
}

for name in etcd kube-apiserver kube-controller-manager kwok; do
  if have "$name"; then
    log "$name: cached"
    continue
  fi
  case "$name" in
    etcd) timed etcd build_etcd ;;
    kwok) timed kwok build_kwok ;;
    *) timed "$name" build_kube "$name" ;;
  esac
done

log "kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION in $DIR"
echo "$DIR"
