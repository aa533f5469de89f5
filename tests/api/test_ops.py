"""Operations: structured logs with request ids, GET /metrics, graceful
shutdown on SIGTERM, HTTPS with --tls-cert/--tls-key, purchases that
wait for the writer without holding a server thread (--threads 1), the job
scheduler (--jobs-every), and a program stored by another process.

Run: KOPILKA_BIN=./kopilka python3 tests/api/test_ops.py
"""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import check, check_true  # noqa: E402

PROGRAM = {"name": "Ops", "earn": {"percent": 5}, "burn": {"max_percent": 50}}
CONSENTS = {"personal_data": True, "email": False, "sms": False, "push": False}


def basket(receipt, member, price=200000, redeem=0):
    return {"receipt_id": receipt, "member": member, "redeem_points": redeem,
            "lines": [{"sku": "toy", "qty": 1, "price": price}]}


def log_lines(S):
    lines = []
    for raw in S.stderr_text().splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"unparsed": raw})
    return lines


def logs_scenario(S):
    st, m, headers = S.call("POST", "/v1/members", {"phone": "+79005550101", "consents": CONSENTS})
    check("logs: member registered", st, 201)
    request_id = headers.get("X-Request-Id") or headers.get("x-request-id")
    check_true("logs: every answer carries X-Request-Id", bool(request_id), repr(headers))
    S.call("GET", "/v1/members?phone=%2B79005550101")
    S.call("POST", "/v1/purchases", basket("OPS-1", m["id"]))
    S.call("GET", "/v1/members/1", key="kp_" + "0" * 32)  # a wrong key: 401
    time.sleep(0.2)
    lines = log_lines(S)
    check_true("logs: every stderr line is a JSON object",
               lines and all("unparsed" not in l for l in lines), repr(lines[-3:]))
    requests = [l for l in lines if l.get("msg") == "request"]
    mine = [l for l in requests if l.get("request_id") == request_id]
    check("logs: the request id in the header is in the log line of that request",
          [(l.get("route"), l.get("status")) for l in mine], [("POST /v1/members", 201)])
    check_true("logs: each request line has ts, level, method, route, status, ms",
               requests and all(all(k in l for k in ("ts", "level", "method", "route", "status",
                                                     "ms")) for l in requests), repr(requests[:2]))
    text = S.stderr_text()
    check_true("logs: no API key secret in the log", S.admin_key not in text and "kp_000" not in text,
               "a secret was logged")
    check_true("logs: no phone number in the log", "9005550101" not in text, "a phone was logged")


def metrics_scenario(S):
    st, _, _ = S.call("GET", "/metrics", key=None)
    check("metrics: no key → 401", st, 401)
    conn = http.client.HTTPConnection("127.0.0.1", S.port, timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + S.admin_key})
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    check("metrics: 200 in the Prometheus text format",
          (r.status, r.getheader("Content-Type", "").startswith("text/plain")), (200, True))
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    check("metrics: purchases counted by route and status",
          values.get('kopilka_requests_total{route="POST /v1/purchases",status="201"}'), 1.0)
    check("metrics: the 401 counted as unauthorised",
          values.get('kopilka_requests_total{route="GET /v1/members/{}",status="401"}'), 1.0)
    check("metrics: latency histogram has a +Inf bucket equal to the count",
          values.get('kopilka_request_duration_seconds_bucket{route="POST /v1/purchases",le="+Inf"}'),
          values.get('kopilka_request_duration_seconds_count{route="POST /v1/purchases"}'))
    check("metrics: points issued by the one purchase", values.get("kopilka_points_issued_total"), 100.0)
    check_true("metrics: commits and batch sizes are exported",
               values.get("kopilka_commits_total", 0) >= 1 and "kopilka_batch_size_max" in values
               and "kopilka_queue_depth" in values, repr(sorted(values)[:10]))
    # SQLite's writer commits without syncing and answers after its sync thread's
    # fdatasync; PostgreSQL's commit is durable by itself.
    check_true("metrics: the log was synced before the purchase was answered",
               values.get("kopilka_log_syncs_total", -1) == 0 if kptest.PG
               else values.get("kopilka_log_syncs_total", 0) >= 1, repr(values.get("kopilka_log_syncs_total")))
    check("metrics: no sync failed", values.get("kopilka_log_sync_failures_total"), 0.0)


def shutdown_scenario():
    """SIGTERM while purchases are in flight: every answered one is stored, and exit is clean."""
    S = kptest.Server(PROGRAM, name="shutdown")
    st, m, _ = S.call("POST", "/v1/members", {"phone": "+79005550202", "consents": CONSENTS})
    answered, stop = [], threading.Event()

    def client(n):
        c = S.new_client()
        i = 0
        while not stop.is_set() and i < 400:
            try:
                st, a, _ = c.call("POST", "/v1/purchases", basket("SD-%d-%d" % (n, i), m["id"], 10000))
            except Exception:
                break
            if st == 201:
                answered.append("SD-%d-%d" % (n, i))
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    S.proc.send_signal(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    rc = S.proc.wait(timeout=15)
    check("shutdown: SIGTERM with requests in flight exits 0", rc, 0)
    check_true("shutdown: some purchases were answered before the signal", len(answered) > 0,
               "none answered")
    stored = {r[0] for r in kptest.db_query(S.db, "SELECT receipt_id FROM purchases")}
    check("shutdown: every answered purchase is stored", sorted(set(answered) - stored), [])
    rc, out = S.verify()
    check_true("shutdown: verify after the stop", rc == 0 and out.startswith("ok"), out[:200])
    kptest._servers.discard(S)


def one_thread_scenario():
    """With one server thread, many tills' purchases still share group commits:
    a purchase waits for the writer suspended, and the thread serves the others."""
    S = kptest.Server(PROGRAM, name="one thread", extra_args=("--threads", "1"))
    st, m, _ = S.call("POST", "/v1/members", {"phone": "+79005550303", "consents": CONSENTS})
    results, lock = [], threading.Lock()

    def till(n):
        c = S.new_client()
        for i in range(20):
            st, a, _ = c.call("POST", "/v1/purchases", basket("OT-%d-%d" % (n, i), m["id"], 10000))
            with lock:
                results.append(st)

    tills = [threading.Thread(target=till, args=(n,)) for n in range(24)]
    for t in tills:
        t.start()
    t0 = time.time()
    st, b, _ = S.new_client().call("GET", "/v1/members/%s/balance" % m["id"])
    read_s = time.time() - t0
    for t in tills:
        t.join(timeout=60)
    check("one thread: a balance read among the purchases", st, 200)
    check_true("one thread: it did not wait for all of them", read_s < 5, "%.1f s" % read_s)
    check("one thread: 480 purchases, all 201", (len(results), set(results)), (480, {201}))
    batch = kptest.metric(S, "kopilka_batch_size_max")
    check_true("one thread: purchases shared a commit (not one at a time)",
               batch is not None and batch >= 2, repr(batch))
    st, bal, _ = S.call("GET", "/v1/members/%s/balance" % m["id"])
    check("one thread: 480 × 5%% of 100.00", bal.get("available"), 480 * 500 // 100)
    S.check_verify("one thread")
    S.stop()


def consistent_reads_scenario():
    """Reads made of several queries see one commit: while tills commit earning
    purchases for a member, every balance says spendable = available: the
    member's row and the lots behind spendable are read in one snapshot (read
    apart, a commit in between made spendable run ahead of available); and
    every export's history adds up to its balance."""
    S = kptest.Server(PROGRAM, name="consistent reads")
    st, m, _ = S.call("POST", "/v1/members", {"phone": "+79005550404", "consents": CONSENTS})
    stop = threading.Event()

    def till(n):
        c = S.new_client()
        i = 0
        while not stop.is_set() and i < 300:
            c.call("POST", "/v1/purchases", basket("CR-%d-%d" % (n, i), m["id"], 10000))
            i += 1

    tills = [threading.Thread(target=till, args=(n,)) for n in range(8)]
    for t in tills:
        t.start()
    reader = S.new_client()
    torn, reads, torn_exports, exports = [], 0, [], 0
    deadline = time.time() + 3
    while time.time() < deadline:
        st, b, _ = reader.call("GET", "/v1/members/%s/balance" % m["id"])
        reads += 1
        if st != 200 or b.get("spendable") != b.get("available"):
            torn.append((st, b.get("available"), b.get("spendable")))
        st, ex, _ = reader.call("GET", "/v1/members/%s/export" % m["id"])
        history = ex.get("history", {}) if st == 200 else {}
        if st != 200 or history.get("next_cursor"):
            continue  # a history longer than one page does not add up to the balance
        exports += 1
        earned = sum(r["points"] for r in history["items"] if r["account"] == "available")
        if earned != ex["balance"]["available"]:
            torn_exports.append((ex["balance"]["available"], earned))
    stop.set()
    for t in tills:
        t.join(timeout=60)
    check_true("consistent reads: balances and exports read while purchases commit",
               reads >= 20 and exports >= 10, "%d balances, %d exports" % (reads, exports))
    check("consistent reads: every balance from one commit (spendable = available)", torn[:3], [])
    check("consistent reads: every export from one commit (history adds up to the balance)",
          torn_exports[:3], [])
    S.stop()


def tls_scenario():
    if not shutil.which("openssl"):
        check_true("tls: openssl is installed (scripts/deps.sh test)", False, "no openssl")
        return
    d = tempfile.mkdtemp(prefix="kptls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = kptest.free_port()
    admin = "tls-admin-key-0123456789"
    proc = subprocess.Popen([kptest.BIN, "serve", "--db", os.path.join(d, "k.db"), "--listen",
                             "127.0.0.1:%d" % port, "--admin-key", admin, "--tls-cert", cert,
                             "--tls-key", key, "--quiet"], stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=cert)
    body = None
    for _ in range(200):
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            c.request("GET", "/v1/health")
            r = c.getresponse()
            body = (r.status, json.loads(r.read()))
            c.close()
            break
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    check("tls: GET /v1/health over HTTPS", body, (200, {"status": "ok"}))
    plain = None
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        c.request("GET", "/v1/health")
        plain = c.getresponse().status
    except (OSError, http.client.HTTPException):
        plain = "refused"
    check_true("tls: plain HTTP is not served on the TLS port", plain != 200, repr(plain))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    check("tls: clean exit", proc.returncode, 0)
    check_true("tls: no sanitizer report", b"runtime error" not in err and b"Sanitizer" not in err,
               err[-300:].decode(errors="replace"))
    shutil.rmtree(d, ignore_errors=True)


def summary_scenario():
    """GET /v1/reports/summary with figures worked out by hand."""
    S = kptest.Server({"earn": {"percent": 5}, "burn": {"max_percent": 50},
                       "expiry": {"days": 30}}, name="summary")
    S.set_clock("2027-01-10T10:00:00Z")
    a = S.call("POST", "/v1/members", {"phone": "+79005550301", "consents": CONSENTS})[1]["id"]
    b = S.call("POST", "/v1/members", {"phone": "+79005550302", "consents": CONSENTS})[1]["id"]
    S.call("POST", "/v1/purchases", basket("SU-1", a, 200000))            # earns 100
    S.call("POST", "/v1/purchases", basket("SU-2", a, 100000, redeem=50))  # pays 95000, earns 47
    S.call("POST", "/v1/purchases", basket("SU-3", b, 100000))            # earns 50
    st, f, _ = S.call("POST", "/v1/purchases/SU-3/refunds", {"refund_id": "SU-3F"})
    check("summary: B's purchase refunded", (st, f.get("money_refund"), f.get("points_reversed")),
          (201, 100000, 50))
    st, r, _ = S.call("GET", "/v1/reports/summary?from=2027-01-01&to=2027-01-31")
    check("summary: January", (st, r), (200, {
        "from": "2027-01-01", "to": "2027-01-31", "members": 2, "active_members": 2,
        "purchases": 3, "revenue": 295000, "average_check": 98333,
        "repeat_purchase_rate": 0.5, "engagement_rate": 0.5, "points_issued": 197,
        "points_taken_back": 50, "points_redeemed": 50, "points_expired": 0,
        "points_outstanding": 97, "liability": 9700, "breakage_rate": 0.0, "churn_rate": 0.0}))
    S.set_clock("2027-02-15T10:00:00Z")
    st, j, _ = S.call("POST", "/v1/admin/jobs/run")
    check("summary: A's 97 points expire", (st, j.get("expired_points")), (200, 97))
    st, r, _ = S.call("GET", "/v1/reports/summary?from=2027-02-01&to=2027-02-28")
    check("summary: February: no purchases, both January buyers churned, the rest expired",
          (st, {k: r.get(k) for k in ("purchases", "revenue", "average_check", "points_issued",
                                       "points_expired", "points_outstanding", "liability",
                                       "breakage_rate", "churn_rate", "active_members")}),
          (200, {"purchases": 0, "revenue": 0, "average_check": 0, "points_issued": 0,
                 "points_expired": 97, "points_outstanding": 0, "liability": 0,
                 "breakage_rate": 0.0, "churn_rate": 1.0, "active_members": 0}))
    check("summary: the whole year's breakage is 97 of 197",
          S.call("GET", "/v1/reports/summary?from=2027-01-01&to=2027-12-31")[1].get("breakage_rate"),
          round(97 / 197, 4))
    kptest.check_error("summary: a bad period → 400",
                       S.call("GET", "/v1/reports/summary?from=2027-02-01&to=2027-01-01"), 400,
                       "invalid_request")
    rc, out = S.verify()
    check_true("summary: verify", rc == 0 and out.startswith("ok"), out[:200])
    S.stop()


def scheduler_scenario():
    """serve --jobs-every 1 runs the due jobs by itself: points past their expiry are
    burnt within seconds (the ledger's expiry entries, in the summary report), with
    no call to /v1/admin/jobs/run."""
    S = kptest.Server({"earn": {"percent": 5}, "burn": {"max_percent": 50},
                       "expiry": {"days": 30}}, name="scheduler",
                      extra_args=("--jobs-every", "1"))
    S.set_clock("2027-01-10T10:00:00Z")
    m = S.call("POST", "/v1/members", {"phone": "+79005550501", "consents": CONSENTS})[1]["id"]
    st, c, _ = S.call("POST", "/v1/purchases", basket("SC-1", m, 200000))
    check("scheduler: the purchase earns 100", (st, c.get("points_earned")), (201, 100))
    S.set_clock("2027-02-15T10:00:00Z")
    path = "/v1/reports/summary?from=2027-02-01&to=2027-02-28"
    expired = kptest.eventually(lambda: S.call("GET", path)[1].get("points_expired"), 100)
    check("scheduler: the 100 points expire by themselves within seconds", expired, 100)
    S.stop()


def program_watch_scenario():
    """A program version that another process stores becomes current here within
    seconds: `kopilka init --program` beside the running server, which is also
    what a second server's PUT /v1/program is on a shared PostgreSQL database."""
    S = kptest.Server(PROGRAM, name="watch")
    m = S.call("POST", "/v1/members", {"phone": "+79005550401", "consents": CONSENTS})[1]["id"]
    quote = {"member": m, "lines": [{"sku": "toy", "qty": 1, "price": 200000}]}
    st, q, _ = S.call("POST", "/v1/purchases/quote", quote)
    check("watch: 5% before", (st, q.get("points_earned")), (200, 100))
    newer = dict(PROGRAM, name="Ops, richer", earn={"percent": 10})
    path = os.path.join(S.dir, "newer.json")
    with open(path, "w") as f:
        json.dump(newer, f)
    p = subprocess.run([kptest.BIN, "init", "--db", kptest.db_uri(S.db), "--program", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    check("watch: another process stores version 2", p.returncode, 0)
    version = kptest.eventually(lambda: S.call("GET", "/v1/program")[1].get("version"), 2)
    check("watch: current here within seconds", version, 2)
    st, q, _ = S.call("POST", "/v1/purchases/quote", quote)
    check("watch: its rules apply", (st, q.get("points_earned")), (200, 200))
    st, c, _ = S.call("POST", "/v1/purchases", dict(quote, receipt_id="W-1"))
    check("watch: a purchase records the version it was computed with",
          (st, c.get("points_earned"), c.get("program_version")), (201, 200, 2))
    # A newest version that does not compile (written past every check, as a
    # newer build's program might be): the server stays on version 2 and says
    # why once, not at every look.
    kptest.db_exec(S.db, "INSERT INTO programs (version, document, created_at) "
                         "VALUES (3, '{\"earn\": {\"percent\": 500}}', 0)")
    time.sleep(5)  # two looks of the watcher, at least
    check("watch: a version that does not compile is not made current",
          S.call("GET", "/v1/program")[1].get("version"), 2)
    said = [l for l in S.stderr_text().splitlines() if "stored program version 3" in l]
    check("watch: and the server says why, once", len(said), 1)
    S.stop()


def main():
    S = kptest.Server(PROGRAM, name="ops")
    kptest.scenario(lambda: logs_scenario(S), "logs")
    kptest.scenario(lambda: metrics_scenario(S), "metrics")
    S.stop()
    kptest.scenario(shutdown_scenario, "shutdown")
    kptest.scenario(one_thread_scenario, "one server thread")
    kptest.scenario(consistent_reads_scenario, "consistent reads")
    kptest.scenario(tls_scenario, "tls")
    kptest.scenario(summary_scenario, "summary report")
    kptest.scenario(program_watch_scenario, "a program stored by another process")
    kptest.scenario(scheduler_scenario, "the job scheduler")
    kptest.summary()


if __name__ == "__main__":
    main()
