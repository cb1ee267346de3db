#!/usr/bin/env bash
# Install the Debian packages that building, testing and the demo need.
# Idempotent: when every package is already installed it only runs dpkg-query.
set -euo pipefail

packages=(
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
	libcmocka-dev libjson-c-dev libcyaml-dev libyaml-dev libnftables-dev bats bats-assert bats-support
	iproute2 ethtool nftables curl python3 procps jq
	clang-format clang-tidy cppcheck libclang-rt-14-dev
	libmicrohttpd-dev libmnl-dev prometheus
	tmux groff man-db gnuplot-nox valgrind
	wrk nginx-light
	dnsmasq-base bind9-dnsutils python3-dnspython
	libcurl4-openssl-dev etcd-server etcd-client openssl
	postgresql python3-psycopg2
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
