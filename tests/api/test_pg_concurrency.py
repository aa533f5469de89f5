#!/usr/bin/env python3
"""Two `kopilka serve` processes on one PostgreSQL database, under load.

Scenario "races": 16 client threads, half on each server, buy at once as
the same member, redeeming points, with the same single-use coupon, the same
gift certificate and a campaign with a small budget. In the middle of the
load server B is killed with SIGKILL; its clients carry on against server A,
retrying their unanswered receipt with the same body (the receipt is the
idempotency key). At the end:
  - every acknowledged purchase (201, or 200 for a replay) is stored exactly
    once and its stored answer is the one the client got;
  - nothing is overspent: the coupon used at most once, the certificate's
    balance = amount − what purchases paid (≥ 0), the campaign's points within
    its budget and equal to what the stored purchases say, the member's
    balance ≥ 0;
  - `kopilka verify` passes (the sum of all balances is zero).

Scenario "program put": a PUT /v1/program on one server is current on the
other within seconds.

Scenario "outage": the cluster stops; the server keeps running and answers
503 with Retry-After; the cluster starts again and the server recovers by
itself.

Runs on PostgreSQL only (KOPILKA_TEST_DB=postgres is set if missing; a
throw-away cluster is started unless KOPILKA_PG_URI names one).
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

os.environ.setdefault("KOPILKA_TEST_DB", "postgres")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import check, check_true  # noqa: E402

BUDGET = 600
PROGRAM = {"name": "Concurrency", "currency": "RUB", "point_value": 100, "rounding": "floor",
           "earn": {"percent": 5}, "burn": {"max_percent": 50},
           "campaigns": [{"id": "boost", "kind": "bonus_points", "points": 10,
                          "budget_points": BUDGET}]}
THREADS = 16
PER_THREAD = 60
GC_AMOUNT = 300000  # 3,000.00 ₽ on the certificate; each purchase asks it for up to 50.00 ₽


def post(port, key, path, body):
    """One POST on a fresh connection: (status, json), or (None, None) without an answer
    (the server was killed): the caller retries, which is the point."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", path, body=json.dumps(body),
                  headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, json.loads(raw) if raw else None
    except (OSError, http.client.HTTPException, ValueError):
        return None, None


def purchase_body(receipt, member, coupon, cert):
    body = {"receipt_id": receipt, "member": member, "redeem_points": 20,
            "lines": [{"sku": "tea", "qty": 1, "price": 20000}]}
    if coupon:
        body["coupons"] = ["ONCE"]
    if cert:
        body["gift_certificates"] = [cert]
    return body


def races():
    A = kptest.Server(PROGRAM, test_clock=False, name="A")
    B = kptest.Server(PROGRAM, test_clock=False, name="B", db=A.db)
    st, m, _ = A.call("POST", "/v1/members", {"phone": "+79110000001",
                                               "consents": {"personal_data": True}})
    check("setup: member", st, 201)
    mid = m["id"]
    # Points to spend: 4 purchases of 10,000.00 ₽ earn 500 + 10 each.
    for i in range(4):
        st, _, _ = A.call("POST", "/v1/purchases", {"receipt_id": "seed-%d" % i, "member": mid,
                                                     "lines": [{"sku": "tv", "qty": 1, "price": 1000000}]})
        check("setup: seed purchase %d" % i, st, 201)
    st, c, _ = A.call("POST", "/v1/coupons", {"code": "ONCE", "kind": "amount", "value": 100,
                                               "max_uses": 1})
    check("setup: single-use coupon", st, 201)
    st, g, _ = A.call("POST", "/v1/gift-certificates", {"amount": GC_AMOUNT})
    check("setup: gift certificate", st, 201)
    cert = g["code"]

    acked = {}      # receipt → answer the client got (201 or 200)
    refused = {}    # receipt → (status, code) for 4xx answers
    lock = threading.Lock()
    kill_at = threading.Event()
    done = [0]

    def worker(t):
        server = A if t % 2 == 0 else B
        for i in range(PER_THREAD):
            receipt = "r-%02d-%03d" % (t, i)
            body = purchase_body(receipt, mid, coupon=(i == 0), cert=cert if i % 3 == 0 else None)
            for attempt in range(40):
                st, js = post(server.port, server.admin_key, "/v1/purchases", body)
                if st in (200, 201):
                    with lock:
                        acked[receipt] = js
                    break
                if st is not None and 400 <= st < 500:
                    with lock:
                        refused[receipt] = (st, (js or {}).get("error", {}).get("code"))
                    break
                # no answer (B killed) or 503: the same receipt and body again, on A
                if server is B and B.proc.poll() is not None:
                    server = A
                time.sleep(0.05 * (attempt + 1))
            with lock:
                done[0] += 1
                if done[0] == THREADS * PER_THREAD * 2 // 5:
                    kill_at.set()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    t0 = time.time()
    for t in threads:
        t.start()
    kill_at.wait(120)
    B.proc.send_signal(signal.SIGKILL)
    B.proc.wait()
    kptest._servers.discard(B)
    for t in threads:
        t.join(300)
    took = time.time() - t0
    total = THREADS * PER_THREAD
    print("# races: %d purchases, %d acknowledged, %d refused, in %.1f s"
          % (total, len(acked), len(refused), took), flush=True)
    check("races: every purchase answered (acknowledged or refused)", len(acked) + len(refused), total)
    check("races: refusals are only the used-up coupon or certificate",
          sorted({v for v in refused.values()} - {(422, "coupon_invalid"),
                                                   (422, "certificate_invalid")}), [])
    check_true("races: A kept serving after B was killed", any(r for r in acked), acked.keys())

    rows = kptest.db_query(A.db, "SELECT receipt_id, count(*) FROM purchases GROUP BY receipt_id")
    stored = {r[0]: int(r[1]) for r in rows}
    check("races: every acknowledged purchase is stored", sorted(set(acked) - set(stored)), [])
    check("races: every purchase is stored once", sorted(k for k, n in stored.items() if n != 1), [])
    answers = {r[0]: r[1] for r in kptest.db_query(A.db, "SELECT receipt_id, answer FROM purchases")}
    differ = [r for r, js in acked.items() if json.loads(answers.get(r, "null")) != js]
    check("races: each acknowledged answer is the stored one", differ, [])

    # The coupon: one use at most, and as many as the acknowledged purchases that carry it.
    uses = int(kptest.db_query(A.db, "SELECT uses FROM coupons WHERE code = 'ONCE'")[0][0])
    with_coupon = [r for r, js in acked.items() if js.get("coupons")]
    check("races: the single-use coupon is used once", (uses, len(with_coupon)), (1, 1))
    # The certificate: balance = amount − Σ paid, never below 0.
    bal = int(kptest.db_query(A.db, "SELECT balance FROM gift_certificates WHERE code = '%s'" % cert)[0][0])
    paid = sum(p["amount"] for js in acked.values() for p in js.get("certificates_paid", []))
    paid_stored = sum(json.loads(a).get("certificates", 0) for a in answers.values())
    check("races: the certificate is not overspent", (bal >= 0, bal, paid <= GC_AMOUNT),
          (True, GC_AMOUNT - paid_stored, True))
    # The campaign budget: within it, and what the stored purchases added.
    spent = int(kptest.db_query(A.db, "SELECT spent FROM campaign_budgets WHERE campaign = 'boost'")[0][0])
    added = sum(json.loads(a).get("campaign_points", {}).get("boost", 0) for a in answers.values())
    check("races: the campaign budget is not overspent", (spent <= BUDGET, spent), (True, added))
    # The member: never below zero; the ledger says the rest.
    avail = int(kptest.db_query(A.db, "SELECT available FROM members WHERE id = %s" % int(mid))[0][0])
    check_true("races: the member's balance is not negative", avail >= 0, avail)
    A.check_verify("the races (sum of balances zero, every invariant)")
    st, js, _ = A.call("GET", "/metrics")
    A.stop()


def outage():
    A = kptest.Server(PROGRAM, test_clock=False, name="outage")
    st, m, _ = A.call("POST", "/v1/members", {"phone": "+79110000002",
                                               "consents": {"personal_data": True}})
    check("outage: member before", st, 201)
    admin = kptest.pg_admin_uri()
    stop = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg", "stop.sh")
    subprocess.run([stop, "halt", admin], check=True)
    try:
        st, js, hdrs = A.call("POST", "/v1/purchases", {"receipt_id": "o-1", "member": m["id"],
                                                         "lines": [{"sku": "x", "qty": 1, "price": 10000}]})
        check("outage: a purchase while the database is down → 503", st, 503)
        check_true("outage: with Retry-After", "retry-after" in (hdrs or {}),
                   hdrs)
        st, js, _ = A.call("GET", "/v1/members/%s/balance" % m["id"])
        check("outage: a read while the database is down → 503", st, 503)
        check("outage: the server keeps running", A.proc.poll(), None)
    finally:
        subprocess.run([stop, "resume", admin], check=True)
    got = None
    for _ in range(100):
        st, js, _ = A.call("POST", "/v1/purchases", {"receipt_id": "o-1", "member": m["id"],
                                                     "lines": [{"sku": "x", "qty": 1, "price": 10000}]})
        got = st
        if st in (200, 201):
            break
        time.sleep(0.2)
    check("outage: recovers by itself when the database is back", got in (200, 201), True)
    st, js, _ = A.call("GET", "/v1/members/%s/balance" % m["id"])
    check("outage: reads recover too", st, 200)
    A.errors_5xx = []  # the 503s above were the point
    A.stop()


def program_put():
    """PUT /v1/program on one server: the other server on the same database takes the
    new version up within seconds, and computes with it."""
    A = kptest.Server(PROGRAM, test_clock=False, name="put-A")
    B = kptest.Server(PROGRAM, test_clock=False, name="put-B", db=A.db)
    st, m, _ = B.call("POST", "/v1/members", {"phone": "+79110000003",
                                               "consents": {"personal_data": True}})
    quote = {"member": m["id"], "lines": [{"sku": "tv", "qty": 1, "price": 100000}]}
    check("program put: B earns 5% + 10 before", B.call("POST", "/v1/purchases/quote", quote)[1]
          .get("points_earned"), 60)
    st, v, _ = A.call("PUT", "/v1/program", dict(PROGRAM, earn={"percent": 10}))
    check("program put: A stores version 2", (st, v.get("version")), (200, 2))
    version = kptest.eventually(lambda: B.call("GET", "/v1/program")[1].get("version"), 2)
    check("program put: B's current version within seconds", version, 2)
    check("program put: B earns 10% + 10 now", B.call("POST", "/v1/purchases/quote", quote)[1]
          .get("points_earned"), 110)
    B.stop()
    A.stop()


if __name__ == "__main__":
    kptest.scenario(races, "races: two servers, 16 clients, one killed")
    kptest.scenario(program_put, "a program put on one server reaches the other")
    kptest.scenario(outage, "outage: 503 while PostgreSQL is down, recovery after")
    kptest.summary()
