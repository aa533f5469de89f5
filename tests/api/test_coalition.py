#!/usr/bin/env python3
"""Kopilka coalition suite (issue #5): partners, pos keys, settlement, charity, audit.

Run from the repo root: `python3 tests/api/test_coalition.py` (KOPILKA_BIN selects the
binary, default ./kopilka). Two servers:

  1. a coalition of three partners (shop-a with its own 10% earn rate and an accrual
     cost of 80 kopecks per point, shop-b and shop-c on the program's 5%), each with
     its own pos key: earn at A, spend at B, a charity campaign at C, a refund at A the
     next day; the settlement report checked to the kopeck for each day and for both,
     against sums taken straight from the transfers table and through
     `kopilka report settlement`; every cross-partner attempt is 403; keys listed
     without secrets; a revoked key is 401 at once; an inactive partner; donations
     and the charity report; the audit log; `kopilka verify` at the end.
  2. a server started with --auth-failures 5: a brute force of wrong keys is 429
     with Retry-After, and then even a correct key from the same address is refused.

Every number expected below is worked out in the comment next to it. Point value is
1 ₽ = 100 kopecks per point.
"""

import csv
import datetime
import io
import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import check, check_error, check_fields, check_true  # noqa: E402

DAY1, DAY2 = "2027-03-10", "2027-03-11"
PROGRAM = {"name": "Coalition", "currency": "RUB", "point_value": 100, "rounding": "floor",
           "earn": {"percent": 5}, "burn": {"max_percent": 50}}
# Version 2 (PUT by the test, so it is audited): a fund and 1% of shop-c's purchases to it.
PROGRAM_V2 = dict(PROGRAM, charity={"funds": [{"id": "kids", "name": "Children's hospital"}]},
                  campaigns=[{"id": "c-gives", "kind": "charity_percent", "percent": 1,
                              "fund": "kids", "partners": ["shop-c"]}])
ALL_CONSENTS = {"personal_data": True, "email": False, "sms": False, "push": False}


def line(sku, price, qty=1):
    return {"sku": sku, "qty": qty, "price": price}


def q(v):
    return urllib.parse.quote(v, safe="")


def day_range(d1, d2):
    return "from=%s&to=%s" % (d1, d2)


def settlement(S, d1, d2, key=kptest.DEFAULT):
    st, js, _ = S.call("GET", "/v1/reports/settlement?" + day_range(d1, d2), key=key)
    check("settlement %s..%s → 200" % (d1, d2), st, 200)
    return js or {}


def by_partner(report):
    return {p["partner"]: p for p in report.get("partners", [])}


def ledger_sums(db, d1, d2):
    """Per partner (issued, redeemed) straight from the transfers table, by the issue's
    definition: earn postings less refund reversals to issuance; redeem postings less
    points a refund gave back — of purchases at that partner, within the period."""
    # The same queries on SQLite or PostgreSQL (KOPILKA_TEST_DB): the period's
    # bounds as seconds, computed here rather than with either dialect's date functions.
    lo = int(datetime.datetime.strptime(d1, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp())
    hi = int(datetime.datetime.strptime(d2, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp()) + 86400
    rows = [(r[0], int(r[1]), int(r[2])) for r in kptest.db_query(db,
        "SELECT p.partner, "
        " SUM(CASE WHEN t.entry = 1 THEN t.points "
        "          WHEN t.refund_id IS NOT NULL AND t.to_acc = 1 THEN -t.points ELSE 0 END), "
        " SUM(CASE WHEN t.entry = 2 THEN t.points "
        "          WHEN t.refund_id IS NOT NULL AND t.from_acc = 2 THEN -t.points ELSE 0 END) "
        "FROM transfers t JOIN purchases p ON p.id = t.purchase_id "
        "WHERE t.at >= %d AND t.at < %d GROUP BY p.partner" % (lo, hi))]
    everything = tuple(int(v) for v in kptest.db_query(db,
        "SELECT COALESCE(SUM(CASE WHEN entry = 1 AND purchase_id IS NOT NULL THEN points "
        "WHEN refund_id IS NOT NULL AND to_acc = 1 THEN -points ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN entry = 2 AND purchase_id IS NOT NULL THEN points "
        "WHEN refund_id IS NOT NULL AND from_acc = 2 THEN -points ELSE 0 END), 0) "
        "FROM transfers WHERE at >= %d AND at < %d" % (lo, hi))[0])
    charity = int(kptest.db_query(db, "SELECT COALESCE(SUM(points), 0) FROM transfers WHERE to_acc = 7")[0][0])
    return {r[0]: (r[1], r[2]) for r in rows if r[1] or r[2]}, tuple(everything), charity


def coalition_scenario(S):
    S.set_clock("2027-03-10T09:00:00Z")
    st, v, _ = S.call("PUT", "/v1/program", PROGRAM_V2)
    check("setup: program v2 with a fund and a charity campaign", (st, v), (200, {"version": 2}))

    # ---- partners
    st, a, _ = S.call("POST", "/v1/partners", {"id": "shop-a", "name": "Shop A", "earn": {"percent": 10},
                                               "accrual_cost": 80})
    check("partners: shop-a with its own earn rate and accrual cost", (st, a),
          (201, {"id": "shop-a", "name": "Shop A", "active": True, "earn": {"percent": 10},
                 "accrual_cost": 80, "created_at": "2027-03-10T09:00:00Z"}))
    for pid in ("shop-b", "shop-c", "shop-d"):
        st, p, _ = S.call("POST", "/v1/partners", {"id": pid, "name": pid.upper()})
        check("partners: %s" % pid, (st, p and p.get("earn"), p and p.get("accrual_cost")), (201, None, None))
    check_error("partners: earn above 100% → 400",
                S.call("POST", "/v1/partners", {"id": "shop-x", "name": "X", "earn": {"percent": 101}}),
                400, "invalid_request", msg_starts="earn.percent")
    check_error("partners: accrual_cost 0 → 400",
                S.call("POST", "/v1/partners", {"id": "shop-x", "name": "X", "accrual_cost": 0}),
                400, "invalid_request", msg_starts="accrual_cost")
    st, lst, _ = S.call("GET", "/v1/partners")
    check("partners: listed by id", (st, [p["id"] for p in (lst or {}).get("items", [])]),
          (200, ["main", "shop-a", "shop-b", "shop-c", "shop-d"]))

    # ---- keys: one pos key per partner, a readonly key
    keys, key_ids = {}, {}
    for pid in ("shop-a", "shop-b", "shop-c", "shop-d"):
        st, k, _ = S.call("POST", "/v1/keys", {"role": "pos", "partner": pid})
        check("keys: pos key for %s" % pid, st, 201)
        keys[pid], key_ids[pid] = (k or {}).get("key"), (k or {}).get("id")
    st, k, _ = S.call("POST", "/v1/keys", {"role": "readonly"})
    ro = (k or {}).get("key")
    ka, kb, kc, kd = keys["shop-a"], keys["shop-b"], keys["shop-c"], keys["shop-d"]

    st, lst, _ = S.call("GET", "/v1/keys")
    items = (lst or {}).get("items", [])
    check("keys: listed, admin first (6 keys)", (st, len(items), items and items[0].get("role")), (200, 6, "admin"))
    check_true("keys: no secret and no hash in the list",
               all(set(i) == {"id", "role", "partner", "created_at", "revoked_at"} for i in items), items)
    check("keys: the pos keys' partners", [i["partner"] for i in items if i["role"] == "pos"],
          ["shop-a", "shop-b", "shop-c", "shop-d"])
    st, p1, _ = S.call("GET", "/v1/keys?limit=4")
    st2, p2, _ = S.call("GET", "/v1/keys?limit=4&cursor=" + q((p1 or {}).get("next_cursor") or ""))
    check("keys: paging", ([i["id"] for i in (p1 or {}).get("items", []) + (p2 or {}).get("items", [])],
                           (p2 or {}).get("next_cursor")), ([i["id"] for i in items], None))
    check_error("keys: a pos key may not list keys", S.call("GET", "/v1/keys", key=ka), 403, "forbidden")
    check_error("keys: a readonly key may not list keys", S.call("GET", "/v1/keys", key=ro), 403, "forbidden")

    # ---- a member
    st, m, _ = S.call("POST", "/v1/members", {"phone": "+79007000001", "consents": ALL_CONSENTS})
    mid = (m or {}).get("id")

    # ---- day 1: earn at A at A's own rate. tv 1,500 ₽ + cable 500 ₽ = 2,000 ₽ × 10% = 200
    # points (lines: 150 and 50).
    S.set_clock("2027-03-10T10:00:00Z")
    st, qa, _ = S.call("POST", "/v1/purchases/quote",
                       {"member": mid, "lines": [line("tv", 150000), line("cable", 50000)]}, key=ka)
    check("earn rate: a quote at shop-a earns 10%", (st, (qa or {}).get("points_earned"),
                                                      "partner" in (qa or {}).get("applied", [])), (200, 200, True))
    st, a1, _ = S.call("POST", "/v1/purchases", {"receipt_id": "A-1", "member": mid,
                                                 "lines": [line("tv", 150000), line("cable", 50000)]}, key=ka)
    check("day 1: A-1 at shop-a earns 200", (st, (a1 or {}).get("partner"), (a1 or {}).get("points_earned"),
                                             [l["earned"] for l in (a1 or {}).get("lines", [])]),
          (201, "shop-a", 200, [150, 50]))
    st, qb, _ = S.call("POST", "/v1/purchases/quote", {"member": mid, "lines": [line("tv", 150000)]}, key=kb)
    check("earn rate: shop-b earns the program's 5%: 1,500 ₽ → 75", (st, (qb or {}).get("points_earned")), (200, 75))

    # Spend at B: mug 300 ₽, 100 points (cap 50% = 150) → to_pay 200 ₽, earns 5% = 10.
    S.set_clock("2027-03-10T11:00:00Z")
    st, b1, _ = S.call("POST", "/v1/purchases", {"receipt_id": "B-1", "member": mid, "redeem_points": 100,
                                                 "lines": [line("mug", 30000)]}, key=kb)
    check("day 1: B-1 at shop-b spends 100, earns 10",
          (st, (b1 or {}).get("points_redeemed"), (b1 or {}).get("to_pay"), (b1 or {}).get("points_earned"),
           (b1 or {}).get("balance", {}).get("available")), (201, 100, 20000, 10, 110))

    # C: 1,000 ₽ → 50 points (5%) to the member and 1% of to_pay = 10 ₽ = 10 points to the fund.
    S.set_clock("2027-03-10T12:00:00Z")
    st, c1, _ = S.call("POST", "/v1/purchases", {"receipt_id": "C-1", "member": mid,
                                                 "lines": [line("book", 100000)]}, key=kc)
    check("day 1: C-1 at shop-c earns 50; the charity campaign does not touch the member",
          (st, (c1 or {}).get("points_earned"), (c1 or {}).get("balance", {}).get("available"),
           "campaign:c-gives" in (c1 or {}).get("applied", []), (c1 or {}).get("charity_points")),
          (201, 50, 160, False, {"kids": 10}))
    check("day 1: B-1 gave nothing to charity (the campaign is shop-c's)", "charity_points" in (b1 or {}), False)

    # ---- every cross-partner attempt is 403
    S.set_clock("2027-03-10T13:00:00Z")
    base = {"member": mid, "lines": [line("pen", 1000)]}
    check_error("cross: B's key buying for shop-a",
                S.call("POST", "/v1/purchases", dict(base, receipt_id="X-1", partner="shop-a"), key=kb),
                403, "forbidden")
    check_error("cross: B's key quoting for shop-a",
                S.call("POST", "/v1/purchases/quote", dict(base, partner="shop-a"), key=kb), 403, "forbidden")
    check_error("cross: B's key refunding A-1", S.call("POST", "/v1/purchases/A-1/refunds",
                                                      {"refund_id": "XF-1"}, key=kb), 403, "forbidden")
    check_error("cross: B's key refunding A-1 naming shop-a",
                S.call("POST", "/v1/purchases/A-1/refunds", {"refund_id": "XF-2", "partner": "shop-a"}, key=kb),
                403, "forbidden")
    check_error("cross: B's key reading A-1", S.call("GET", "/v1/purchases/A-1", key=kb), 403, "forbidden")
    check_error("cross: B's key reading A-1 ?partner=shop-a",
                S.call("GET", "/v1/purchases/A-1?partner=shop-a", key=kb), 403, "forbidden")
    st, h, _ = S.call("POST", "/v1/purchases", {"receipt_id": "A-H", "member": mid, "hold": True,
                                                "lines": [line("pen", 1000)]}, key=ka)
    check("cross: A holds A-H", (st, (h or {}).get("status")), (201, "held"))
    check_error("cross: B's key confirming A's hold", S.call("POST", "/v1/purchases/A-H/confirm", key=kb),
                403, "forbidden")
    check_error("cross: B's key cancelling A's hold", S.call("POST", "/v1/purchases/A-H/cancel", key=kb),
                403, "forbidden")
    check_error("cross: C's key confirming ?partner=shop-a",
                S.call("POST", "/v1/purchases/A-H/confirm?partner=shop-a", key=kc), 403, "forbidden")
    st, h, _ = S.call("POST", "/v1/purchases/A-H/cancel", key=ka)
    check("cross: A cancels its own hold", (st, (h or {}).get("status")), (200, "cancelled"))
    check_error("cross: a receipt that exists nowhere is still 404",
                S.call("POST", "/v1/purchases/NOPE/refunds", {"refund_id": "XF-3"}, key=kb), 404, "not_found")
    check_error("cross: a pos key may not read reports", S.call("GET", "/v1/reports/settlement?" +
                                                               day_range(DAY1, DAY1), key=ka), 403, "forbidden")
    check("cross: A-1 untouched", (S.call("GET", "/v1/purchases/A-1", key=ka)[1] or {}).get("refunds"), [])

    # ---- day 2: the refund at A of the cable: reverses its 50 points.
    S.set_clock("2027-03-11T10:00:00Z")
    st, f, _ = S.call("POST", "/v1/purchases/A-1/refunds", {"refund_id": "AF-1", "lines": [{"sku": "cable", "qty": 1}]},
                      key=ka)
    check("day 2: refund of A-1's cable", (st, (f or {}).get("money_refund"), (f or {}).get("points_reversed"),
                                           (f or {}).get("points_returned")), (201, 50000, 50, 0))

    # ---- settlement, to the kopeck
    # Day 1: A issued 200 × 0.80 ₽ = 160.00 ₽ owed; B issued 10 × 1 ₽ = 10.00 ₽, redeemed
    # 100 × 1 ₽ = 100.00 ₽ → net −90.00 ₽ (the operator owes B); C issued 50 → 50.00 ₽.
    r1 = settlement(S, DAY1, DAY1)
    p = by_partner(r1)
    check("settlement day 1: header", (r1.get("from"), r1.get("to"), r1.get("point_value")), (DAY1, DAY1, 100))
    check("settlement day 1: shop-a", {k: v for k, v in p.get("shop-a", {}).items() if k != "receipts"},
          {"partner": "shop-a", "points_issued": 200, "points_redeemed": 0, "issued_value": 16000,
           "redeemed_value": 0, "net": 16000})
    check("settlement day 1: shop-a's receipts", p.get("shop-a", {}).get("receipts"),
          [{"receipt_id": "A-1", "at": "2027-03-10T10:00:00Z", "points_issued": 200, "points_redeemed": 0}])
    check("settlement day 1: shop-b", p.get("shop-b"),
          {"partner": "shop-b", "points_issued": 10, "points_redeemed": 100, "issued_value": 1000,
           "redeemed_value": 10000, "net": -9000,
           "receipts": [{"receipt_id": "B-1", "at": "2027-03-10T11:00:00Z", "points_issued": 10,
                         "points_redeemed": 100}]})
    check_fields("settlement day 1: shop-c", p.get("shop-c"),
                 {"points_issued": 50, "points_redeemed": 0, "issued_value": 5000, "net": 5000})
    check_fields("settlement day 1: shop-d and main moved nothing", {"d": p.get("shop-d"), "m": p.get("main")},
                 {"d": {"partner": "shop-d", "points_issued": 0, "points_redeemed": 0, "issued_value": 0,
                        "redeemed_value": 0, "net": 0, "receipts": []},
                  "m": {"partner": "main", "points_issued": 0, "points_redeemed": 0, "issued_value": 0,
                        "redeemed_value": 0, "net": 0, "receipts": []}})
    check("settlement day 1: totals", r1.get("totals"),
          {"points_issued": 260, "points_redeemed": 100, "issued_value": 22000, "redeemed_value": 10000,
           "net": 12000})
    # Day 2: the refund takes 50 back at A: −50 × 0.80 ₽ = −40.00 ₽.
    r2 = settlement(S, DAY2, DAY2)
    check("settlement day 2: shop-a", by_partner(r2).get("shop-a"),
          {"partner": "shop-a", "points_issued": -50, "points_redeemed": 0, "issued_value": -4000,
           "redeemed_value": 0, "net": -4000,
           "receipts": [{"receipt_id": "A-1", "at": "2027-03-10T10:00:00Z", "points_issued": -50,
                         "points_redeemed": 0}]})
    check("settlement day 2: totals", r2.get("totals"),
          {"points_issued": -50, "points_redeemed": 0, "issued_value": -4000, "redeemed_value": 0, "net": -4000})
    # Both days: A 150 → 120.00 ₽; B −90.00 ₽; C 50.00 ₽ → 80.00 ₽ net to the operator.
    r12 = settlement(S, DAY1, DAY2)
    check("settlement both days: totals", r12.get("totals"),
          {"points_issued": 210, "points_redeemed": 100, "issued_value": 18000, "redeemed_value": 10000,
           "net": 8000})
    check("settlement both days: shop-a nets its receipt", by_partner(r12).get("shop-a", {}).get("receipts"),
          [{"receipt_id": "A-1", "at": "2027-03-10T10:00:00Z", "points_issued": 150, "points_redeemed": 0}])
    for name, r in (("day 1", r1), ("day 2", r2), ("both", r12)):
        t = r.get("totals", {})
        sums = {k: sum(x[k] for x in r.get("partners", [])) for k in t}
        check("settlement %s: totals are the sums over partners" % name, sums, t)
        check_true("settlement %s: every partner's sums are its receipts'" % name,
                   all(x["points_issued"] == sum(y["points_issued"] for y in x["receipts"]) and
                       x["points_redeemed"] == sum(y["points_redeemed"] for y in x["receipts"])
                       for x in r.get("partners", [])), r)
    check("settlement: empty period", settlement(S, "2027-03-01", "2027-03-09").get("totals"),
          {"points_issued": 0, "points_redeemed": 0, "issued_value": 0, "redeemed_value": 0, "net": 0})
    check("settlement: a readonly key reads it", S.call("GET", "/v1/reports/settlement?" + day_range(DAY1, DAY2),
                                                         key=ro)[:2], (200, r12))
    check_error("settlement: to before from → 400",
                S.call("GET", "/v1/reports/settlement?" + day_range(DAY2, DAY1)), 400, "invalid_request")
    check_error("settlement: no dates → 400", S.call("GET", "/v1/reports/settlement"), 400, "invalid_request")

    # Against the ledger itself, read with sqlite3 from a consistent copy.
    copy = os.path.join(S.dir, "copy.db")
    S.copy_db(copy)
    for name, d1, d2, r in (("day 1", DAY1, DAY1, r1), ("day 2", DAY2, DAY2, r2), ("both", DAY1, DAY2, r12)):
        per, everything, _ = ledger_sums(copy, d1, d2)
        got = {x["partner"]: (x["points_issued"], x["points_redeemed"]) for x in r.get("partners", [])
               if x["points_issued"] or x["points_redeemed"]}
        check("ledger %s: per partner as in the transfers table" % name, got, per)
        check("ledger %s: totals equal every movement of the period" % name,
              (r["totals"]["points_issued"], r["totals"]["points_redeemed"]), everything)

    # The command line prints the same.
    proc = subprocess.run([kptest.BIN, "report", "settlement", "--db", kptest.db_uri(copy), "--from", DAY1, "--to", DAY2,
                           "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode())))
    check("cli: csv exit status", proc.returncode, 0)
    check("cli: csv has one row per partner with the report's numbers",
          [(x["partner"], int(x["points_issued"]), int(x["points_redeemed"]), int(x["issued_value"]),
            int(x["redeemed_value"]), int(x["net"])) for x in rows],
          [(x["partner"], x["points_issued"], x["points_redeemed"], x["issued_value"], x["redeemed_value"],
            x["net"]) for x in r12.get("partners", [])])
    proc = subprocess.run([kptest.BIN, "report", "settlement", "--db", kptest.db_uri(copy), "--from", DAY1, "--to", DAY2,
                           "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    try:
        js = json.loads(proc.stdout.decode())
    except ValueError:
        js = None
    check("cli: json is the API's report", js, r12)
    proc = subprocess.run([kptest.BIN, "report", "settlement", "--db", kptest.db_uri(copy), "--from", DAY1],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check("cli: missing --to → usage (2)", proc.returncode, 2)
    return mid, ro, keys, key_ids


def keys_c(S):
    st, k, _ = S.call("POST", "/v1/keys", {"role": "pos", "partner": "shop-c"})
    return (k or {}).get("key")


def charity_scenario(S, mid, ro):
    S.set_clock("2027-03-11T12:00:00Z")
    path = "/v1/members/%s/donations" % mid
    # Balance: 200 + 10 − 100 + 50 − 50 = 110.
    h = {"Idempotency-Key": "don-1"}
    st, d, _ = S.call("POST", path, {"fund": "kids", "points": 30}, headers=h)
    check("donate: 30 to kids", (st, d), (201, {"member": mid, "fund": "kids", "points": 30,
                                                 "balance": {"available": 80, "pending": 0}}))
    check("donate: the same key again → the same answer", S.call("POST", path, {"fund": "kids", "points": 30},
                                                                   headers=h)[:2], (201, d))
    check_error("donate: the same key, another body → 409",
                S.call("POST", path, {"fund": "kids", "points": 31}, headers=h), 409, "idempotency_conflict")
    check_error("donate: an unknown fund → 422", S.call("POST", path, {"fund": "cats", "points": 1},
                                                       headers={"Idempotency-Key": "don-2"}), 422, "fund_invalid")
    check_error("donate: more than the balance → 422",
                S.call("POST", path, {"fund": "kids", "points": 81}, headers={"Idempotency-Key": "don-3"}),
                422, "insufficient_points")
    check_error("donate: no Idempotency-Key → 400", S.call("POST", path, {"fund": "kids", "points": 1}),
                400, "invalid_request")
    check_error("donate: a readonly key → 403", S.call("POST", path, {"fund": "kids", "points": 1}, key=ro,
                                                      headers={"Idempotency-Key": "don-4"}), 403, "forbidden")
    st, hist, _ = S.call("GET", "/v1/members/%s/history?limit=1" % mid)
    check("donate: history shows a transfer of −30 to fund:kids",
          [(i["kind"], i["points"], i.get("ref")) for i in (hist or {}).get("items", [])],
          [("transfer", -30, "fund:kids")])
    # A hold at C (anonymous): 500 ₽ → 5 points to the fund, given only at confirmation.
    st, hc, _ = S.call("POST", "/v1/purchases", {"receipt_id": "C-H", "hold": True,
                                                 "lines": [line("book", 50000)]}, key=keys_c(S))
    check("charity: a hold says what it will give", (st, (hc or {}).get("charity_points")), (201, {"kids": 5}))
    copy = os.path.join(S.dir, "copy1.db")
    S.copy_db(copy)
    check("charity: a hold gives nothing yet (30 donated + 10 from C-1)", ledger_sums(copy, DAY1, DAY2)[2], 40)
    st, hc, _ = S.call("POST", "/v1/purchases/C-H/confirm?partner=shop-c")
    check("charity: confirmed", (st, (hc or {}).get("status"), (hc or {}).get("charity_points")),
          (200, "committed", {"kids": 5}))
    # The fund: 30 donated + 10 from C-1 + 5 from C-H = 45 points = 45.00 ₽.
    st, rep, _ = S.call("GET", "/v1/reports/charity?" + day_range(DAY1, DAY2), key=ro)
    check("charity report", (st, rep), (200, {"from": DAY1, "to": DAY2, "point_value": 100, "funds": [
        {"fund": "kids", "donated_points": 30, "campaign_points": 15, "total_points": 45, "value": 4500}]}))
    st, rep, _ = S.call("GET", "/v1/reports/charity?" + day_range(DAY1, DAY1))
    check("charity report: day 1 has only the campaign", (rep or {}).get("funds"),
          [{"fund": "kids", "donated_points": 0, "campaign_points": 10, "total_points": 10, "value": 1000}])
    copy = os.path.join(S.dir, "copy2.db")
    S.copy_db(copy)
    check("charity: the ledger's charity account holds 45", ledger_sums(copy, DAY1, DAY2)[2], 45)
    check_error("charity: a campaign naming an unknown fund → 422",
                S.call("PUT", "/v1/program", dict(PROGRAM_V2, campaigns=[
                    {"id": "x", "kind": "charity_percent", "percent": 1, "fund": "cats"}])),
                422, "invalid_program", msg_starts="campaigns[0].fund")


def inactive_scenario(S, keys, mid):
    S.set_clock("2027-03-11T13:00:00Z")
    kd = keys["shop-d"]
    st, _, _ = S.call("POST", "/v1/purchases", {"receipt_id": "D-1", "lines": [line("pen", 1000)]}, key=kd)
    check("inactive: shop-d sells while active", st, 201)
    st, p, _ = S.call("PATCH", "/v1/partners/shop-d", {"active": False})
    check("inactive: deactivate shop-d", (st, (p or {}).get("active")), (200, False))
    check_error("inactive: its pos key is refused at once", S.call("GET", "/v1/members/" + mid, key=kd),
                403, "forbidden")
    check_error("inactive: a purchase there by an admin → 422",
                S.call("POST", "/v1/purchases", {"receipt_id": "D-2", "partner": "shop-d",
                                                 "lines": [line("pen", 1000)]}), 422, "partner_inactive")
    st, p, _ = S.call("PATCH", "/v1/partners/shop-d", {"active": True, "earn": {"percent": 2.5},
                                                       "accrual_cost": 90, "name": "Shop D"})
    check("inactive: reactivate with terms", (st, p and {k: p[k] for k in ("active", "earn", "accrual_cost", "name")}),
          (200, {"active": True, "earn": {"percent": 2.5}, "accrual_cost": 90, "name": "Shop D"}))
    # 1,000 ₽ at 2.5% = 25 points.
    st, qd, _ = S.call("POST", "/v1/purchases/quote", {"member": mid, "lines": [line("pen", 100000)]}, key=kd)
    check("inactive: the pos key works again, at 2.5%", (st, (qd or {}).get("points_earned")), (200, 25))
    st, p, _ = S.call("PATCH", "/v1/partners/shop-d", {"earn": None, "accrual_cost": None})
    check("inactive: back to the program's terms", (st, p and (p.get("earn"), p.get("accrual_cost"))),
          (200, (None, None)))
    check_error("inactive: PATCH an unknown partner → 404", S.call("PATCH", "/v1/partners/nope", {"active": False}),
                404, "not_found")
    check_error("inactive: PATCH id → 400", S.call("PATCH", "/v1/partners/shop-d", {"id": "x"}),
                400, "invalid_request")


def revoke_scenario(S, mid):
    st, k, _ = S.call("POST", "/v1/keys", {"role": "pos", "partner": "shop-c"})
    kx, kid = (k or {}).get("key"), (k or {}).get("id")
    check("revoke: the new key works", S.call("GET", "/v1/members/" + mid, key=kx)[0], 200)
    st, r, _ = S.call("DELETE", "/v1/keys/%s" % kid)
    check("revoke: DELETE → 200", (st, r), (200, {"id": kid, "revoked_at": "2027-03-11T13:00:00Z"}))
    check_error("revoke: the key is 401 at once", S.call("GET", "/v1/members/" + mid, key=kx), 401, "unauthorized")
    S.set_clock("2027-03-11T13:05:00Z")
    check("revoke: again → the same answer", S.call("DELETE", "/v1/keys/%s" % kid)[:2], (200, r))
    check_error("revoke: an unknown key → 404", S.call("DELETE", "/v1/keys/99999"), 404, "not_found")
    st, lst, _ = S.call("GET", "/v1/keys?limit=1000")
    check("revoke: listed with its revocation time",
          [i["revoked_at"] for i in (lst or {}).get("items", []) if i["id"] == kid], ["2027-03-11T13:00:00Z"])
    check_error("revoke: a pos key may not revoke", S.call("DELETE", "/v1/keys/%s" % kid, key=None), 401,
                "unauthorized")
    return kid


def audit_scenario(S, mid, key_ids, revoked):
    S.set_clock("2027-03-11T14:00:00Z")
    st, c, _ = S.call("POST", "/v1/coupons", {"code": "TEN", "kind": "percent", "value": 10})
    check("audit: a coupon", st, 201)
    st, a, _ = S.call("POST", "/v1/members/%s/adjustments" % mid, {"points": 5, "reason": "goodwill"},
                      headers={"Idempotency-Key": "adj-1"})
    check("audit: an adjustment", st, 201)
    st, m2, _ = S.call("POST", "/v1/members", {"phone": "+79007000002", "consents": ALL_CONSENTS})
    st, e, _ = S.call("DELETE", "/v1/members/%s" % (m2 or {}).get("id"))
    check("audit: an erasure", st, 200)
    items, cursor = [], ""
    for _ in range(20):
        st, page, _ = S.call("GET", "/v1/audit?limit=3" + ("&cursor=" + q(cursor) if cursor else ""))
        if st != 200:
            break
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    check_true("audit: newest first, ids descending", [i["id"] for i in items] ==
               sorted([i["id"] for i in items], reverse=True) and len(items) > 0, items)
    check_true("audit: every entry names the admin key, a time, a target and details",
               all(i["key_id"] == 1 and i["at"].startswith("2027-03-1") and i["target"] and
                   isinstance(i["details"], dict) for i in items), items)
    acts = {}
    for i in items:
        acts.setdefault(i["action"], []).append(i)
    check("audit: program.put", [(i["target"], i["details"]) for i in acts.get("program.put", [])],
          [("program", {"version": 2})])
    check("audit: partner.create for each partner", sorted(i["target"] for i in acts.get("partner.create", [])),
          ["shop-a", "shop-b", "shop-c", "shop-d"])
    check("audit: shop-a's terms", [i["details"] for i in acts.get("partner.create", []) if i["target"] == "shop-a"],
          [{"name": "Shop A", "earn_percent_bp": 1000, "accrual_cost": 80}])
    check("audit: partner.update (three PATCHes of shop-d), newest first",
          [i["details"] for i in acts.get("partner.update", [])],
          [{"earn_percent_bp": None, "accrual_cost": None},
           {"active": True, "earn_percent_bp": 250, "accrual_cost": 90, "name": "Shop D"},
           {"active": False}])
    check("audit: key.create for every key made over HTTP", len(acts.get("key.create", [])), 7)
    check("audit: key.create names role and partner",
          [i["details"] for i in acts.get("key.create", []) if i["target"] == str(key_ids["shop-a"])],
          [{"role": "pos", "partner": "shop-a"}])
    check("audit: key.revoke once", [(i["target"], i["details"]) for i in acts.get("key.revoke", [])],
          [(str(revoked), {"role": "pos", "partner": "shop-c"})])
    check("audit: coupon, adjustment and erasure are there",
          [len(acts.get(a, [])) for a in ("member.adjust", "member.erase")], [1, 1])
    check_true("audit: the coupon's creation", any(a.startswith("coupon") for a in acts), sorted(acts))
    check_error("audit: a readonly key may not read it", S.call("GET", "/v1/audit", key=None), 401, "unauthorized")
    check_error("audit: a garbage cursor → 400", S.call("GET", "/v1/audit?cursor=x"), 400, "invalid_request")


def idempotency_scenario(S):
    """POST /v1/partners and POST /v1/keys take an Idempotency-Key like every other POST."""
    h = {"Idempotency-Key": "partner-idem-1"}
    body = {"id": "idem-shop", "name": "Idem shop"}
    st, first, _ = S.call("POST", "/v1/partners", body, headers=h)
    check("idem: partner created", (st, (first or {}).get("id")), (201, "idem-shop"))
    check("idem: the same partner request again → the first answer",
          S.call("POST", "/v1/partners", body, headers=h)[:2], (201, first))
    check_error("idem: the key with another partner body → 409",
                S.call("POST", "/v1/partners", {"id": "idem-shop-2", "name": "Two"}, headers=h),
                409, "idempotency_conflict")
    st, partners, _ = S.call("GET", "/v1/partners")
    check("idem: exactly one of the two partners exists",
          sorted(p["id"] for p in (partners or {}).get("items", []) if p["id"].startswith("idem-shop")),
          ["idem-shop"])
    h = {"Idempotency-Key": "key-idem-1"}
    body = {"role": "pos", "partner": "idem-shop"}
    st, k1, _ = S.call("POST", "/v1/keys", body, headers=h)
    check_true("idem: key created with its secret", st == 201 and str(k1.get("key", "")).startswith("kp_"),
               repr((st, k1)))
    st, k2, _ = S.call("POST", "/v1/keys", body, headers=h)
    check("idem: the repeat names the same key and does not show the secret again",
          (st, k2), (201, dict(k1, key=None)))
    st, listed, _ = S.call("GET", "/v1/keys?limit=1000")
    check("idem: only one key was made",
          len([k for k in (listed or {}).get("items", []) if k.get("partner") == "idem-shop"]), 1)
    check_error("idem: the key with another key body → 409",
                S.call("POST", "/v1/keys", {"role": "readonly"}, headers=h), 409,
                "idempotency_conflict")


def coalition_server():
    S = kptest.Server(PROGRAM, name="coalition")
    try:
        state = {}

        def main_part():
            state["r"] = coalition_scenario(S)
        kptest.scenario(main_part, "coalition")
        mid, ro, keys, key_ids = state.get("r", (None, None, {}, {}))
        if mid:
            kptest.scenario(lambda: charity_scenario(S, mid, ro), "charity")
            kptest.scenario(lambda: inactive_scenario(S, keys, mid), "inactive partner")
            revoked = {}
            kptest.scenario(lambda: revoked.setdefault("id", revoke_scenario(S, mid)), "revoke")
            kptest.scenario(lambda: audit_scenario(S, mid, key_ids, revoked.get("id")), "audit")
        kptest.scenario(lambda: idempotency_scenario(S), "idempotency keys")
        S.check_verify("the coalition")
        S.check_healthy("everything")
    finally:
        S.stop()


def brute_force_scenario(S):
    wrong = ["kp_%032x" % i for i in range(1, 7)]
    for i, k in enumerate(wrong[:5]):
        check_error("brute: wrong key %d → 401" % (i + 1), S.call("GET", "/v1/program", key=k), 401, "unauthorized")
    st, js, h = S.call("GET", "/v1/program", key=wrong[5])
    check_error("brute: the 6th guess → 429", (st, js, h), 429, "too_many_requests")
    ra = h.get("retry-after", "")
    check_true("brute: Retry-After in seconds", ra.isdigit() and 1 <= int(ra) <= 60, h)
    check_error("brute: even the right key is refused while limited", S.call("GET", "/v1/program"),
                429, "too_many_requests")
    check("brute: the public health check still answers", S.call("GET", "/v1/health", key=None)[0], 200)
    check_error("brute: no key at all is 429 too while limited", S.call("GET", "/v1/program", key=None),
                429, "too_many_requests")


def brute_force_server():
    S = kptest.Server(PROGRAM, name="brute", extra_args=("--auth-failures", "5"))
    try:
        # Requests without a key guess nothing: they are 401 but not counted.
        for i in range(8):
            S.call("GET", "/v1/program", key=None)
        check("brute: keyless requests are not counted", S.call("GET", "/v1/program")[0], 200)
        kptest.scenario(lambda: brute_force_scenario(S), "brute force")
    finally:
        S.stop()


def main():
    kptest.scenario(coalition_server)
    kptest.scenario(brute_force_server)
    kptest.summary()


if __name__ == "__main__":
    main()
