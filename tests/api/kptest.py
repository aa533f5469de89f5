"""kptest — a tiny harness for Kopilka's HTTP API tests.

Python 3 standard library only. It starts a real `kopilka serve` on a free
loopback port with a fresh database and a random admin key, talks to it over
a keep-alive HTTP/1.1 connection, and stops it with SIGTERM at the end,
checking that it exits with status 0 within 10 s (under ASan a leak makes the
exit status non-zero) and that its stderr has no sanitizer report.

Checks never stop the run: each one is recorded, a failure prints one line
with both values, and `summary()` prints exactly one last line
`N passed, M failed` and exits non-zero when M > 0.

The binary is $KOPILKA_BIN, default ./kopilka (run from the repo root).
"""

import atexit
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

BIN = os.environ.get("KOPILKA_BIN", "./kopilka")

# KOPILKA_TEST_RETRY=1 starts every server with --test-retry: each group
# commit's first attempt is rolled back and run again, the path a batch takes on
# PostgreSQL after a lost serialization race. Every answer must stay the same.
RETRY = os.environ.get("KOPILKA_TEST_RETRY", "0") == "1"

# KOPILKA_TEST_DB=postgres runs every server on a fresh PostgreSQL database
# (CREATE DATABASE kp_<random>, dropped at exit) of the cluster at
# $KOPILKA_PG_URI, or of a throw-away cluster started here (tests/pg/start.sh)
# when that is not set. Default: a fresh SQLite file.
PG = os.environ.get("KOPILKA_TEST_DB", "sqlite") == "postgres"
_pg = {"uri": os.environ.get("KOPILKA_PG_URI"), "own": False, "dbs": {}}
_PG_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg")


def pg_admin_uri():
    """The URI of the cluster's admin database (starting a cluster if needed)."""
    if not _pg["uri"]:
        out = subprocess.run([os.path.join(_PG_SCRIPTS, "start.sh")], check=True,
                             stdout=subprocess.PIPE).stdout.decode().strip()
        _pg["uri"], _pg["own"] = out.splitlines()[-1], True
    return _pg["uri"]


def psql(uri, sql):
    """Run SQL with psql; returns its stdout (unaligned, tuples only)."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-P", "null=\\N", "-v", "ON_ERROR_STOP=1",
                        uri, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("psql: %s: %s" % (sql[:80], p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def new_db(path):
    """A fresh database for `path`: the path itself (SQLite), or the URI of a new
    PostgreSQL database that db_uri(path) also gives."""
    if not PG:
        return path
    if path in _pg["dbs"]:
        return _pg["dbs"][path]  # a server on a database made before (test_import)
    admin = pg_admin_uri()
    name = "kp_" + secrets.token_hex(6)
    psql(admin, "CREATE DATABASE %s" % name)
    uri = admin.rsplit("/", 1)[0] + "/" + name
    _pg["dbs"][path] = uri
    _pg["dbs"][uri] = uri
    return uri


def db_uri(db):
    """What to pass to --db for a database made by new_db (a path or a URI)."""
    return _pg["dbs"].get(db, db)


def db_query(db, sql):
    """Rows of a query on a database made by new_db, as lists of strings or values."""
    if PG:
        out = psql(db_uri(db), sql)
        return [[None if v == "\\N" else v for v in line.split("|")]
                for line in out.splitlines() if line]
    con = sqlite3.connect(db, timeout=30)
    try:
        return [list(r) for r in con.execute(sql)]
    finally:
        con.close()


def db_exec(db, sql):
    """Run one change on a database made by new_db; returns the rows changed."""
    if PG:
        out = psql(db_uri(db), sql + " RETURNING 1")
        return len([line for line in out.splitlines() if line])
    con = sqlite3.connect(db, timeout=30)
    try:
        n = con.execute(sql).rowcount
        con.commit()
        return n
    finally:
        con.close()


@atexit.register
def _drop_pg():
    if not PG:
        return
    for uri in set(_pg["dbs"].values()):
        try:
            psql(pg_admin_uri(), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % uri.rsplit("/", 1)[1])
        except Exception:  # the cluster may be gone already
            pass
    if _pg["own"]:
        subprocess.run([os.path.join(_PG_SCRIPTS, "stop.sh"), _pg["uri"]])
DEFAULT = object()  # "use the admin key"

_lock = threading.Lock()
_passed = 0
_failed = 0
_failures = []


def _short(v, limit=1500):
    try:
        s = json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, (dict, list)) else repr(v)
    except (TypeError, ValueError):
        s = repr(v)
    return s if len(s) <= limit else s[:limit] + "…(%d chars)" % len(s)


def _record(ok, name, detail):
    global _passed, _failed
    with _lock:
        if ok:
            _passed += 1
        else:
            _failed += 1
            line = "FAIL %s: %s" % (name, detail)
            _failures.append(line)
            print(line, flush=True)
    return ok


def check(name, got, expected):
    """Pass when got == expected; on failure print both values."""
    ok = got == expected
    return _record(ok, name, "got %s, expected %s" % (_short(got), _short(expected)))


def eventually(read, want, seconds=10):
    """read() until it gives want or `seconds` have passed; returns its last value,
    for a check of something a server does by itself within a few seconds."""
    deadline = time.monotonic() + seconds
    got = read()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read()
    return got


def check_true(name, cond, detail=""):
    """Pass when cond is true; detail says what was seen when it is not."""
    return _record(bool(cond), name, detail or "condition is false")


def metric(server, name):
    """The value of one unlabelled series of GET /metrics on a server (anything
    with .port and .admin_key), or None when it is not there."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + server.admin_key})
    body = conn.getresponse().read().decode()
    conn.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def check_fields(name, got, expected):
    """Pass when got is a dict holding every key of expected with an equal value
    (keys not in expected are not compared). A failure names the keys that differ."""
    if not isinstance(got, dict):
        return _record(False, name, "got %s, expected an object with %s" % (_short(got), _short(expected)))
    bad = {}
    for k, v in expected.items():
        if k not in got:
            bad[k] = ("<missing>", v)
        elif got[k] != v:
            bad[k] = (got[k], v)
    detail = "; ".join("%s: got %s, expected %s" % (k, _short(g, 400), _short(e, 400)) for k, (g, e) in bad.items())
    return _record(not bad, name, detail)


def check_error(name, ans, status, code, msg_has=None, msg_starts=None):
    """ans is (status, json, headers); expects {"error":{"code":code,...}} with that
    status, optionally a message containing msg_has / starting with msg_starts."""
    st, body, _ = ans
    err = body.get("error") if isinstance(body, dict) else None
    got_code = err.get("code") if isinstance(err, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    ok = st == status and got_code == code and isinstance(msg, str)
    if ok and msg_has is not None:
        ok = msg_has in msg
    if ok and msg_starts is not None:
        ok = msg.startswith(msg_starts)
    want = "%d %s" % (status, code)
    if msg_has is not None:
        want += " with message containing %r" % msg_has
    if msg_starts is not None:
        want += " with message starting %r" % msg_starts
    return _record(ok, name, "got %s %s, expected %s" % (st, _short(body, 600), want))


def scenario(fn, name=None):
    """Run one scenario; an exception is a failed check, the run goes on."""
    name = name or fn.__name__
    t = time.time()
    try:
        fn()
    except Exception:
        _record(False, "scenario %s" % name, "raised:\n" + traceback.format_exc())
    print("# %s: %.1f s" % (name, time.time() - t), flush=True)


def summary():
    print("%d passed, %d failed" % (_passed, _failed), flush=True)
    sys.exit(1 if _failed else 0)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    """One keep-alive connection. Not shared between threads."""

    def __init__(self, server):
        self.server = server
        self.conn = None
        self.last_raw = b""

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None, key=DEFAULT, headers=None):
        """Send one request; returns (status, json or None, headers as a lower-case dict).
        body: a dict/list (sent as JSON), str/bytes (sent as is) or None.
        key: DEFAULT is the admin key; None sends no Authorization header."""
        if key is DEFAULT:
            key = self.server.admin_key
        h = {}
        if key is not None:
            h["Authorization"] = "Bearer " + key
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body, ensure_ascii=False).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                raw = resp.read()
                status = resp.status
                rh = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady) as e:
                # A keep-alive connection the server closed while idle: reconnect once.
                self.close()
                if attempt == 1:
                    _record(False, "%s %s" % (method, path), "no answer: %r" % e)
                    return (None, None, {})
        self.last_raw = raw
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        self.server.note(method, path, status, raw)
        return (status, js, rh)


_servers = set()


@atexit.register
def _kill_leftovers():
    """A server whose test crashed before stop(): kill it by its own pid."""
    for srv in list(_servers):
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


class Server:
    """A `kopilka serve` on a fresh database in its own temporary directory."""

    def __init__(self, program, test_clock=True, name="server", extra_args=(), db=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="kptest-")
        # db: share another server's database (PostgreSQL: several servers on one)
        self.db = db or new_db(os.path.join(self.dir, "k.db"))
        self.program_path = os.path.join(self.dir, "program.json")
        with open(self.program_path, "w") as f:
            json.dump(program, f)
        self.port = free_port()
        self.admin_key = secrets.token_hex(16)
        self.answers = 0
        self.errors_5xx = []
        self._nlock = threading.Lock()
        self.stdout = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        argv = [BIN, "serve", "--db", self.db, "--program", self.program_path,
                "--listen", "127.0.0.1:%d" % self.port, "--admin-key", self.admin_key]
        if test_clock:
            argv.append("--test-clock")
        if RETRY:
            argv.append("--test-retry")
        argv.extend(extra_args)  # e.g. ("--auth-failures", "5")
        self.proc = subprocess.Popen(argv, stdout=self.stdout, stderr=self.stderr)
        _servers.add(self)
        self.client = Client(self)
        try:
            self._wait_ready()
        except Exception:
            self.proc.kill()
            self.proc.wait()
            _servers.discard(self)
            raise

    def _wait_ready(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s before it was ready:\n%s"
                                   % (self.name, self.proc.returncode, self.stderr_text()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/v1/health", headers={"Authorization": "Bearer " + self.admin_key})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not healthy within 60 s:\n%s" % (self.name, self.stderr_text()))

    def note(self, method, path, status, raw):
        with self._nlock:
            self.answers += 1
            if status is None or status >= 500:
                self.errors_5xx.append((method, path, status, raw[:300]))

    def call(self, method, path, body=None, key=DEFAULT, headers=None):
        return self.client.call(method, path, body, key, headers)

    def new_client(self):
        return Client(self)

    def stderr_text(self):
        try:
            self.stderr.flush()
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def set_clock(self, now):
        st, js, _ = self.call("POST", "/v1/admin/clock", {"now": now})
        check("%s: set clock %s" % (self.name, now), (st, js), (200, {"now": now}))

    def verify(self, db=None):
        """Run `kopilka verify --db`; returns (exit status, stdout + stderr)."""
        p = subprocess.run([BIN, "verify", "--db", db_uri(db or self.db)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def check_verify(self, what):
        rc, out = self.verify()
        lines = out.splitlines()
        check_true("%s: verify after %s" % (self.name, what),
                   rc == 0 and any(l.startswith("ok") for l in lines),
                   "exit %d, output %r" % (rc, out[:500]))

    def copy_db(self, dest):
        """A consistent copy of the live database (SQLite's backup API; on
        PostgreSQL pg_dump into a new database that db_uri(dest) names)."""
        if PG:
            uri = new_db(dest)
            dump = subprocess.run(["pg_dump", "--no-owner", self.db], check=True,
                                  stdout=subprocess.PIPE).stdout
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", uri], input=dump,
                           check=True, stdout=subprocess.DEVNULL)
            return
        src = sqlite3.connect(self.db, timeout=30)
        dst = sqlite3.connect(dest)
        src.backup(dst)
        dst.close()
        src.close()

    def check_healthy(self, what):
        st, js, _ = self.call("GET", "/v1/health")
        check("%s: healthy after %s" % (self.name, what), (st, js), (200, {"status": "ok"}))

    def stop(self):
        """SIGTERM; must exit 0 within 10 s with no sanitizer report; no 5xx seen."""
        self.client.close()
        _servers.discard(self)
        self.proc.send_signal(signal.SIGTERM)
        check("%s: no 5xx answers" % self.name, self.errors_5xx, [])
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            _record(False, "%s: exits within 10 s of SIGTERM" % self.name, "killed after 10 s")
        err = self.stderr_text()
        check("%s: exit status after SIGTERM" % self.name, rc, 0)
        bad = [w for w in ("runtime error", "AddressSanitizer", "LeakSanitizer") if w in err]
        check_true("%s: no sanitizer report on stderr" % self.name, not bad,
                   "stderr has %s:\n%s" % (bad, err[-4000:]))
        self.stdout.close()
        self.stderr.close()
        if rc == 0 and not bad:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("# %s: logs kept in %s" % (self.name, self.dir), flush=True)


def raw_request(port, head, body, read_timeout=30):
    """Send head+body on a fresh socket while reading the answer at the same time
    (a server may answer 413 and close before the body is all sent). Returns
    (status or None, json or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    got = []

    def reader():
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got.append(b)
                if _complete(b"".join(got)):
                    break
        except OSError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    try:
        s.sendall(head + body)
    except OSError:
        pass
    t.join(read_timeout)
    try:
        s.close()
    except OSError:
        pass
    data = b"".join(got)
    if not data.startswith(b"HTTP/1."):
        return None, None
    status = int(data.split(b" ", 2)[1])
    js = None
    if b"\r\n\r\n" in data:
        try:
            js = json.loads(data.split(b"\r\n\r\n", 1)[1])
        except ValueError:
            js = None
    return status, js


def _complete(data):
    if b"\r\n\r\n" not in data:
        return False
    headers, body = data.split(b"\r\n\r\n", 1)
    for line in headers.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


# ---------------------------------------------------------------- shared reads
# The small reads every suite needs; an answer other than 200 comes back as
# {"status": …, "body": …}, so a check that expected data shows what came instead.

def balance(srv, mid):
    st, b, _ = srv.call("GET", "/v1/members/%s/balance" % mid)
    return b if st == 200 else {"status": st, "body": b}


def member(srv, mid):
    st, m, _ = srv.call("GET", "/v1/members/%s" % mid)
    return m if st == 200 else {"status": st, "body": m}


def history(srv, mid):
    """Every history entry, newest first (pages of 1000)."""
    items, cursor = [], None
    for _ in range(1000):
        path = "/v1/members/%s/history?limit=1000" % mid
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor, safe="")
        st, h, _ = srv.call("GET", path)
        if st != 200:
            return {"status": st, "body": h}
        items += h["items"]
        cursor = h.get("next_cursor")
        if not cursor:
            break
    return items
