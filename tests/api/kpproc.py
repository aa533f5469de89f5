"""kpproc — a `kopilka serve` the failure tests start, kill and restart themselves.

kptest.Server owns a fresh database and stops with SIGTERM. The failure suites
(test_crash, test_overload, test_diskfull, test_backup) need more: a database
they chose (kept across restarts, or on a small file system), extra options
(--queue N), SIGKILL, and the server's memory. A Proc gives that, and works
with kptest.Client and kptest's checks. Python 3 standard library only.
"""

import http.client
import json
import os
import secrets
import signal
import subprocess
import time

import kptest
from kptest import check, check_true


class Proc:
    """One `kopilka serve` process on `db`; start() again after kill() restarts it."""

    def __init__(self, db, program_path, name="server", args=(), admin_key=None, log_dir=None):
        self.db = db
        self.program_path = program_path
        self.name = name
        self.args = list(args)
        self.admin_key = admin_key or secrets.token_hex(16)
        self.log_dir = log_dir or os.path.dirname(os.path.abspath(db))
        self.proc = None
        self.port = None
        self.client = None
        self.answers = 0
        self.errors_5xx = []
        self.starts = 0

    # kptest.Client calls this for every answer.
    def note(self, method, path, status, raw):
        self.answers += 1

    def start(self, timeout=60):
        self.port = kptest.free_port()
        self.starts += 1
        self.stderr_path = os.path.join(self.log_dir, "%s.stderr.log" % self.name)
        err = open(self.stderr_path, "ab")
        argv = [kptest.BIN, "serve", "--db", self.db, "--program", self.program_path,
                "--listen", "127.0.0.1:%d" % self.port, "--admin-key", self.admin_key,
                "--jobs-every", "0"] + self.args
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.client = kptest.Client(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s before it was ready:\n%s"
                                   % (self.name, self.proc.returncode, self.stderr_tail()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/v1/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s not healthy within %d s:\n%s" % (self.name, timeout, self.stderr_tail()))

    def call(self, method, path, body=None, key=kptest.DEFAULT, headers=None):
        return self.client.call(method, path, body, key, headers)

    def new_client(self):
        return kptest.Client(self)

    def kill(self):
        """SIGKILL: no cleanup at all, as a power cut of the process."""
        if self.client:
            self.client.close()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, what="the end"):
        """SIGTERM; must exit 0 within 10 s with no sanitizer report."""
        if self.client:
            self.client.close()
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        check("%s: exit status after SIGTERM at %s" % (self.name, what), rc, 0)
        self.check_stderr(what)

    def check_stderr(self, what):
        err = self.stderr_tail(1 << 20)
        bad = [w for w in ("runtime error", "AddressSanitizer", "LeakSanitizer") if w in err]
        check_true("%s: no sanitizer report on stderr (%s)" % (self.name, what), not bad,
                   "stderr has %s:\n%s" % (bad, err[-4000:]))

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace")
        except OSError:
            return ""

    def rss_kib(self):
        """The server's resident memory (VmRSS of /proc/PID/status), or None."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def verify(self, db=None):
        p = subprocess.run([kptest.BIN, "verify", "--db", db or self.db], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def check_verify(self, what, db=None):
        """verify may see a member's row and lots at different moments while the
        server writes (docs): one failure is run again before it counts."""
        rc, out = self.verify(db)
        if rc != 0:
            time.sleep(0.2)
            rc, out = self.verify(db)
        return check_true("%s: verify green after %s" % (self.name, what),
                          rc == 0 and out.startswith("ok"), "exit %d: %s" % (rc, out[:500]))


def write_program(path, program):
    with open(path, "w") as f:
        json.dump(program, f)


def history_sum(call, mid):
    """Σ points of a member's whole history, and the items (every page)."""
    total, items, cursor = 0, [], None
    for _ in range(10000):
        path = "/v1/members/%s/history?limit=1000" % mid
        if cursor:
            path += "&cursor=%s" % cursor
        st, h, _ = call("GET", path)
        if st != 200:
            raise RuntimeError("history of %s: %s %s" % (mid, st, h))
        items += h["items"]
        total += sum(i["points"] for i in h["items"])
        cursor = h.get("next_cursor")
        if not cursor:
            break
    return total, items
