#!/usr/bin/env python3
"""A test-bed backend that depends on a database: an HTTP server that, for
every request, asks PostgreSQL something and then says which backend it is.

What tests/bed/dbbed.sh runs on the backends in place of httpd.py (tb_db_apps),
so that graysplit can watch the TCP connections the backends open to their
database and compare the canary's with the stable backends'. Like httpd.py it
listens on [::]:PORT (IPv4 too), speaks HTTP/1.0 and closes every connection
after one answer; every GET, whatever its path, is answered

  200, "NAME\\n"             the database answered
  200, "NAME\\ndegraded\\n"   it did not (refused, broken, down): the client
                             side never sees the database's trouble

with the headers X-Backend (NAME), X-DB-Calls (queries sent) and X-DB-Time
(seconds spent waiting on the database, connection set-up included).

The database is used as a well-behaved service would: a pool of persistent
connections (psycopg2's ThreadedConnectionPool; --pool-min opened at start,
grown up to --pool-max under concurrency and then kept, never closed while
healthy), in autocommit, so one query is one round trip (no BEGIN/COMMIT).
The query is SELECT count(*) FROM generate_series(1, ROWS), ROWS chosen
(--rows) so that it costs the server a fraction of a millisecond. A
connection that breaks is dropped from the pool and the query retried on
another (or on a new one the pool opens); a request that finds every pooled
connection in use waits for one. The server listens only once the pool's
first connections are open, and exits (status 1) if they cannot be opened
within --db-wait seconds.

Fault modes, switched at run time without a restart: with --fault-file
PATH, every request first looks at PATH (one stat; the file is read again
only when its mtime, size or inode changed) and uses the database as it
says:

  missing, empty or "normal"  one query over the pool
  "extra"                     and a second, slow one (SELECT pg_sleep(0.005))
                              on the same connection: 2 calls per request
  "newconn"                   the query over a new connection, opened and
                              closed for this request, instead of the pool
  "refused"                   a new connection as --db-user-limited (a role
                              with CONNECTION LIMIT 0): the server refuses
                              it (FATAL 53300, too many connections for
                              role), and the answer is the degraded one
  "heavy K"                   the query with K times the rows (K > 0)

An unknown mode is logged and the previous one kept. Write the file
atomically (a temporary file renamed over it). Errors go to stderr, at most
one line a second of each kind (with how many were not shown). SIGUSR1
(the bed's tb_release_streams, meant for httpd.py) is ignored.

Usage: depapp.py --name NAME [--port 80] [--fault-file PATH]
                 [--db-host H] [--db-port 5432] [--db-name gs] [--db-user app]
                 [--db-user-limited app_limited] [--rows N]
                 [--pool-min 2] [--pool-max 8] [--db-wait S]
"""
import argparse
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

import psycopg2
import psycopg2.pool

# The bed's HTTP server (its directory is on the path when run as a script).
from httpd import DualStackServer

QUERY = "SELECT count(*) FROM generate_series(1, %s)"
EXTRA_QUERY = "SELECT pg_sleep(0.005)"


class ErrorLog:
    """Error lines on stderr, at most one a second for each kind."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.last = {}
        self.hidden = {}

    def __call__(self, kind, msg):
        now = time.monotonic()
        with self.lock:
            if now - self.last.get(kind, -1e9) < 1.0:
                self.hidden[kind] = self.hidden.get(kind, 0) + 1
                return
            self.last[kind] = now
            hidden = self.hidden.pop(kind, 0)
        msg = " ".join(str(msg).split())
        more = " (and %d more)" % hidden if hidden else ""
        print("depapp %s: %s: %s%s" % (self.name, kind, msg, more), file=sys.stderr, flush=True)


class FaultMode:
    """What --fault-file says: (mode, factor), re-read only when it changes."""

    MODES = ("normal", "extra", "newconn", "refused")

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.stamp = None
        self.mode = ("normal", 1.0)
        self.lock = threading.Lock()

    @classmethod
    def parse(cls, text):
        words = text.split()
        if not words:
            return ("normal", 1.0)
        if len(words) == 1 and words[0] in cls.MODES:
            return (words[0], 1.0)
        if len(words) == 2 and words[0] == "heavy":
            k = float(words[1])
            if not 0 < k <= 100000:
                raise ValueError("heavy takes a factor above 0, not %r" % words[1])
            return ("heavy", k)
        raise ValueError("unknown mode %r" % text.strip())

    def current(self):
        if not self.path:
            return self.mode
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self.lock:
            if stamp != self.stamp:
                text = ""
                if stamp is not None:
                    try:
                        with open(self.path) as f:
                            text = f.read()
                    except FileNotFoundError:
                        pass
                try:
                    self.mode = self.parse(text)
                except ValueError as e:
                    self.log("fault-file", "%s: %s (kept the previous mode)" % (self.path, e))
                self.stamp = stamp
            return self.mode


class AutocommitPool(psycopg2.pool.ThreadedConnectionPool):
    """ThreadedConnectionPool whose connections are in autocommit (one
    query, one round trip) and which keeps every healthy connection it
    opened: the base class closes one given back while it holds minconn
    idle ones, which under concurrency would open and close connections
    all the time -- the very thing the "newconn" mode is there to show."""

    def __init__(self, minconn, maxconn, **kwargs):
        super().__init__(minconn, maxconn, **kwargs)
        # putconn keeps a connection while fewer than minconn are idle.
        self.minconn = maxconn

    def _connect(self, key=None):
        conn = super()._connect(key)
        conn.autocommit = True
        return conn


class Database:
    """The app's use of PostgreSQL: run(mode) -> (answered, calls)."""

    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.params = dict(host=args.db_host, port=args.db_port, dbname=args.db_name,
                           connect_timeout=3, application_name="depapp-" + args.name)
        self.pool = AutocommitPool(args.pool_min, args.pool_max, user=args.db_user,
                                   **self.params)
        # The pool raises when all its connections are out; wait instead.
        self.slots = threading.BoundedSemaphore(args.pool_max)

    def pooled(self, statements):
        """Run the statements on one pooled connection; True if all went."""
        with self.slots:
            # Every idle connection may have broken at once (the server
            # restarted): each is dropped in turn, the last try is on a new
            # one. With the server down, getconn fails at once.
            for attempt in range(1, self.args.pool_max + 2):
                try:
                    conn = self.pool.getconn()
                except (psycopg2.Error, psycopg2.pool.PoolError) as e:
                    self.log("connect", e)
                    return False
                try:
                    with conn.cursor() as cur:
                        for sql, params in statements:
                            cur.execute(sql, params)
                            cur.fetchall()
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                    # Broken: out of the pool (closed), a new one next time.
                    self.pool.putconn(conn, close=True)
                    self.log("broken", "%s (attempt %d)" % (e, attempt))
                    continue
                except psycopg2.Error as e:
                    self.pool.putconn(conn)
                    self.log("query", e)
                    return False
                self.pool.putconn(conn)
                return True
        return False

    def fresh(self, user, statements):
        """Run the statements on a connection of their own, then close it."""
        try:
            conn = psycopg2.connect(user=user, **self.params)
        except psycopg2.Error as e:
            self.log("connect-" + user, e)
            return False
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for sql, params in statements:
                    cur.execute(sql, params)
                    cur.fetchall()
            return True
        except psycopg2.Error as e:
            self.log("query", e)
            return False
        finally:
            conn.close()

    def run(self, mode):
        kind, k = mode
        rows = self.args.rows
        if kind == "heavy":
            rows = max(1, int(round(rows * k)))
        query = [(QUERY, (rows,))]
        if kind == "extra":
            return self.pooled(query + [(EXTRA_QUERY, None)]), 2
        if kind == "newconn":
            return self.fresh(self.args.db_user, query), 1
        if kind == "refused":
            return self.fresh(self.args.db_user_limited, query), 1
        return self.pooled(query), 1


def make_handler(name, fault, db):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        server_version = "graysplit-testbed-depapp"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            start = time.monotonic()
            ok, calls = db.run(fault.current())
            spent = time.monotonic() - start
            body = (name + "\n" + ("" if ok else "degraded\n")).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Backend", name)
                self.send_header("X-DB-Calls", str(calls))
                self.send_header("X-DB-Time", "%.6f" % spent)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--fault-file", default=None,
                    help="file naming the fault mode, checked on every request")
    ap.add_argument("--db-host", default="10.77.3.5")
    ap.add_argument("--db-port", type=int, default=5432)
    ap.add_argument("--db-name", default="gs")
    ap.add_argument("--db-user", default="app")
    ap.add_argument("--db-user-limited", default="app_limited",
                    help='the role of mode "refused" (CONNECTION LIMIT 0)')
    ap.add_argument("--rows", type=int, default=3000,
                    help="rows the query counts (heavy K: K times as many)")
    ap.add_argument("--pool-min", type=int, default=2, help="connections opened at start")
    ap.add_argument("--pool-max", type=int, default=8, help="connections at most")
    ap.add_argument("--db-wait", type=float, default=10.0,
                    help="seconds to keep trying to open the pool at start")
    args = ap.parse_args()
    if not 1 <= args.pool_min <= args.pool_max:
        ap.error("need 1 <= --pool-min <= --pool-max")

    log = ErrorLog(args.name)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    deadline = time.monotonic() + args.db_wait
    while True:
        try:
            db = Database(args, log)
            break
        except psycopg2.Error as e:
            if time.monotonic() >= deadline:
                log("start", "no pool after %.0f s: %s" % (args.db_wait, e))
                return 1
            time.sleep(0.2)
    fault = FaultMode(args.fault_file, log)
    srv = DualStackServer(("::", args.port), make_handler(args.name, fault, db))
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
