#!/usr/bin/env bats
# test-lane: shared
# Fleet mode over TLS: an etcd that serves HTTPS only and wants client
# certificates, from a throw-away CA this file makes with openssl. With the
# CA, certificate and key, apply, status and an agent work; without the
# client certificate, with another CA, or over plain HTTP, every command
# fails with one line and nothing is written.

load helpers
load etcd

BASIC=$BATS_TEST_DIRNAME/../../examples/canary-basic.yaml

# cert NAME CA USAGE: a P-256 key and certificate signed by CA for 127.0.0.1.
cert() {
	local d=$BATS_FILE_TMPDIR/tls
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/$1-key.pem" -out "$d/$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=%s\n' "$3" >"$d/$1.ext"
	openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2-key.pem" \
		-CAcreateserial -days 1 -extfile "$d/$1.ext" -out "$d/$1.pem" 2>/dev/null
}

ca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$BATS_FILE_TMPDIR/tls/$1-key.pem" -out "$BATS_FILE_TMPDIR/tls/$1.pem" \
		-days 1 -subj "/CN=graysplit test $1" 2>/dev/null
}

setup_file() {
	mkdir -p "$BATS_FILE_TMPDIR/tls"
	ca ca
	ca otherca
	# etcd's gateway reaches its own gRPC server with the server's certificate,
	# so that one is for client authentication too.
	cert server ca serverAuth,clientAuth
	cert client ca clientAuth
	bed_up
	gs attach "$TB_IF_CLIENT"
	etcd_up "$BATS_FILE_TMPDIR/tls"
}

teardown_file() {
	agent_stop_all
	etcd_down
	bed_down
}

setup() {
	T=$BATS_FILE_TMPDIR/tls
	TLS=(--store-cacert "$T/ca.pem" --store-cert "$T/client.pem" --store-key "$T/client-key.pem")
}

@test "with the CA and a client certificate: apply, status and an agent work over TLS" {
	run gs apply --store "$ETCD_URL" "${TLS[@]}" -f "$BASIC" --json
	assert_success
	assert_equal "$(jq -r .result <<<"$output")" published
	"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --store "$ETCD_URL" "${TLS[@]}" \
		</dev/null >"$BATS_FILE_TMPDIR/agent.out" 2>&1 3>&- &
	echo $! >>"$BATS_FILE_TMPDIR/agent.pids"
	applied() { [ "$(gs status --json | jq -r '.services[0].rollout.name // empty')" = web-v2 ]; }
	for _ in $(seq 100); do applied && break; sleep 0.1; done
	applied
	in_fleet() {
		[ "$(gs status --store "$ETCD_URL" "${TLS[@]}" --json | jq '[.fleet.nodes[] | select(.lag == 0)] | length')" = 1 ]
	}
	for _ in $(seq 100); do in_fleet && break; sleep 0.1; done
	in_fleet
}

@test "without the client certificate, with another CA, or over plain HTTP: one line, nothing written" {
	# The spec's revision: the agent's own writes (its walk, its report) go on.
	spec_rev() {
		gs status --store "$ETCD_URL" "${TLS[@]}" --json |
			jq '.fleet.services[] | select(.key | endswith("/spec")) | .revision'
	}
	before=$(spec_rev)
	sed 's/^name: web-v2/name: web-v9/' "$BASIC" >"$BATS_TEST_TMPDIR/v9.yaml"

	run gs apply --store "$ETCD_URL" --store-cacert "$T/ca.pem" -f "$BATS_TEST_TMPDIR/v9.yaml"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "graysplit: store:"

	run gs apply --store "$ETCD_URL" --store-cacert "$T/otherca.pem" --store-cert "$T/client.pem" \
		--store-key "$T/client-key.pem" -f "$BATS_TEST_TMPDIR/v9.yaml"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "graysplit: store: no endpoint answered"

	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/v9.yaml"
	assert_failure
	assert_equal "${#lines[@]}" 1

	run gs apply --store "$ETCD_URL" --store-cert "$T/client.pem" --store-key "$T/client-key.pem" \
		-f "$BATS_TEST_TMPDIR/v9.yaml"
	assert_failure
	assert_output "graysplit: store: a client certificate needs --store-cacert too"

	assert_equal "$(spec_rev)" "$before"
}
