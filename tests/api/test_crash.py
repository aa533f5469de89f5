#!/usr/bin/env python3
"""Crash safety: SIGKILL at random moments while purchases, refunds and events flow.

Each cycle starts `kopilka serve` on the same database, lets several client
threads send purchases (some redeeming points), refunds and reported events,
records every 2xx answer, and kills the server with SIGKILL at a random moment
50-300 ms into the load. Then it restarts the server and checks over HTTP:

- every acknowledged purchase, refund and event is there exactly once: a
  repeat of the request answers 200 with the answer acknowledged, and
  GET /v1/purchases/{receipt} finds an acknowledged purchase;
- every request that got no answer is either there completely (its repeat
  answers 200 with a stored answer) or not at all (its repeat commits it now,
  201; a repeated event answers 201 either way); nothing is half there;
- each member's balance is the sum of their history, and every acknowledged
  purchase's earn and redeem appear in the history once (not twice);
- `kopilka verify` is green.

KP_CRASH_CYCLES sets the number of cycles (default 50; `make soak` runs 1000).
KP_CRASH_SEED replays a run (the seed is printed first).
"""

import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
import kpproc  # noqa: E402
from kptest import check, check_true  # noqa: E402

CYCLES = int(os.environ.get("KP_CRASH_CYCLES", "50"))
SEED = int(os.environ.get("KP_CRASH_SEED", str(random.randrange(1 << 30))))
THREADS = 4
MEMBERS = 4
PROGRAM = {"name": "Crash", "currency": "RUB", "point_value": 100, "rounding": "floor",
           "earn": {"percent": 5}, "burn": {"max_percent": 50},
           "events": {"review": {"points": 10}}}

rng = random.Random(SEED)
lock = threading.Lock()
acked = {}      # key → (method, path, body, status, answer): 2xx answers
unknown = {}    # key → (method, path, body): sent, no answer (the server died)
purchases = []  # acknowledged receipts with their lines, for refunds
counter = [0]
resolved = {"present": 0, "absent": 0, "refused": 0}  # unanswered requests, after restart


def next_id(prefix):
    with lock:
        counter[0] += 1
        return "%s-%d" % (prefix, counter[0])


def make_op(r, members):
    """One request: (key, method, path, body)."""
    kind = r.random()
    with lock:
        can_refund = bool(purchases)
        target = r.choice(purchases) if can_refund else None
    if kind < 0.2 and can_refund:
        rid, lines = target
        body = {"refund_id": next_id("F")}
        if r.random() < 0.5:
            line = r.choice(lines)
            body["lines"] = [{"sku": line["sku"], "qty": 1}]
        return ("refund", body["refund_id"]), "POST", "/v1/purchases/%s/refunds" % rid, body
    if kind < 0.35:
        mid = r.choice(members)
        body = {"event_id": next_id("E"), "type": "review"}
        return ("event", mid, body["event_id"]), "POST", "/v1/members/%s/events" % mid, body
    rid = next_id("R")
    lines = [{"sku": "sku-%d" % r.randrange(20), "qty": r.randint(1, 3),
              "price": r.randrange(1000, 300000)} for _ in range(r.randint(1, 3))]
    body = {"receipt_id": rid, "member": r.choice(members), "lines": lines}
    if r.random() < 0.4:
        body["redeem_points"] = r.randint(1, 200)
    return ("purchase", rid), "POST", "/v1/purchases", body


def load(proc, members, seed, stop):
    """Send requests until the server dies; record what was answered."""
    r = random.Random(seed)
    conn = None
    hdr = {"Authorization": "Bearer " + proc.admin_key, "Content-Type": "application/json"}
    while not stop.is_set():
        key, method, path, body = make_op(r, members)
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=10)
            conn.request(method, path, body=json.dumps(body), headers=hdr)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            with lock:
                unknown[key] = (method, path, body)
            if conn is not None:
                conn.close()
            conn = None
            if proc.proc.poll() is not None:
                return
            time.sleep(0.005)
            continue
        if 200 <= status < 300:
            answer = json.loads(raw)
            with lock:
                acked[key] = (method, path, body, status, answer)
                if key[0] == "purchase":
                    purchases.append((key[1], body["lines"]))
        elif status >= 500:
            with lock:
                unknown[key] = (method, path, body)  # 503: not stored, nothing to check
    if conn is not None:
        conn.close()


def recheck(proc, keys, cycle):
    """After the restart: every acknowledged op answers the same; every unknown one
    is either complete (200, stored) or absent (201, committed now). One check per
    kind of finding and cycle, listing every key that broke it."""
    wrong_status, wrong_answer, not_found, half = [], [], [], []
    for key in keys:
        with lock:
            a = acked.get(key)
            u = unknown.get(key)
        if a:
            method, path, body, status, answer = a
            st, js, _ = proc.call(method, path, body)
            # a repeated event answers its first status, 201 (docs/api.md, Idempotency)
            want = 201 if key[0] == "event" else 200
            if st != want:
                wrong_status.append((key, st))
            elif js != answer:
                wrong_answer.append((key, js, answer))
            if key[0] == "purchase":
                st, got, _ = proc.call("GET", "/v1/purchases/%s" % key[1])
                if st != 200 or not isinstance(got, dict) or got.get("receipt_id") != key[1]:
                    not_found.append((key, st))
        elif u:
            method, path, body = u
            st, js, _ = proc.call(method, path, body)
            if not (st in (200, 201) or (key[0] == "refund" and st == 422)):
                half.append((key, st, js))
            with lock:
                resolved["present" if st == 200 else "absent" if st == 201 else "refused"] += 1
                del unknown[key]
                if st in (200, 201):
                    acked[key] = (method, path, body, 201, js)
                    if key[0] == "purchase" and st == 201:
                        purchases.append((key[1], body["lines"]))
    check("cycle %d: acknowledged requests repeated answer 200 (events 201)" % cycle,
          wrong_status, [])
    check("cycle %d: acknowledged requests repeated answer the acknowledged answer" % cycle,
          wrong_answer, [])
    check("cycle %d: acknowledged purchases are found" % cycle, not_found, [])
    check("cycle %d: unanswered requests are whole or absent" % cycle, half, [])


def check_balances(proc, members, cycle):
    with lock:
        mine = [(k, a) for k, a in acked.items() if k[0] == "purchase"]
    earned, twice = {}, []
    for k, a in mine:
        earned[k[1]] = a[4]
    for mid in members:
        st, bal, _ = proc.call("GET", "/v1/members/%s/balance" % mid)
        total, items = kpproc.history_sum(proc.call, mid)
        check("cycle %d: member %s balance = Σ history" % (cycle, mid),
              (st, bal["available"] + bal["pending"] if isinstance(bal, dict) else None),
              (200, total))
        # exactly once: each receipt's earn and redeem entries add up to its answer
        by_ref = {}
        for it in items:
            if it["kind"] in ("earn", "redeem"):
                by_ref.setdefault((it["ref"], it["kind"]), 0)
                by_ref[(it["ref"], it["kind"])] += it["points"]
        for (ref, kind), pts in by_ref.items():
            ans = earned.get(ref)
            if ans is None or ans.get("member") != mid:
                continue
            want = ans["points_earned"] if kind == "earn" else -ans["points_redeemed"]
            if kind == "earn" and ans.get("points_pending"):
                continue
            if not (pts == want or (kind == "earn" and pts <= want)):
                twice.append((mid, ref, kind, pts, want))
    check("cycle %d: every receipt's earn and redeem are in the history once" % cycle, twice, [])


def cycle_once(proc, members, cycle):
    proc.start()
    # The previous cycle's victims, now that the server is back.
    with lock:
        keys = [k for k in unknown] + [k for k in acked if k[-1] in last_keys]
    recheck(proc, keys, cycle)
    before = set(acked) | set(unknown)
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(proc, members, rng.random(), stop))
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.05, 0.3))
    proc.kill()
    stop.set()
    for t in threads:
        t.join(30)
    with lock:
        new = (set(acked) | set(unknown)) - before
    last_keys.clear()
    last_keys.update(k[-1] for k in new)
    return len(new)


last_keys = set()


def main():
    print("# seed %d, %d cycles" % (SEED, CYCLES), flush=True)
    tmp = tempfile.mkdtemp(prefix="kpcrash-")
    prog = os.path.join(tmp, "program.json")
    kpproc.write_program(prog, PROGRAM)
    proc = kpproc.Proc(os.path.join(tmp, "k.db"), prog, name="crash")
    proc.start()
    members = []
    for i in range(MEMBERS):
        st, m, _ = proc.call("POST", "/v1/members", {
            "phone": "+7 900 000-00-%02d" % i, "name": "M%d" % i,
            "consents": {"personal_data": True}})
        check("register member %d" % i, st, 201)
        members.append(m["id"])
    proc.stop("setup")
    t0 = time.time()
    ops = 0
    for cycle in range(1, CYCLES + 1):
        ops += cycle_once(proc, members, cycle)
        if cycle % 10 == 0 or cycle == CYCLES:
            # the middle checks on the restarted server; the last one below
            proc.start()
            with lock:
                keys = list(unknown) + [k for k in acked if k[-1] in last_keys]
            recheck(proc, keys, cycle)
            last_keys.clear()
            check_balances(proc, members, cycle)
            check_true("cycle %d: verify green" % cycle, proc.check_verify("cycle %d" % cycle))
            if cycle < CYCLES:
                proc.kill()
    # The end: every operation ever acknowledged is still there, once.
    with lock:
        every = list(acked)
    recheck(proc, every, CYCLES)
    check_balances(proc, members, CYCLES)
    proc.stop("the end")
    proc.check_verify("the end")
    with lock:
        n_acked = len(acked)
    print("# %d cycles, %d requests sent, %d acknowledged; unanswered ones after the restart: "
          "%d there, %d not there (events: counted not there), %d refused; %.1f s" %
          (CYCLES, ops, n_acked, resolved["present"], resolved["absent"], resolved["refused"],
           time.time() - t0), flush=True)
    check_true("some requests were acknowledged", n_acked > CYCLES, "only %d" % n_acked)


if __name__ == "__main__":
    kptest.scenario(main, "crash")
    kptest.summary()
