#!/usr/bin/env bash
# Installs and builds every server binary kvmirror's tests run against, into a cache outside the
# checkout. Already-built versions are reused, so a second run does nothing.
#
#   ZooKeeper 3.8, etcd 3.4 (v2 API)  Debian packages zookeeper, etcd-server
#   etcd 3.7.3 and its etcdctl        hack/tools/etcd   (etcd's own main at that version)
#   Consul 1.13.9                     hack/tools/consul
#   kube-apiserver 1.37.2             hack/tools/kube
#
# The cache lives in ${KVMIRROR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmirror}; print its bin
# folder with `hack/test-deps.sh --print-dir`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KVMIRROR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmirror}
bin=$cache/bin

ETCD_VERSION=3.7.3
CONSUL_VERSION=1.13.9
KUBE_VERSION=1.37.2

if [[ ${1:-} == --print-dir ]]; then
	echo "$bin"
	exit 0
fi

step() { # step NAME CMD...: runs CMD, reports how long it took
	local name=$1 start=$SECONDS
	shift
	echo "test-deps: $name ..."
	"$@"
	echo "test-deps: $name done in $((SECONDS - start))s"
}

apt_install() {
	local missing=()
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	local sudo=()
	((EUID == 0)) || sudo=(sudo)
	step "apt-get install ${missing[*]}" bash -c \
		"${sudo[*]} apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${sudo[*]} apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null"
}

go_build() { # go_build TOOLDIR PACKAGE OUTPUT
	local dir=$1 pkg=$2 out=$3
	[[ -x $out ]] && return 0
	mkdir -p "$(dirname "$out")"
	step "build $(basename "$out") ($(basename "$(dirname "$out")"))" \
		bash -c "cd '$root/hack/tools/$dir' && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o '$out.tmp' '$pkg' && mv '$out.tmp' '$out'"
}

apt_install zookeeper etcd-server default-jre-headless

go_build etcd . "$bin/etcd-$ETCD_VERSION/etcd"
go_build etcd go.etcd.io/etcd/etcdctl/v3 "$bin/etcd-$ETCD_VERSION/etcdctl"
go_build consul github.com/hashicorp/consul "$bin/consul-$CONSUL_VERSION/consul"
go_build kube k8s.io/kubernetes/cmd/kube-apiserver "$bin/kube-$KUBE_VERSION/kube-apiserver"

# envtest expects one folder holding kube-apiserver, etcd and kubectl.
assets=$bin/envtest-$KUBE_VERSION
mkdir -p "$assets"
ln -sf "$bin/kube-$KUBE_VERSION/kube-apiserver" "$assets/kube-apiserver"
ln -sf "$bin/etcd-$ETCD_VERSION/etcd" "$assets/etcd"
ln -sf "$(command -v kubectl || echo /usr/bin/kubectl)" "$assets/kubectl"

echo "test-deps: all servers present in $bin"
