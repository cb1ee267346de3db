#!/usr/bin/env bash
# The test bed's downstream form: a PostgreSQL server the backends call, so
# that graysplit can watch the TCP connections the backends open to their
# database and compare the canary's with the stable ones'. It adds to a bed
# tb_up made (tests/bed/testbed.sh):
#
#   node  (ndb 10.77.3.1/24)                  forwards, as it does already
#     |
#   db    (eth0 10.77.3.5/24)   PostgreSQL on 10.77.3.5:5432, database gs
#
# The db namespace routes the backend subnet 10.77.2.0/24 back via the node,
# each backend routes 10.77.3.0/24 via the node (10.77.2.1), so every
# backend-to-database packet crosses the node, on nbI and ndb. IPv4 only.
#
# The server is Debian's PostgreSQL (the newest /usr/lib/postgresql/*/bin),
# run as the unix user postgres, its data directory and socket under the
# bed's state directory, trust authentication for the backend subnet (and
# for the local socket: tb_db_psql), roles app (what the backends use) and
# app_limited (CONNECTION LIMIT 0: every connection as it is refused with
# "FATAL: too many connections for role", SQLSTATE 53300). initdb takes
# seconds, so an initialised cluster is kept once per machine as a
# template (tb_db__template) and copied for each bed.
#
# tb_db_apps replaces the backends' httpd.py by tests/bed/depapp.py, which
# answers every request as httpd.py's /id does (the backend's name) after
# one query over a pool of persistent connections; tb_db_fault switches a
# backend's way of using the database (read depapp.py's docstring).
#
# tb_down removes all of it: the db namespace is in the bed's list of
# namespaces, and the postmaster in its list of servers to stop first.
#
# Sourced (after testbed.sh, or alone: it sources testbed.sh itself):
#   tb_db_up PREFIX              the db namespace and a running server
#   tb_db_down PREFIX            remove them again (tb_down does it too)
#   tb_db_apps PREFIX            depapp.py on b1..b3 instead of httpd.py
#   tb_db_app_start PREFIX NAME  start backend NAME's depapp.py again
#                                (after tb_backend_stop)
#   tb_db_fault PREFIX NAME MODE normal | extra | newconn | refused | heavy K
#   tb_db_psql PREFIX SQL        run SQL in database gs as postgres, print
#                                the rows unaligned (psql -At)
# Standalone:
#   tests/bed/dbbed.sh up PREFIX        tb_up, tb_db_up and tb_db_apps
#   tests/bed/dbbed.sh down PREFIX
#   tests/bed/dbbed.sh fault PREFIX NAME MODE
#   tests/bed/dbbed.sh psql PREFIX SQL

if ! declare -F tb_up >/dev/null; then
	# shellcheck source=testbed.sh
	source "$(dirname "${BASH_SOURCE[0]}")/testbed.sh"
fi

export TB_DB4=10.77.3.5
export TB_DB_PORT=5432
export TB_DB_NAME=gs
export TB_DB_USER=app
export TB_DB_USER_LIMITED=app_limited
TB_DB_NODE4=10.77.3.1
TB_DB_NET4=10.77.3.0/24
TB_DB_IF_NODE=ndb
# Connections the server takes (3 of them kept for superusers): enough for
# three pools of 8, a backend at a time opening one per request, and psql.
TB_DB_MAX_CONNECTIONS=${TB_DB_MAX_CONNECTIONS:-60}
# Where the machine's template clusters live (tb_db__template).
TB_DB_TEMPLATE_BASE=${TB_DB_TEMPLATE_BASE:-/var/tmp}
# What a template holds beyond initdb's cluster: change it with the SQL in
# tb_db__template and every machine makes its template anew.
TB_DB_TEMPLATE_REV="1: roles app, app_limited (connection limit 0); database gs owned by app"

# tb_db__pgbin: the bin directory of the newest PostgreSQL Debian installed
# (/usr/lib/postgresql/VERSION/bin), or TB_DB_PGBIN. Its own psql and
# pg_isready are used, not /usr/bin's wrappers, which consult the machine's
# clusters.
tb_db__pgbin() {
	local bin
	if [ -n "${TB_DB_PGBIN:-}" ]; then
		bin=$TB_DB_PGBIN
	else
		bin=$(printf '%s\n' /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)
		bin=${bin%/postgres}
	fi
	if [ ! -x "$bin/postgres" ] || [ ! -x "$bin/initdb" ]; then
		echo "dbbed: no PostgreSQL server under /usr/lib/postgresql (scripts/deps.sh installs postgresql)" >&2
		return 1
	fi
	echo "$bin"
}

# tb_db__as_pg CMD...: CMD as the unix user postgres (the server refuses to
# run as root). setpriv execs CMD itself, so a pid taken of it is CMD's.
tb_db__as_pg() {
	setpriv --reuid=postgres --regid=postgres --init-groups "$@"
}

# tb_db__template BIN: print the directory of this machine's template
# cluster for BIN's PostgreSQL version (its data/ is an initdb'ed cluster
# with the roles and database of TB_DB_TEMPLATE_REV, shut down cleanly),
# making it first if there is none or it is of an older revision. It is
# built in a directory of its own and renamed into place, so a bed starting
# meanwhile sees either no template or a whole one; two beds making it at
# once both succeed and one of the two copies is kept.
tb_db__template() {
	local bin=$1 ver tpl tmp old out
	ver=$(basename "$(dirname "$bin")")
	tpl="$TB_DB_TEMPLATE_BASE/graysplit-pg-template-$ver"
	if [ -f "$tpl/data/global/pg_control" ] && [ -f "$tpl/data/PG_VERSION" ] &&
		[ "$(cat "$tpl/graysplit-template" 2>/dev/null)" = "$TB_DB_TEMPLATE_REV" ]; then
		echo "$tpl"
		return 0
	fi
	echo "dbbed: making the template cluster $tpl (once per machine)" >&2
	tmp=$(mktemp -d "$tpl.new.XXXXXX") || return 1
	if ! chown postgres:postgres "$tmp" || ! chmod 755 "$tmp"; then
		rm -rf "$tmp"
		return 1
	fi
	# From /: initdb warns about a working directory postgres cannot read.
	if ! out=$(cd / && tb_db__as_pg "$bin/initdb" -D "$tmp/data" -U postgres -A trust \
		-E UTF8 --locale=C 2>&1); then
		echo "dbbed: initdb failed: $out" >&2
		rm -rf "$tmp"
		return 1
	fi
	# Single-user mode: no socket, no port; one statement a line.
	out=$(cd / && tb_db__as_pg "$bin/postgres" --single -D "$tmp/data" -c jit=off postgres 2>&1 <<-EOF
		CREATE ROLE $TB_DB_USER LOGIN;
		CREATE ROLE $TB_DB_USER_LIMITED LOGIN CONNECTION LIMIT 0;
		CREATE DATABASE $TB_DB_NAME OWNER $TB_DB_USER;
	EOF
	) || true
	if grep -Eq 'ERROR|FATAL|PANIC' <<<"$out" || [ ! -f "$tmp/data/global/pg_control" ]; then
		echo "dbbed: setting up the template failed: $out" >&2
		rm -rf "$tmp"
		return 1
	fi
	echo "$TB_DB_TEMPLATE_REV" >"$tmp/graysplit-template"
	# An older revision (or a broken one) is moved aside first: mv -T does
	# not replace a directory that holds files.
	if [ -e "$tpl" ]; then
		old=$(mktemp -u "$tpl.old.XXXXXX")
		mv -T "$tpl" "$old" 2>/dev/null && rm -rf "$old"
	fi
	if ! mv -T "$tmp" "$tpl" 2>/dev/null; then
		# Another bed put its template there first: use that one.
		rm -rf "$tmp"
		[ -f "$tpl/data/global/pg_control" ] || { echo "dbbed: no template at $tpl" >&2; return 1; }
	fi
	echo "$tpl"
}

# tb_db__hba: the server's pg_hba.conf: trust for the local socket
# (tb_db_psql) and for the backends' subnet, nothing else (the client
# namespace has no route to the database anyway).
tb_db__hba() {
	cat <<-EOF
		# graysplit test bed (tests/bed/dbbed.sh)
		local all all trust
		host all all 10.77.2.0/24 trust
	EOF
}

# tb_db__build PREFIX: the db namespace and its link to the node, the
# routes, the bed's copy of the template cluster and the running server.
# Every step is checked by hand: set -e would not stop it, as bash ignores
# -e in a function whose status is tested.
tb_db__build() {
	local p=$1 st ns node bin tpl b
	st=$(tb_state_dir "$p")
	ns=$(tb_ns "$p" db)
	node=$(tb_ns "$p" node)
	bin=$(tb_db__pgbin) || return 1
	tpl=$(tb_db__template "$bin") || return 1

	ip netns add "$ns" || return 1
	echo "$ns" >>"$st/namespaces"
	ip -n "$ns" link set lo up || return 1
	tb__veth "$node" "$TB_DB_IF_NODE" "$ns" eth0 || return 1
	ip -n "$node" addr add "$TB_DB_NODE4/24" dev "$TB_DB_IF_NODE" || return 1
	ip -n "$ns" addr add "$TB_DB4/24" dev eth0 || return 1
	ip -n "$ns" route add 10.77.2.0/24 via "$TB_DB_NODE4" || return 1
	for b in "${TB_BACKENDS[@]}"; do
		ip -n "$(tb_ns "$p" "$b")" route add "$TB_DB_NET4" via "$TB_NODE_B4" || return 1
	done
	# The same checksum offload as the rest of the bed (tb_offload).
	if [ "${TB_OFFLOAD:-on}" = off ]; then
		tb_exec "$p" db ethtool -K eth0 tx off >/dev/null || return 1
		tb_exec "$p" node ethtool -K "$TB_DB_IF_NODE" tx off >/dev/null || return 1
	fi

	# The state directory must let postgres through to its data directory
	# (it is root's, and a umask of 077 would close it).
	chmod a+x "$st" || return 1
	install -d -m 755 "$st/db" || return 1
	cp -a "$tpl/data" "$st/db/data" || return 1
	tb_db__hba >"$st/db/data/pg_hba.conf" || return 1
	chown postgres:postgres "$st/db/data/pg_hba.conf" || return 1
	install -d -o postgres -g postgres -m 755 "$st/db/sock" || return 1
	if ! tb_db__as_pg test -r "$st/db/data/PG_VERSION"; then
		echo "dbbed: postgres cannot read $st/db/data (is $TB_STATE_BASE open to it?)" >&2
		return 1
	fi
	tb_db__start "$p" "$bin"
}

# tb_db__start PREFIX BIN: start the postmaster in the db namespace and
# wait (bounded) until it takes connections, from the backends too. It is
# scheduled as the backends' servers are (tb__sched_prefix): a busy
# machine must not stall the queries of one group and not the other's.
# Its pid goes to pid.db and, as "QUIT PID", to stop-first: tb_down stops
# it first, with an immediate shutdown (its children end, its shared
# memory goes), before it kills what else runs in the namespaces.
# Settings: small and unsafe on purpose (fsync off; nothing here needs to
# survive a crash); no JIT and no parallel workers, so a query's time grows
# with its work alone; dynamic shared memory in the data directory, so
# nothing of it is left in /dev/shm whatever happens.
tb_db__start() {
	local p=$1 bin=$2 st ns sched pid deadline b
	st=$(tb_state_dir "$p")
	ns=$(tb_ns "$p" db)
	sched=$(tb__sched_prefix) || return 1
	# shellcheck disable=SC2086 # the prefix is words
	setsid ip netns exec "$ns" $sched setpriv --reuid=postgres --regid=postgres --init-groups \
		"$bin/postgres" -D "$st/db/data" \
		-c listen_addresses="$TB_DB4" -c port="$TB_DB_PORT" \
		-c unix_socket_directories="$st/db/sock" \
		-c max_connections="$TB_DB_MAX_CONNECTIONS" -c shared_buffers=16MB \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
		-c jit=off -c max_parallel_workers_per_gather=0 -c autovacuum=off \
		-c dynamic_shared_memory_type=mmap -c huge_pages=off \
		-c logging_collector=off -c log_destination=stderr \
		</dev/null >/dev/null 2>>"$st/db/postgres.log" 3>&- &
	pid=$!
	disown "$pid"
	echo "$pid" >"$st/pid.db"
	echo "QUIT $pid" >>"$st/stop-first"

	deadline=$((SECONDS + 30))
	# Asked as roles that may connect, so the server logs no failed login.
	until ip netns exec "$ns" "$bin/pg_isready" -q -h "$st/db/sock" -p "$TB_DB_PORT" \
		-U postgres -d "$TB_DB_NAME" -t 2; do
		if ! tb__running "$pid"; then
			echo "dbbed: postgres exited at start: $(tail -n 5 "$st/db/postgres.log")" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "dbbed: postgres takes no connections after 30 s: $(tail -n 5 "$st/db/postgres.log")" >&2
			return 1
		fi
		sleep 0.05
	done
	# And over TCP through the node, from every backend.
	for b in "${TB_BACKENDS[@]}"; do
		if ! tb_exec "$p" "$b" "$bin/pg_isready" -q -h "$TB_DB4" -p "$TB_DB_PORT" \
			-U "$TB_DB_USER" -d "$TB_DB_NAME" -t 5; then
			echo "dbbed: backend $b does not reach the database at $TB_DB4:$TB_DB_PORT" >&2
			return 1
		fi
	done
}

# tb_db_up PREFIX: add the database to bed PREFIX (made by tb_up). On a
# failure it says why, removes what it made and returns 1.
tb_db_up() {
	local p=$1
	tb__valid_prefix "$p" || return 1
	if [ ! -e "/run/netns/$(tb_ns "$p" node)" ]; then
		echo "dbbed: no bed '$p' (tb_up $p first)" >&2
		return 1
	fi
	if [ -e "/run/netns/$(tb_ns "$p" db)" ]; then
		echo "dbbed: $(tb_ns "$p" db) exists already" >&2
		return 1
	fi
	if ! tb_db__build "$p"; then
		echo "dbbed: adding the database to '$p' failed; removing it" >&2
		tb_db_down "$p"
		return 1
	fi
}

# tb_db__stop_server PREFIX: immediate shutdown of the postmaster (SIGQUIT:
# it ends its children and removes its shared memory), waited for at most
# 10 s, then SIGKILL. What tb_down does with stop-first, for tb_db_down.
tb_db__stop_server() {
	local st pid i
	st=$(tb_state_dir "$1")
	pid=$(cat "$st/pid.db" 2>/dev/null) || return 0
	if tb__running "$pid" && [ "$(ip netns identify "$pid" 2>/dev/null)" = "$(tb_ns "$1" db)" ]; then
		kill -QUIT "$pid" 2>/dev/null
		for ((i = 0; i < 200; i++)); do
			tb__running "$pid" || break
			sleep 0.05
		done
		tb__running "$pid" && kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$st/pid.db"
	if [ -f "$st/stop-first" ]; then
		grep -vx "QUIT $pid" "$st/stop-first" >"$st/stop-first.tmp" || true
		mv -f "$st/stop-first.tmp" "$st/stop-first"
	fi
}

# tb_db_down PREFIX: remove the database from the bed: the server, anything
# else in its namespace, the namespace (and so the node's ndb), the
# backends' routes to it, its files. The backends' servers stay as they are
# (depapp.py then answers "degraded"). Safe on a half-made database.
tb_db_down() {
	local p=$1 st ns pid b
	tb__valid_prefix "$p" || return 1
	st=$(tb_state_dir "$p")
	ns=$(tb_ns "$p" db)
	tb_db__stop_server "$p"
	if [ -e "/run/netns/$ns" ]; then
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			for _ in $(seq 40); do
				tb__running "$pid" || break
				sleep 0.05
			done
		done
		ip netns del "$ns"
	fi
	for b in "${TB_BACKENDS[@]}"; do
		ip -n "$(tb_ns "$p" "$b")" route del "$TB_DB_NET4" 2>/dev/null
	done
	if [ -f "$st/namespaces" ]; then
		grep -vx "$ns" "$st/namespaces" >"$st/namespaces.tmp" || true
		mv -f "$st/namespaces.tmp" "$st/namespaces"
	fi
	rm -rf "$st/db"
	return 0
}

# tb_db_psql PREFIX SQL: run SQL in database gs as the superuser, inside
# the db namespace over the server's unix socket (no TCP connection the
# bed would see); prints the rows unaligned, fields separated by "|".
# Fails (with psql's message) on an SQL error.
tb_db_psql() {
	local p=$1 sql=$2 bin st
	bin=$(tb_db__pgbin) || return 1
	st=$(tb_state_dir "$p")
	tb_exec "$p" db "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$st/db/sock" -p "$TB_DB_PORT" \
		-U postgres -d "$TB_DB_NAME" -c "$sql"
}

# tb_db__start_app PREFIX NAME: start backend NAME's depapp.py in its
# namespace, booked as tb__start_server books httpd.py (the bed's pids,
# pid.NAME, the same scheduling class), pointed at the database; its fault
# mode is read from dbfault.NAME (tb_db_fault), its errors go to
# depapp.NAME.err.
tb_db__start_app() {
	local p=$1 b=$2 st sched
	st=$(tb_state_dir "$p")
	sched=$(tb__sched_prefix) || return 1
	# setsid, ip netns exec and chrt each exec the next: $! is the server.
	# shellcheck disable=SC2086 # the prefix is words
	setsid ip netns exec "$(tb_ns "$p" "$b")" $sched "$TB_PYTHON" "$TB_ROOT/tests/bed/depapp.py" \
		--name "$b" --port "$TB_PORT" --fault-file "$st/dbfault.$b" \
		--db-host "$TB_DB4" --db-port "$TB_DB_PORT" --db-name "$TB_DB_NAME" --db-user "$TB_DB_USER" \
		--db-user-limited "$TB_DB_USER_LIMITED" \
		</dev/null >/dev/null 2>>"$st/depapp.$b.err" 3>&- &
	disown "$!"
	echo "$!" >>"$st/pids"
	echo "$!" >"$st/pid.$b"
}

# tb_db__wait_app PREFIX NAME: wait (bounded) until backend NAME's depapp.py
# listens, which it does only once its pool is connected; fail at once if
# it exited.
tb_db__wait_app() {
	local p=$1 b=$2 st pid i
	st=$(tb_state_dir "$p")
	pid=$(cat "$st/pid.$b")
	for ((i = 0; i < 400; i++)); do
		tb__listening "$p" "$b" && return 0
		if ! tb__running "$pid"; then
			echo "dbbed: depapp.py on $b exited: $(tail -n 5 "$st/depapp.$b.err")" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "dbbed: depapp.py on $b does not listen after 20 s: $(tail -n 5 "$st/depapp.$b.err")" >&2
	return 1
}

# tb_db_apps PREFIX: every backend serves with depapp.py instead of
# httpd.py: each server is stopped (tb_backend_stop), its depapp.py
# started in its place, and all are waited for.
tb_db_apps() {
	local p=$1 b
	if ! "$TB_PYTHON" -c 'import psycopg2' 2>/dev/null; then
		echo "dbbed: $TB_PYTHON has no psycopg2 (scripts/deps.sh installs python3-psycopg2)" >&2
		return 1
	fi
	for b in "${TB_BACKENDS[@]}"; do
		tb_backend_stop "$p" "$b" || return 1
		tb_db__start_app "$p" "$b" || return 1
	done
	for b in "${TB_BACKENDS[@]}"; do
		tb_db__wait_app "$p" "$b" || return 1
	done
}

# tb_db_app_start PREFIX NAME: start backend NAME's depapp.py again (after
# tb_backend_stop; tb_backend_start would start httpd.py) and wait for it.
tb_db_app_start() {
	local p=$1 b=$2
	tb__listening "$p" "$b" && { echo "dbbed: backend $b already listens" >&2; return 1; }
	tb_db__start_app "$p" "$b" && tb_db__wait_app "$p" "$b"
}

# tb_db_rollout NAME: a rollout file for the bed's IPv4 service (b1, b2
# stable, b3 canary) at 20%, baked far longer than a test or a demo runs,
# guarding the database (analysis.downstream, protocol postgres); a new
# NAME is a new rollout. Printed on stdout.
tb_db_rollout() {
	cat <<-EOF
		name: $1
		service: $TB_VIP4:$TB_PORT
		backends:
		  - {address: ${TB_B4[b1]}, group: stable}
		  - {address: ${TB_B4[b2]}, group: stable}
		  - {address: ${TB_B4[b3]}, group: canary}
		analysis:
		  downstream:
		    - target: $TB_DB4:$TB_DB_PORT
		      protocol: postgres
		steps:
		  - percent: 20
		    bake: 1h
	EOF
}

# tb_db_fault PREFIX NAME MODE: how backend NAME's depapp.py uses the
# database from its next request on (its clients always get a 200):
# "normal" (one query over the pool), "extra" (and a second, slow one),
# "newconn" (over a new connection each time), "refused" (a new connection
# as app_limited, which the server refuses), "heavy K" (a query K times the
# work). The file is replaced atomically.
tb_db_fault() {
	local p=$1 b=$2 st
	shift 2
	st=$(tb_state_dir "$p")
	case "$*" in
	normal | extra | newconn | refused) ;;
	heavy\ [1-9] | heavy\ [1-9][0-9] | heavy\ [1-9][0-9][0-9] | heavy\ [1-9][0-9][0-9][0-9]) ;;
	*) echo "dbbed: fault mode normal | extra | newconn | refused | heavy K (K 1..9999), not '$*'" >&2; return 1 ;;
	esac
	echo "$*" >"$st/dbfault.$b.tmp" && mv -f "$st/dbfault.$b.tmp" "$st/dbfault.$b"
}

tb_db_main() {
	local cmd=${1:-} p=${2:-}
	if [ -z "$cmd" ] || [ -z "$p" ]; then
		sed -n '/^# Standalone:/,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
		return 2
	fi
	shift 2
	case $cmd in
	up)
		tb_up "$p" || return 1
		tb_db_up "$p" || { tb_down "$p"; return 1; }
		tb_db_apps "$p" || { tb_down "$p"; return 1; }
		echo "testbed '$p' up with PostgreSQL at $TB_DB4:$TB_DB_PORT in $(tb_ns "$p" db); backends run depapp.py"
		;;
	down) tb_down "$p" ;;
	fault) tb_db_fault "$p" "${1:?backend}" "${@:2}" ;;
	psql) tb_db_psql "$p" "${1:?SQL}" ;;
	*) echo "dbbed: unknown command '$cmd'" >&2; return 2 ;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	tb_db_main "$@"
	exit $?
fi
