# A throw-away etcd for fleet tests: Debian's etcd-server on loopback, on
# free ports, its data under the file's temporary directory; started,
# killed and started again on the same data by the tests that need it.
# ETCD_URL is the store URL to give graysplit (etcd://127.0.0.1:PORT/PREFIX
# with a prefix unique to this bats run and file).

# A TCP port nothing on the host listens on (nor was given out by this file).
etcd_free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20000))
		grep -qx "$p" "$BATS_FILE_TMPDIR/ports" 2>/dev/null && continue
		ss -Htln "sport = :$p" | grep -q . && continue
		echo "$p" >>"$BATS_FILE_TMPDIR/ports"
		echo "$p"
		return 0
	done
	echo "no free port found" >&2
	return 1
}

# etcd_up [TLS_DIR]: start etcd (once per file: ports and data dir are
# kept for etcd_restart); with TLS_DIR (ca.pem, server.pem, server-key.pem)
# it serves HTTPS only and wants client certificates.
etcd_up() {
	command -v etcd >/dev/null || { echo "etcd is missing: run scripts/deps.sh" >&2; return 1; }
	ETCD_DIR=$BATS_FILE_TMPDIR/etcd
	ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-$(etcd_free_port)}
	ETCD_PEER_PORT=${ETCD_PEER_PORT:-$(etcd_free_port)}
	ETCD_TLS=${1:-}
	ETCD_PREFIX="/gs${BATS_ROOT_PID:-$$}-$(basename "$BATS_TEST_FILENAME" .bats)"
	ETCD_URL="etcd://127.0.0.1:$ETCD_CLIENT_PORT$ETCD_PREFIX"
	export ETCD_DIR ETCD_CLIENT_PORT ETCD_PEER_PORT ETCD_TLS ETCD_PREFIX ETCD_URL
	etcd_start
}

etcd_start() {
	local scheme=http tls=() i
	if [ -n "$ETCD_TLS" ]; then
		scheme=https
		tls=(--cert-file "$ETCD_TLS/server.pem" --key-file "$ETCD_TLS/server-key.pem"
			--trusted-ca-file "$ETCD_TLS/ca.pem" --client-cert-auth)
	fi
	mkdir -p "$ETCD_DIR"
	# Started from a subshell that exits at once: etcd is not a job of the
	# test's shell, which would report its kill -9 in the test output.
	(etcd --name gs --data-dir "$ETCD_DIR/data" \
		--listen-client-urls "$scheme://127.0.0.1:$ETCD_CLIENT_PORT" \
		--advertise-client-urls "$scheme://127.0.0.1:$ETCD_CLIENT_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "gs=http://127.0.0.1:$ETCD_PEER_PORT" \
		"${tls[@]}" </dev/null >>"$ETCD_DIR/etcd.log" 2>&1 3>&- &
		echo $! >"$ETCD_DIR/pid")
	ETCD_PID=$(cat "$ETCD_DIR/pid")
	echo "$ETCD_PID" >>"$BATS_FILE_TMPDIR/etcd.pids"
	export ETCD_PID
	for ((i = 0; i < 200; i++)); do
		kill -0 "$ETCD_PID" 2>/dev/null || break
		ss -Htln "sport = :$ETCD_CLIENT_PORT" | grep -q . && return 0
		sleep 0.05
	done
	echo "etcd did not start listening:" >&2
	tail -5 "$ETCD_DIR/etcd.log" >&2
	return 1
}

# etcd_gone PID: wait (at most 10 s) until the process has exited.
etcd_gone() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "etcd $1 still runs" >&2
	return 1
}

# etcd_kill [SIGNAL]: stop it (KILL unless told) and wait for it.
etcd_kill() {
	[ -n "${ETCD_PID:-}" ] || return 0
	kill "-${1:-KILL}" "$ETCD_PID" 2>/dev/null || true
	etcd_gone "$ETCD_PID"
	ETCD_PID=
}

# Every etcd this file started (teardown_file).
etcd_down() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/etcd.pids" ] || return 0
	while read -r pid; do
		kill -9 "$pid" 2>/dev/null || true
		etcd_gone "$pid" || true
	done <"$BATS_FILE_TMPDIR/etcd.pids"
	: >"$BATS_FILE_TMPDIR/etcd.pids"
	ETCD_PID=
}

# etcdctl against it, for what the tests check behind graysplit's back.
ectl() {
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_CLIENT_PORT" "$@"
}
