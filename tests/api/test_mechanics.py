#!/usr/bin/env python3
"""Kopilka HTTP API suite for the loyalty mechanics of issue #3: tiers, campaigns,
stamp cards, thresholds, pending points, expiry, reminders and the jobs.

Run from the repo root: `KOPILKA_BIN=./kopilka python3 tests/api/test_mechanics.py`.
It drives real `kopilka serve --test-clock` processes through tests/api/kptest.py:

1. the four example programs of examples/, each with purchases worked out by hand;
2. "a year in a member's life": pending points, activation, spending, a jump from Base
   to Gold, a campaign week and its last second, reminders, expiry at its exact second,
   a refund, the monthly tier review, `kopilka jobs run` on a copy, `kopilka verify`;
3. boundaries: tier thresholds to the kopeck, campaign budgets (and 8 threads racing for
   the last of one), thresholds giving several certificates, stamp cards with refunds,
   discount precedence (tier vs discount card vs campaign);
4. invalid program documents (422 invalid_program, the field path first, nothing changes);
5. the tier review across processes: two `kopilka jobs run` at once review each member once
   between them, and a review cut short goes on where it stopped.

Every expected number is worked out in the comment next to it. Point value is 100
(1 point = 1.00 ₽) everywhere, so points = ⌊paid × percent / 10000⌋.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import balance, history, member  # noqa: E402
from kptest import check, check_error, check_fields, check_true  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "examples"))
CONSENTS = {"personal_data": True, "email": False, "sms": False, "push": False}
NO_JOBS = {"referrals_paid": 0, "birthday_bonuses": 0, "holds_released": 0, "expired_points": 0, "activated_points": 0, "reminders": 0,
           "certificates_issued": 0, "tier_reviews": 0, "tier_downgrades": 0}


# ---------------------------------------------------------------- helpers

def q(v):
    return urllib.parse.quote(v, safe="")


def load_example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return json.load(f)


def line(sku, price, qty=1, category=None):
    d = {"sku": sku, "qty": qty, "price": price}
    if category is not None:
        d["category"] = category
    return d


def basket(rid, lines, member=None, redeem=None, **extra):
    d = {}
    if rid is not None:
        d["receipt_id"] = rid
    if member is not None:
        d["member"] = member
    d["lines"] = lines
    if redeem is not None:
        d["redeem_points"] = redeem
    d.update(extra)
    return d


def commit(S, rid, lines, member=None, redeem=None, client=None, **extra):
    st, a, _ = (client or S).call("POST", "/v1/purchases", basket(rid, lines, member, redeem, **extra))
    return st, (a if isinstance(a, dict) else {"body": a})


def quote(S, lines, member=None, redeem=None, **extra):
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, lines, member, redeem, **extra))
    return st, (a if isinstance(a, dict) else {"body": a})


def expect(name, ans, status, fields, applied=None):
    """ans = (status, answer); fields compared with check_fields; applied compared as a set."""
    st, a = ans
    got = dict(a, status_code=st)
    want = dict(fields, status_code=status)
    if applied is not None:
        got["applied"] = sorted(a.get("applied") or []) if isinstance(a.get("applied"), list) \
            else a.get("applied")
        want["applied"] = sorted(applied)
    return check_fields(name, got, want)


def new_member(S, name, phone):
    st, m, _ = S.call("POST", "/v1/members", {"phone": phone, "name": name, "consents": CONSENTS})
    if not check("%s: register %s → 201" % (S.name, name), st, 201):
        raise RuntimeError("cannot register %s: %s %s" % (name, st, m))
    return m








REF_KINDS = ("earn", "redeem", "refund")


def hist_groups(entries):
    """History rows summed by (at, kind, account, ref): a movement may be one row or one
    row per lot. The ref is compared for purchase, redemption and refund rows only."""
    g = {}
    for e in entries:
        ref = e.get("ref") if e.get("kind") in REF_KINDS else None
        k = (e.get("at"), e.get("kind"), e.get("account"), ref)
        g[k] = g.get(k, 0) + (e.get("points") or 0)
    return sorted(([list(k), v] for k, v in g.items() if v != 0), key=repr)


def check_history(S, name, mid, expected):
    """expected: (at, kind, points, account, ref) tuples; ref ignored for activate/expire."""
    h = history(S, mid)
    if not isinstance(h, list):
        return check(name, h, expected)
    ats = [e.get("at") or "" for e in h]
    check_true(name + " (newest first)", all(ats[i] >= ats[i + 1] for i in range(len(ats) - 1)),
               "at values %r" % ats)
    want = [{"at": a, "kind": k, "points": p, "account": acc, "ref": r} for a, k, p, acc, r in expected]
    return check(name, hist_groups(h), hist_groups(want))


def bal(available, pending=0, spendable=None, tier=None, progress=None, expiring=()):
    return {"available": available, "pending": pending,
            "spendable": available if spendable is None else spendable,
            "tier": tier, "tier_progress": progress, "expiring": list(expiring)}


def upcoming(lots, now):
    """The balance's "expiring" list for lots [(points left, available or pending;
    expires_at or None for never)] at `now`: every lot with points left whose expires_at is
    after now, soonest first, lots with the same expires_at merged (points added), at most
    20 entries. remind_days_before plays no part in it (it only drives the jobs' reminders)."""
    merged = {}
    for pts, exp in lots:
        if pts > 0 and exp is not None and exp > now:
            merged[exp] = merged.get(exp, 0) + pts
    return [{"points": merged[e], "expires_at": e} for e in sorted(merged)][:20]


def progress(spend, levels, tier=None):
    """tier_progress of a member at `tier` (default: the tier the spend reaches) with that
    spend; levels = [(name, min_spend)] ascending. The next tier is the one above `tier`."""
    names = [n for n, _ in levels]
    if tier is None:
        tier = [n for n, m in levels if m <= spend][-1]
    i = names.index(tier)
    nxt = levels[i + 1] if i + 1 < len(levels) else None
    return {"spend": spend, "next_tier": nxt[0] if nxt else None,
            "remaining": nxt[1] - spend if nxt else None}


def run_jobs(S, key=kptest.DEFAULT):
    st, js, _ = S.call("POST", "/v1/admin/jobs/run", key=key)
    return st, js


def check_jobs(S, name, expected):
    st, js = run_jobs(S)
    return check_fields(name, dict(js if isinstance(js, dict) else {"body": js}, status_code=st),
                        dict(expected, status_code=200))


def jobs_cli(db, now=None):
    argv = [kptest.BIN, "jobs", "run", "--db", kptest.db_uri(db)]
    if now:
        argv += ["--now", now]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    try:
        js = json.loads(p.stdout.decode())
    except ValueError:
        js = {"stdout": p.stdout.decode(errors="replace")[:500],
              "stderr": p.stderr.decode(errors="replace")[:500]}
    return p.returncode, js


def with_server(program, name, fn):
    S = kptest.Server(program, name=name)
    try:
        kptest.scenario(lambda: fn(S), name)
        S.check_verify(name)
    finally:
        S.stop()


# ---------------------------------------------------------------- 1. the example programs

def toy_store_example(S):
    """Toy store: 5% back, 1000 points become a 100000-kopeck gift certificate."""
    check("toy: GET /v1/program is version 1", (S.call("GET", "/v1/program")[:2]),
          (200, {"version": 1, "program": load_example("toy-store.json")}))
    S.set_clock("2027-01-15T12:00:00Z")
    mid = new_member(S, "Tim", "+79101000001")["id"]
    # 19,980.00 ₽ × 5% = 999.00 → 999 points: one short of the threshold.
    expect("toy: T-1 earns 999, no certificate",
           commit(S, "T-1", [line("castle", 1998000, category="toys")], member=mid), 201,
           {"subtotal": 1998000, "discount": 0, "to_pay": 1998000, "points_earned": 999,
            "points_pending": False, "certificates_issued": [], "tier": None,
            "balance": {"available": 999, "pending": 0}}, applied=["base"])
    # T-1's lot: 999 points, expiry 365 days → 2028-01-15T12:00:00Z (2027 is not a leap year);
    # listed although remind_days_before is 14: the list shows every upcoming expiry.
    check("toy: balance 999, its expiry listed", balance(S, mid),
          bal(999, expiring=[{"points": 999, "expires_at": "2028-01-15T12:00:00Z"}]))
    # 20.00 ₽ × 5% = 1 point → 1000 → exactly 1000 points become one 1000.00 ₽ certificate.
    S.set_clock("2027-01-15T12:01:00Z")
    st, a = commit(S, "T-2", [line("ball", 2000, category="toys")], member=mid)
    expect("toy: T-2 earns 1 and reaches the threshold", (st, a), 201,
           {"points_earned": 1, "balance": {"available": 0, "pending": 0}}, applied=["base"])
    certs = a.get("certificates_issued")
    code = certs[0].get("code") if isinstance(certs, list) and len(certs) == 1 and \
        isinstance(certs[0], dict) else None
    check("toy: T-2 issues one 100000-kopeck certificate for 1000 points",
          certs, [{"code": code, "amount": 100000, "points": 1000}])
    check_true("toy: the certificate code is GC-…", isinstance(code, str) and code.startswith("GC-"),
               repr(code))
    # The certificate took T-1's 999 and T-2's 1: no points left, nothing expiring.
    check("toy: balance 0 after the certificate", balance(S, mid), bal(0))
    check_history(S, "toy: history: earn 999, earn 1, redeem 1000 for the certificate", mid, [
        ("2027-01-15T12:00:00Z", "earn", 999, "available", "T-1"),
        ("2027-01-15T12:01:00Z", "earn", 1, "available", "T-2"),
        ("2027-01-15T12:01:00Z", "redeem", -1000, "available", code)])
    check_jobs(S, "toy: jobs have nothing to do", NO_JOBS)


def cosmetics_example(S):
    """Cosmetics chain: 3% held 14 days; Silver from 10,000.00 ₽ (5% discount); campaigns."""
    S.set_clock("2027-01-15T12:00:00Z")  # a Friday, 15:00 local; not in double-march
    lv = [("Base", 0), ("Silver", 1000000), ("Gold", 3000000), ("Platinum", 6000000)]
    m = new_member(S, "Carla", "+79102000001")
    mid = m["id"]
    check("cos: a new member is Base", m.get("tier"), "Base")
    check("cos: new member's balance", balance(S, mid), bal(0, tier="Base", progress=progress(0, lv)))
    # C-1 at Base: no discount; 3% of 10,000.00 ₽ = 300 points, pending. Spend 1,000,000 = Silver's
    # min_spend exactly → Silver after this purchase.
    expect("cos: C-1 at Base earns 300 pending, makes Silver",
           commit(S, "C-1", [line("serum", 1000000, category="care")], member=mid), 201,
           {"subtotal": 1000000, "discount": 0, "to_pay": 1000000, "points_earned": 300,
            "points_pending": True, "tier": "Silver", "certificates_issued": [],
            "balance": {"available": 0, "pending": 300}}, applied=["base"])
    # Pending points are listed too; expiry 180 days from the purchase: 2027-07-14T12:00:00Z.
    check("cos: balance after C-1", balance(S, mid),
          bal(0, 300, tier="Silver", progress=progress(1000000, lv),
              expiring=[{"points": 300, "expires_at": "2027-07-14T12:00:00Z"}]))
    check("cos: the member is Silver", member(S, mid).get("tier"), "Silver")
    # C-2 at Silver: 5% of 2,000.00 = 100.00 off; 3% of 1,900.00 = 57 points.
    S.set_clock("2027-01-15T12:01:00Z")
    expect("cos: C-2 gets the Silver discount",
           commit(S, "C-2", [line("cream", 200000, category="care")], member=mid), 201,
           {"subtotal": 200000, "discount": 10000, "to_pay": 190000, "points_earned": 57,
            "tier": "Silver", "balance": {"available": 0, "pending": 357},
            "lines": [{"sku": "cream", "qty": 1, "amount": 200000, "discount": 10000, "points": 0,
                       "certificates": 0, "paid": 190000, "earned": 57}]},
           applied=["tier:Silver", "base"])
    # C-3 in the app: 5% off 1,000.00 → 950.00; (3% + 2% app-orders) = 5% → 47.5 → 47.
    S.set_clock("2027-01-15T12:02:00Z")
    expect("cos: C-3 in the app gets app-orders +2%",
           commit(S, "C-3", [line("mask", 100000, category="care")], member=mid, channel="app"), 201,
           {"discount": 5000, "to_pay": 95000, "points_earned": 47,
            "balance": {"available": 0, "pending": 404}},
           applied=["tier:Silver", "base", "campaign:app-orders"])
    # C-4, a new lipstick: 5% off 500.00 → 475.00; 3% = 14.25 → 14, + 200 bonus points = 214.
    S.set_clock("2027-01-15T12:03:00Z")
    expect("cos: C-4 with lip-001 gets new-lipsticks' 200 points",
           commit(S, "C-4", [line("lip-001", 50000, category="makeup")], member=mid), 201,
           {"discount": 2500, "to_pay": 47500, "points_earned": 214,
            "balance": {"available": 0, "pending": 618}},
           applied=["tier:Silver", "base", "campaign:new-lipsticks"])
    # gold-club is for Gold and Platinum: a Silver member's "new" line gets 5%, not 20%.
    # 1,000.00 → 50.00 off → 950.00 → 28.5 → 28 points.
    expect("cos: quote: gold-club does not apply to Silver",
           quote(S, [line("glow", 100000, category="new")], member=mid), 200,
           {"discount": 5000, "to_pay": 95000, "points_earned": 28, "points_pending": True},
           applied=["tier:Silver", "base"])
    # Four pending lots, each expiring 180 days after its purchase (one a minute apart).
    check("cos: balance at the end (all pending, nothing spendable, 4 lots expiring)", balance(S, mid),
          bal(0, 618, tier="Silver", progress=progress(1000000 + 190000 + 95000 + 47500, lv),
              expiring=[{"points": 300, "expires_at": "2027-07-14T12:00:00Z"},
                        {"points": 57, "expires_at": "2027-07-14T12:01:00Z"},
                        {"points": 47, "expires_at": "2027-07-14T12:02:00Z"},
                        {"points": 214, "expires_at": "2027-07-14T12:03:00Z"}]))


def coffee_example(S):
    """Coffee shop: every 10th coffee free (across purchases); morning +5% on weekdays 07-10."""
    S.set_clock("2027-01-15T12:00:00Z")  # Friday 15:00 local: not morning
    mid = new_member(S, "Kostya", "+79103000001")["id"]
    # K-1: 3 lattes (stamps 1-3) and a croissant; 3% of 900.00 = 27.
    expect("coffee: K-1, 3 coffees, none free",
           commit(S, "K-1", [line("latte", 25000, 3), line("croissant", 15000)], member=mid), 201,
           {"subtotal": 90000, "discount": 0, "to_pay": 90000, "points_earned": 27,
            "balance": {"available": 27, "pending": 0}}, applied=["base"])
    # K-2: 6 espressos (stamps 4-9); 3% of 900.00 = 27.
    S.set_clock("2027-01-15T12:01:00Z")
    expect("coffee: K-2, 6 more coffees, none free",
           commit(S, "K-2", [line("espresso", 15000, 6)], member=mid), 201,
           {"subtotal": 90000, "discount": 0, "to_pay": 90000, "points_earned": 27,
            "balance": {"available": 54, "pending": 0}}, applied=["base"])
    # K-3: a croissant and 2 cappuccinos: the first cappuccino is the 10th coffee → free (200.00).
    # Paid 150.00 + 200.00 = 350.00; 3% = 10.5 → 10, spread 15000:20000 → 4.29/5.71 → 4/6.
    S.set_clock("2027-01-15T12:02:00Z")
    expect("coffee: K-3, the 10th coffee is free",
           commit(S, "K-3", [line("croissant", 15000), line("cappuccino", 20000, 2)], member=mid), 201,
           {"subtotal": 55000, "discount": 20000, "to_pay": 35000, "points_earned": 10,
            "balance": {"available": 64, "pending": 0},
            "lines": [{"sku": "croissant", "qty": 1, "amount": 15000, "discount": 0, "points": 0,
                       "certificates": 0, "paid": 15000, "earned": 4},
                      {"sku": "cappuccino", "qty": 2, "amount": 40000, "discount": 20000, "points": 0,
                       "certificates": 0, "paid": 20000, "earned": 6}]},
           applied=["stamp:coffee", "base"])
    # The card now holds 1 stamp (the second cappuccino): 8 more coffees are not free…
    expect("coffee: quote: 8 more coffees, none free",
           quote(S, [line("americano", 10000, 8)], member=mid), 200,
           {"discount": 0, "to_pay": 80000, "points_earned": 24}, applied=["base"])
    # …but the 9th of them is the 10th on the card.
    expect("coffee: quote: 9 more coffees, the last one free",
           quote(S, [line("americano", 10000, 9)], member=mid), 200,
           {"discount": 10000, "to_pay": 80000, "points_earned": 24}, applied=["stamp:coffee", "base"])
    # Morning campaign: Mon–Fri, 07-10 local (+03:00). 2027-01-18 is a Monday.
    # 1,000.00 of tea: 3% = 30 points, with morning 3% + 5% = 8% = 80 points.
    for now, pts, tag in (("2027-01-18T03:59:59Z", 30, "06:59:59 local: not yet"),
                          ("2027-01-18T04:00:00Z", 80, "07:00:00 local: morning"),
                          ("2027-01-18T06:59:59Z", 80, "09:59:59 local: morning"),
                          ("2027-01-16T05:00:00Z", 30, "Saturday 08:00 local: not a weekday")):
        S.set_clock(now)
        expect("coffee: quote tea at %s" % tag, quote(S, [line("tea", 100000)], member=mid), 200,
               {"points_earned": pts},
               applied=["base"] + (["campaign:morning"] if pts == 80 else []))


def discount_card_example(S):
    """Discount card: 3%, 5% from 5,000.00, 7% from 15,000.00, 10% from 30,000.00; no points."""
    S.set_clock("2027-01-15T12:00:00Z")
    mid = new_member(S, "Dina", "+79104000001")["id"]
    cases = (
        ("D-1", [line("mop", 100000)], 3000, ["discount"]),               # 3% of 1,000.00
        ("D-2", [line("mop", 499999)], 14999, ["discount"]),              # ⌊14,999.97⌋
        ("D-3", [line("mop", 500000)], 25000, ["discount_step:500000"]),  # 5% at exactly 5,000.00
        ("D-4", [line("mop", 1499999)], 74999, ["discount_step:500000"]), # ⌊74,999.95⌋
        ("D-5", [line("mop", 1500000)], 105000, ["discount_step:1500000"]),
        ("D-6", [line("mop", 2999999)], 209999, ["discount_step:1500000"]),  # ⌊209,999.93⌋
    )
    for i, (rid, lines, disc, applied) in enumerate(cases):
        S.set_clock("2027-01-15T12:%02d:00Z" % (i + 1))
        sub = sum(l["price"] * l["qty"] for l in lines)
        expect("dcard: %s subtotal %d → discount %d" % (rid, sub, disc),
               commit(S, rid, lines, member=mid, redeem=10), 201,
               {"subtotal": sub, "discount": disc, "to_pay": sub - disc, "points_earned": 0,
                "points_redeemed": 0, "max_redeemable": 0,
                "balance": {"available": 0, "pending": 0}}, applied=applied)
    # 30,000.00 in two lines → 10% = 3,000.00, spread 100000.1 / 199999.9 → 100000 / 200000.
    S.set_clock("2027-01-15T12:30:00Z")
    expect("dcard: D-7 30,000.00 → 10%, spread over two lines",
           commit(S, "D-7", [line("sofa", 1000001), line("table", 1999999)], member=mid), 201,
           {"subtotal": 3000000, "discount": 300000, "to_pay": 2700000, "points_earned": 0,
            "lines": [{"sku": "sofa", "qty": 1, "amount": 1000001, "discount": 100000, "points": 0,
                       "certificates": 0, "paid": 900001, "earned": 0},
                      {"sku": "table", "qty": 1, "amount": 1999999, "discount": 200000, "points": 0,
                       "certificates": 0, "paid": 1799999, "earned": 0}]},
           applied=["discount_step:3000000"])
    expect("dcard: anonymous quote gets the card discount too",
           quote(S, [line("mop", 100000)]), 200, {"discount": 3000, "to_pay": 97000, "points_earned": 0},
           applied=["discount"])
    check("dcard: balance stays 0", balance(S, mid), bal(0))


def examples():
    for fname, fn in (("toy-store.json", toy_store_example), ("cosmetics-chain.json", cosmetics_example),
                      ("coffee-shop.json", coffee_example), ("discount-card.json", discount_card_example)):
        with_server(load_example(fname), "example " + fname, fn)


# ---------------------------------------------------------------- 2. a year in a member's life

YEAR = {
    "name": "A year", "currency": "RUB", "point_value": 100, "utc_offset": "+03:00",
    "earn": {"percent": 5, "hold_days": 14},
    "burn": {"max_percent": 50},
    "expiry": {"days": 365, "remind_days_before": 30},
    "tiers": {"basis": "rolling", "window_days": 365, "review": "monthly",
              "levels": [{"name": "Base", "min_spend": 0},
                         {"name": "Silver", "min_spend": 1000000, "discount_percent": 5},
                         {"name": "Gold", "min_spend": 3000000, "discount_percent": 10, "earn_percent": 7}]},
    "campaigns": [{"id": "spring-x2", "kind": "multiplier", "factor": 2,
                   "from": "2027-03-01", "to": "2027-03-07"}],
}
YEAR_LEVELS = [("Base", 0), ("Silver", 1000000), ("Gold", 3000000)]


def year_scenario(S):
    """One member, 2027-01-10 … 2028-02-10. Lots (earned → hold end → expiry, 365 days later):
    L1 Y-1 100  2027-01-10T09:01 → 01-24T09:01 → 2028-01-10T09:01:00Z
    L2 Y-2  47  2027-01-25T09:00 → 02-08T09:00 → 2028-01-25T09:00:00Z
    L3 Y-3 1500 2027-02-10T09:00 → 02-24T09:00 → 2028-02-10T09:00:00Z (1000 refunded in the hold)
    L4 Y-4 315  2027-02-10T09:05 → 02-24T09:05 → 2028-02-10T09:05:00Z
    L5 Y-5 126  2027-03-07T20:59:59 → 03-21T20:59:59 → 2028-03-06T20:59:59Z
    L6 Y-6  63  2027-03-07T21:00:00 → 03-21T21:00:00 → 2028-03-06T21:00:00Z
    L7 Y-7  46  2027-04-01T09:00 → 04-15T09:00 → 2028-03-31T09:00:00Z
    L8 Y-8  47  2028-01-10T09:01 → 01-24T09:01 → 2029-01-09T09:01:00Z
    """
    H = []  # expected history: (at, kind, points, account, ref)
    # Expected lots: name → [points left (available or pending), expires_at]. The balance's
    # "expiring" lists all of them with points left and expires_at after the clock (see upcoming).
    LOTS = {}
    clock = [None]

    def at(now):
        S.set_clock(now)
        clock[0] = now
        return now

    def left():
        return upcoming(LOTS.values(), clock[0])

    def state(tag, b, tier=None):
        check("year: balance %s" % tag, balance(S, mid), b)
        check_history(S, "year: history %s" % tag, mid, H)
        if tier is not None:
            check("year: member's tier %s" % tag, member(S, mid).get("tier"), tier)

    def prog(spend, tier=None):
        return progress(spend, YEAR_LEVELS, tier)

    t = at("2027-01-10T09:00:00Z")  # 12:00 local
    m = new_member(S, "Yulia", "+79105000001")
    mid = m["id"]
    check_fields("year: registered as Base with an empty balance", m,
                 {"tier": "Base", "created_at": t, "balance": {"available": 0, "pending": 0}})
    state("after registration", bal(0, tier="Base", progress=prog(0), expiring=left()), "Base")
    # The first jobs run only records the period (2027-01): no review.
    check_jobs(S, "year: first jobs run records the period, reviews nobody", NO_JOBS)
    st, pos, _ = S.call("POST", "/v1/keys", {"role": "pos", "partner": "main"})
    check("year: make a pos key", st, 201)
    check_error("year: jobs with a pos key → 403", S.call("POST", "/v1/admin/jobs/run", key=(pos or {}).get("key")),
                403, "forbidden")

    # Y-1: 2,000.00 at Base; 5% = 100 points, pending for 14 days. Spend 200,000.
    t = at("2027-01-10T09:01:00Z")
    expect("year: Y-1 earns 100 pending", commit(S, "Y-1", [line("bike", 200000)], member=mid), 201,
           {"subtotal": 200000, "discount": 0, "to_pay": 200000, "points_earned": 100,
            "points_pending": True, "status": "committed", "at": t, "tier": "Base",
            "certificates_issued": [], "balance": {"available": 0, "pending": 100}}, applied=["base"])
    H.append((t, "earn", 100, "pending", "Y-1"))
    LOTS["L1"] = [100, "2028-01-10T09:01:00Z"]
    state("after Y-1 (pending)", bal(0, 100, tier="Base", progress=prog(200000), expiring=left()), "Base")
    expect("year: quote: pending points are not spendable",
           quote(S, [line("bell", 100000)], member=mid, redeem=50), 200,
           {"max_redeemable": 0, "points_redeemed": 0, "redeem_clamped": True, "to_pay": 100000})

    # The hold ends at 2027-01-24T09:01:00Z: a second before, nothing; at it, 100 activated.
    at("2027-01-24T09:00:59Z")
    check_jobs(S, "year: jobs a second before the hold ends activate nothing", NO_JOBS)
    check("year: still pending a second before", balance(S, mid),
          bal(0, 100, tier="Base", progress=prog(200000), expiring=left()))
    t = at("2027-01-24T09:01:00Z")
    check_jobs(S, "year: jobs at the hold's end activate 100", dict(NO_JOBS, activated_points=100))
    H.append((t, "activate", 100, "available", None))
    state("after activation", bal(100, tier="Base", progress=prog(200000), expiring=left()))
    check_jobs(S, "year: jobs again at the same clock do nothing", NO_JOBS)

    # Y-2: 1,000.00, spend 50 points (cap min(500, 100) = 100); pays 950.00 → 47.5 → 47 pending.
    t = at("2027-01-25T09:00:00Z")
    expect("year: Y-2 spends 50, earns 47 pending",
           commit(S, "Y-2", [line("helmet", 100000)], member=mid, redeem=50), 201,
           {"subtotal": 100000, "discount": 0, "max_redeemable": 100, "points_redeemed": 50,
            "redeem_clamped": False, "to_pay": 95000, "points_earned": 47, "points_pending": True,
            "tier": "Base", "balance": {"available": 50, "pending": 47}}, applied=["base"])
    H += [(t, "redeem", -50, "available", "Y-2"), (t, "earn", 47, "pending", "Y-2")]
    LOTS["L1"][0] -= 50  # the only spendable lot: 100 → 50
    LOTS["L2"] = [47, "2028-01-25T09:00:00Z"]
    # Spend is the after-discount total (points are a tender): 200,000 + 100,000.
    state("after Y-2", bal(50, 47, tier="Base", progress=prog(300000), expiring=left()), "Base")

    # February's first jobs run: activates L2 (hold ends now) and reviews: Base stays Base.
    t = at("2027-02-08T09:00:00Z")
    check_jobs(S, "year: February jobs: activate 47, review 1, no downgrade",
               dict(NO_JOBS, activated_points=47, tier_reviews=1))
    H.append((t, "activate", 47, "available", None))
    state("after February's review", bal(97, tier="Base", progress=prog(300000), expiring=left()), "Base")

    # Y-3: 3 × 10,000.00 at Base (computed with the tier before it): no discount, 5% = 1500.
    # Spend 300,000 + 3,000,000 = 3,300,000 ≥ Gold's 3,000,000: Base → Gold at once.
    t = at("2027-02-10T09:00:00Z")
    expect("year: Y-3 jumps from Base to Gold, computed at Base",
           commit(S, "Y-3", [line("sofa", 1000000, 3)], member=mid), 201,
           {"subtotal": 3000000, "discount": 0, "to_pay": 3000000, "points_earned": 1500,
            "points_pending": True, "tier": "Gold", "certificates_issued": [],
            "balance": {"available": 97, "pending": 1500},
            "lines": [{"sku": "sofa", "qty": 3, "amount": 3000000, "discount": 0, "points": 0,
                       "certificates": 0, "paid": 3000000, "earned": 1500}]}, applied=["base"])
    H.append((t, "earn", 1500, "pending", "Y-3"))
    LOTS["L3"] = [1500, "2028-02-10T09:00:00Z"]
    state("after Y-3 (Gold)", bal(97, 1500, tier="Gold", progress=prog(3300000), expiring=left()), "Gold")

    # Refund 2 of the 3 sofas inside the hold: 2,000,000 back, ⌊1500 × 2/3⌋ = 1000 points
    # taken from pending (Y-3's own lot). Spend 1,300,000: below Gold, but Gold stays until
    # the next review.
    t = at("2027-02-10T09:02:00Z")
    st, f, _ = S.call("POST", "/v1/purchases/Y-3/refunds", {"refund_id": "FY-3", "lines": [{"sku": "sofa", "qty": 2}]})
    check("year: refund 2 sofas of Y-3", (st, f), (201, {
        "refund_id": "FY-3", "receipt_id": "Y-3", "partner": "main", "money_refund": 2000000,
        "points_reversed": 1000, "points_returned": 0, "at": t, "certificates_returned": [],
        "balance": {"available": 97, "pending": 500}}))
    H.append((t, "refund", -1000, "pending", "FY-3"))
    LOTS["L3"][0] -= 1000  # 1500 → 500
    state("after the refund (still Gold)",
          bal(97, 500, tier="Gold", progress=prog(1300000, "Gold"), expiring=left()), "Gold")

    # Y-4 at Gold: 10% off 5,000.00 → 4,500.00; 7% (Gold's earn beats 5%) = 315 points.
    t = at("2027-02-10T09:05:00Z")
    expect("year: Y-4 computed at Gold (10% off, 7% earn)",
           commit(S, "Y-4", [line("lamp", 500000)], member=mid), 201,
           {"subtotal": 500000, "discount": 50000, "to_pay": 450000, "points_earned": 315,
            "points_pending": True, "tier": "Gold", "balance": {"available": 97, "pending": 815},
            "lines": [{"sku": "lamp", "qty": 1, "amount": 500000, "discount": 50000, "points": 0,
                       "certificates": 0, "paid": 450000, "earned": 315}]}, applied=["tier:Gold"])
    H.append((t, "earn", 315, "pending", "Y-4"))
    LOTS["L4"] = [315, "2028-02-10T09:05:00Z"]
    state("after Y-4", bal(97, 815, tier="Gold", progress=prog(1750000, "Gold"), expiring=left()), "Gold")

    # Activation of L3 (500 left) and L4; still February: no review.
    t = at("2027-02-24T09:05:00Z")
    check_jobs(S, "year: jobs activate 500 + 315", dict(NO_JOBS, activated_points=815))
    H.append((t, "activate", 815, "available", None))
    state("after activating L3 and L4", bal(912, tier="Gold", progress=prog(1750000, "Gold"),
                                            expiring=left()), "Gold")

    # The campaign starts at local midnight of 2027-03-01 = 2027-02-28T21:00:00Z.
    # 1,000.00 at Gold: 900.00 paid; 7% = 63, × 2 = 126.
    at("2027-02-28T20:59:59Z")
    expect("year: quote the second before spring-x2 starts: no multiplier",
           quote(S, [line("vase", 100000)], member=mid), 200,
           {"discount": 10000, "to_pay": 90000, "points_earned": 63}, applied=["tier:Gold"])
    at("2027-02-28T21:00:00Z")
    expect("year: quote at the first second of spring-x2: × 2",
           quote(S, [line("vase", 100000)], member=mid), 200,
           {"discount": 10000, "to_pay": 90000, "points_earned": 126},
           applied=["tier:Gold", "campaign:spring-x2"])

    # "to": "2027-03-07" includes that whole local day: it ends at 2027-03-07T21:00:00Z.
    t = at("2027-03-07T20:59:59Z")
    expect("year: Y-5 in the campaign's last second: 7% × 2 = 14% → 126",
           commit(S, "Y-5", [line("vase", 100000)], member=mid), 201,
           {"discount": 10000, "to_pay": 90000, "points_earned": 126, "tier": "Gold",
            "balance": {"available": 912, "pending": 126}},
           applied=["tier:Gold", "campaign:spring-x2"])
    H.append((t, "earn", 126, "pending", "Y-5"))
    LOTS["L5"] = [126, "2028-03-06T20:59:59Z"]  # 365 days on, across 2028-02-29
    t = at("2027-03-07T21:00:00Z")
    expect("year: Y-6 the second after the campaign ends: 7% → 63",
           commit(S, "Y-6", [line("vase", 100000)], member=mid), 201,
           {"discount": 10000, "to_pay": 90000, "points_earned": 63, "tier": "Gold",
            "balance": {"available": 912, "pending": 189}}, applied=["tier:Gold"])
    H.append((t, "earn", 63, "pending", "Y-6"))
    LOTS["L6"] = [63, "2028-03-06T21:00:00Z"]
    state("after the campaign week", bal(912, 189, tier="Gold", progress=prog(1930000, "Gold"),
                                         expiring=left()), "Gold")

    # March's first jobs run reviews: rolling spend 200,000 + 100,000 + 1,000,000 + 450,000 +
    # 90,000 + 90,000 = 1,930,000 → Silver (a downgrade). Nothing to activate yet.
    at("2027-03-08T00:00:00Z")
    check_jobs(S, "year: March review downgrades Gold → Silver",
               dict(NO_JOBS, tier_reviews=1, tier_downgrades=1))
    state("after March's review (Silver)", bal(912, 189, tier="Silver", progress=prog(1930000),
                                               expiring=left()), "Silver")
    # L5's hold ended a second earlier, L6's ends now (local 2027-03-22 00:00: still March).
    t = at("2027-03-21T21:00:00Z")
    check_jobs(S, "year: jobs activate 126 + 63", dict(NO_JOBS, activated_points=189))
    H.append((t, "activate", 189, "available", None))
    state("after activating L5 and L6", bal(1101, tier="Silver", progress=prog(1930000),
                                            expiring=left()), "Silver")

    # Y-7 at Silver: 5% off 1,000.00 → 950.00; cap ⌊50% × 950⌋ = 475; spend 30 (from the
    # earliest lot, L1: 50 → 20); pays 920.00 → 5% = 46 pending. Spend 2,025,000.
    t = at("2027-04-01T09:00:00Z")
    expect("year: Y-7 at Silver spends 30, earns 46",
           commit(S, "Y-7", [line("rug", 100000)], member=mid, redeem=30), 201,
           {"discount": 5000, "max_redeemable": 475, "points_redeemed": 30, "to_pay": 92000,
            "points_earned": 46, "tier": "Silver", "balance": {"available": 1071, "pending": 46}},
           applied=["tier:Silver", "base"])
    H += [(t, "redeem", -30, "available", "Y-7"), (t, "earn", 46, "pending", "Y-7")]
    LOTS["L1"][0] -= 30  # 50 → 20
    LOTS["L7"] = [46, "2028-03-31T09:00:00Z"]
    t = at("2027-04-15T09:00:00Z")
    check_jobs(S, "year: April jobs: activate 46, review 1, Silver stays",
               dict(NO_JOBS, activated_points=46, tier_reviews=1))
    H.append((t, "activate", 46, "available", None))
    state("after April's jobs", bal(1117, tier="Silver", progress=prog(2025000), expiring=left()), "Silver")

    # Reminders, 30 days ahead. At 2027-12-12T00:00Z the horizon is 2028-01-11T00:00Z:
    # only L1 (20 points, 2028-01-10T09:01:00Z) is reminded. December's review: Silver stays.
    # The balance lists every upcoming expiry whatever the horizon: L1 20, L2 47, L3 500,
    # L4 315, L5 126, L6 63, L7 46 (soonest first, 1117 in all).
    at("2027-12-12T00:00:00Z")
    ALL7 = [{"points": 20, "expires_at": "2028-01-10T09:01:00Z"},
            {"points": 47, "expires_at": "2028-01-25T09:00:00Z"},
            {"points": 500, "expires_at": "2028-02-10T09:00:00Z"},
            {"points": 315, "expires_at": "2028-02-10T09:05:00Z"},
            {"points": 126, "expires_at": "2028-03-06T20:59:59Z"},
            {"points": 63, "expires_at": "2028-03-06T21:00:00Z"},
            {"points": 46, "expires_at": "2028-03-31T09:00:00Z"}]
    check("year: balance lists all 7 upcoming expiries, not only the 30-day horizon", balance(S, mid),
          bal(1117, tier="Silver", progress=prog(2025000), expiring=ALL7))
    check_jobs(S, "year: December jobs: one reminder, one review",
               dict(NO_JOBS, reminders=1, tier_reviews=1))
    check_jobs(S, "year: jobs again: no reminder twice", NO_JOBS)
    # Horizon 2028-01-29: L2 (47, 2028-01-25T09:00:00Z) joins; L1 was reminded already.
    at("2027-12-30T00:00:00Z")
    check_jobs(S, "year: jobs remind L2 only", dict(NO_JOBS, reminders=1))
    check("year: balance still lists all 7 upcoming expiries after the reminders", balance(S, mid),
          bal(1117, tier="Silver", progress=prog(2025000), expiring=left()))
    at("2028-01-02T00:00:00Z")
    check_jobs(S, "year: January 2028 review: Silver stays", dict(NO_JOBS, tier_reviews=1))
    state("in January 2028", bal(1117, tier="Silver", progress=prog(2025000), expiring=left()), "Silver")

    # L1 expires at 2028-01-10T09:01:00Z. A second before, all 1117 are spendable;
    # at that second its 20 are not. Basket 10,000.00 at Silver: cap ⌊50% × 9,500⌋ = 4750.
    at("2028-01-10T09:00:59Z")
    expect("year: quote a second before L1 expires: 1117 spendable",
           quote(S, [line("piano", 1000000)], member=mid, redeem=5000), 200,
           {"discount": 50000, "max_redeemable": 1117, "points_redeemed": 1117, "redeem_clamped": True})
    t = at("2028-01-10T09:01:00Z")
    expect("year: quote at L1's expiry second: 1097 spendable",
           quote(S, [line("piano", 1000000)], member=mid, redeem=5000), 200,
           {"discount": 50000, "max_redeemable": 1097, "points_redeemed": 1097, "redeem_clamped": True})
    # L1's expires_at is now, not after now: it is no longer listed; L2 … L7 are.
    check_fields("year: balance at L1's expiry second (not burnt yet)", balance(S, mid),
                 {"available": 1117, "pending": 0, "spendable": 1097, "tier": "Silver",
                  "expiring": left()})
    # Y-8 at that second: spends 10 from L2 (L1 is not spendable), pays 940.00 → 47 pending.
    expect("year: Y-8 at L1's expiry second spends from L2",
           commit(S, "Y-8", [line("lamp", 100000)], member=mid, redeem=10), 201,
           {"discount": 5000, "max_redeemable": 475, "points_redeemed": 10, "to_pay": 94000,
            "points_earned": 47, "tier": "Silver", "balance": {"available": 1107, "pending": 47}},
           applied=["tier:Silver", "base"])
    H += [(t, "redeem", -10, "available", "Y-8"), (t, "earn", 47, "pending", "Y-8")]
    LOTS["L2"][0] -= 10  # 47 → 37
    LOTS["L8"] = [47, "2029-01-09T09:01:00Z"]  # 365 days after 2028-01-10 (a leap year)
    check_jobs(S, "year: jobs at L1's expiry second burn its 20", dict(NO_JOBS, expired_points=20))
    H.append((t, "expire", -20, "available", None))
    LOTS["L1"][0] = 0
    check_jobs(S, "year: jobs again at the same second expire nothing", NO_JOBS)
    # L2 37, L3 500, L4 315, L5 126, L6 63, L7 46 and the new pending L8 47.
    check_fields("year: balance after the expiry", balance(S, mid),
                 {"available": 1087, "pending": 47, "spendable": 1087, "tier": "Silver",
                  "expiring": left()})
    check_history(S, "year: history after the expiry", mid, H)

    # `kopilka jobs run` on the live database at the server's clock: nothing is due.
    rc, js = jobs_cli(S.db, "2028-01-10T09:01:00Z")
    check("year: `kopilka jobs run` on the live database: nothing due", (rc, js), (0, NO_JOBS))

    # On a copy, a month later (2028-02-10T09:03:00Z): L2 (37) and L3 (500) expire → 537;
    # L8's hold ended → 47 activated; reminders for L4, L5, L6 (horizon 2028-03-11T09:03) → 3;
    # February's review: the window starts 2027-02-10T09:03, after Y-3 and its refund, so the
    # spend is 450,000 + 90,000 + 90,000 + 95,000 + 95,000 = 820,000 → Base: a downgrade.
    copy = os.path.join(S.dir, "copy.db")
    S.copy_db(copy)
    rc, js = jobs_cli(copy, "2028-02-10T09:03:00Z")
    check("year: `kopilka jobs run --now` on a copy", (rc, js), (0, {
        "referrals_paid": 0, "birthday_bonuses": 0, "holds_released": 0, "expired_points": 537, "activated_points": 47, "reminders": 3, "certificates_issued": 0,
        "tier_reviews": 1, "tier_downgrades": 1}))
    rc, js = jobs_cli(copy, "2028-02-10T09:03:00Z")
    check("year: the same run again on the copy does nothing", (rc, js), (0, NO_JOBS))
    rc, out = S.verify(copy)
    check_true("year: verify the copy", rc == 0 and out.startswith("ok"), "exit %d: %r" % (rc, out[:300]))
    # The live database is untouched by the copy's run.
    check_fields("year: the live balance is unchanged", balance(S, mid),
                 {"available": 1087, "pending": 47, "tier": "Silver", "expiring": left()})


def a_year():
    with_server(YEAR, "a year in a member's life", year_scenario)


# ---------------------------------------------------------------- 3. boundaries

EDGE = {"name": "Edge", "point_value": 100, "earn": {"percent": 5},
        "tiers": {"basis": "lifetime",
                  "levels": [{"name": "Base", "min_spend": 0},
                             {"name": "Silver", "min_spend": 1000000, "discount_percent": 5},
                             {"name": "Gold", "min_spend": 2000000, "discount_percent": 10}]}}
EDGE_LEVELS = [("Base", 0), ("Silver", 1000000), ("Gold", 2000000)]


def tier_edges(S):
    S.set_clock("2027-05-01T10:00:00Z")
    ids = {n: new_member(S, n, "+7910600000%d" % i)["id"] for i, n in enumerate("ABCD")}

    def pr(s):
        return progress(s, EDGE_LEVELS)

    # A: exactly 10,000.00 → Silver.
    expect("edge: spend == Silver's min_spend → Silver",
           commit(S, "E-A1", [line("x", 1000000)], member=ids["A"]), 201,
           {"points_earned": 500, "tier": "Silver"}, applied=["base"])
    check("edge: A's balance", balance(S, ids["A"]), bal(500, tier="Silver", progress=pr(1000000)))
    # B: one kopeck below → Base; then 1 kopeck more → Silver (earns ⌊0.0005⌋ = 0).
    expect("edge: one kopeck below → Base", commit(S, "E-B1", [line("x", 999999)], member=ids["B"]), 201,
           {"points_earned": 499, "tier": "Base"}, applied=["base"])
    check("edge: B's balance: 1 kopeck to Silver", balance(S, ids["B"]),
          bal(499, tier="Base", progress=pr(999999)))
    expect("edge: the last kopeck → Silver", commit(S, "E-B2", [line("pin", 1)], member=ids["B"]), 201,
           {"points_earned": 0, "discount": 0, "tier": "Silver"}, applied=[])
    check("edge: B's balance at Silver", balance(S, ids["B"]), bal(499, tier="Silver", progress=pr(1000000)))
    # C: one purchase crosses both thresholds: Base → Gold.
    expect("edge: one purchase Base → Gold", commit(S, "E-C1", [line("x", 2000000)], member=ids["C"]), 201,
           {"discount": 0, "points_earned": 1000, "tier": "Gold"}, applied=["base"])
    check("edge: C's balance at the top", balance(S, ids["C"]), bal(1000, tier="Gold", progress=pr(2000000)))
    # Spend counts after discount. A at Silver buys 10,526.31: 5% = ⌊52,631.55⌋ = 52,631 off →
    # 1,000,000 → 2,000,000 = Gold exactly. D at Silver buys 10,526.30: 5% = ⌊52,631.5⌋ → 999,999
    # → 1,999,999: still Silver.
    expect("edge: A's after-discount spend reaches Gold exactly",
           commit(S, "E-A2", [line("x", 1052631)], member=ids["A"]), 201,
           {"discount": 52631, "to_pay": 1000000, "points_earned": 500, "tier": "Gold"},
           applied=["tier:Silver", "base"])
    check("edge: A's balance at Gold", balance(S, ids["A"]), bal(1000, tier="Gold", progress=pr(2000000)))
    commit(S, "E-D1", [line("x", 1000000)], member=ids["D"])
    expect("edge: D's after-discount spend one kopeck below Gold",
           commit(S, "E-D2", [line("x", 1052630)], member=ids["D"]), 201,
           {"discount": 52631, "to_pay": 999999, "points_earned": 499, "tier": "Silver"},
           applied=["tier:Silver", "base"])
    check("edge: D's balance: 1 kopeck to Gold", balance(S, ids["D"]),
          bal(999, tier="Silver", progress=pr(1999999)))


PREC = {"name": "Precedence", "point_value": 100, "utc_offset": "+03:00",
        "earn": {"percent": 5}, "burn": {"max_percent": 50},
        "discount": {"percent": 3, "check_steps": [{"min_subtotal": 500000, "percent": 8}]},
        "tiers": {"basis": "lifetime",
                  "levels": [{"name": "Base", "min_spend": 0},
                             {"name": "Silver", "min_spend": 100000, "discount_percent": 5},
                             {"name": "Gold", "min_spend": 10000000, "discount_percent": 12}]},
        "campaigns": [{"id": "sale", "kind": "discount_percent", "percent": 10, "categories": ["sale"]},
                      {"id": "gold-new", "kind": "discount_percent", "percent": 20, "tiers": ["Gold"],
                       "categories": ["new"]}]}


def precedence(S):
    """Per line the highest of card, check step, tier and campaign discounts; never added up."""
    S.set_clock("2027-05-01T10:00:00Z")
    mid = new_member(S, "Polina", "+79107000001")["id"]
    # Base (no tier discount): the 3% card. 2,000.00 → 60.00 off → 1,940.00 → 97 points.
    # Spend 194,000 ≥ 100,000 → Silver.
    expect("prec: Base: card 3%", commit(S, "P-1", [line("item", 200000)], member=mid), 201,
           {"discount": 6000, "to_pay": 194000, "points_earned": 97, "tier": "Silver"},
           applied=["discount", "base"])
    expect("prec: Silver: tier 5% beats card 3%", quote(S, [line("item", 100000)], member=mid), 200,
           {"discount": 5000, "to_pay": 95000, "points_earned": 47}, applied=["tier:Silver", "base"])
    expect("prec: Silver: campaign 10% beats tier 5% and card 3%",
           quote(S, [line("dress", 100000, category="sale")], member=mid), 200,
           {"discount": 10000, "to_pay": 90000, "points_earned": 45}, applied=["campaign:sale", "base"])
    expect("prec: Silver: gold-new is only for Gold",
           quote(S, [line("lipstick", 100000, category="new")], member=mid), 200,
           {"discount": 5000, "points_earned": 47}, applied=["tier:Silver", "base"])
    # 6,000.00 ≥ 5,000.00: the 8% step beats tier 5% on the item line (40,000); the sale line
    # takes the campaign's 10% (10,000). Pays 5,500.00 → 275 points.
    st, a = quote(S, [line("item", 500000), line("dress", 100000, category="sale")], member=mid)
    expect("prec: Silver: step 8% on one line, campaign 10% on the other", (st, a), 200,
           {"subtotal": 600000, "discount": 50000, "to_pay": 550000, "points_earned": 275},
           applied=["discount_step:500000", "campaign:sale", "base"])
    check("prec: per-line discounts 40000 / 10000",
          [l.get("discount") for l in a.get("lines") or []], [40000, 10000])
    expect("prec: anonymous: card 3%", quote(S, [line("item", 100000)]), 200,
           {"discount": 3000, "to_pay": 97000, "points_earned": 0}, applied=["discount"])
    expect("prec: anonymous: campaign 10% on a sale line", quote(S, [line("dress", 100000, category="sale")]),
           200, {"discount": 10000, "points_earned": 0}, applied=["campaign:sale"])
    # To Gold: 120,000.00 at Silver → 8% step = 960,000 off → 11,040,000 paid → 5,520 points;
    # spend 194,000 + 11,040,000 ≥ 10,000,000 → Gold.
    S.set_clock("2027-05-01T10:01:00Z")
    expect("prec: P-2 at Silver: step 8% beats tier 5%; makes Gold",
           commit(S, "P-2", [line("tv", 12000000)], member=mid), 201,
           {"discount": 960000, "to_pay": 11040000, "points_earned": 5520, "tier": "Gold"},
           applied=["discount_step:500000", "base"])
    expect("prec: Gold: tier 12% beats campaign 10%",
           quote(S, [line("dress", 100000, category="sale")], member=mid), 200,
           {"discount": 12000, "to_pay": 88000, "points_earned": 44}, applied=["tier:Gold", "base"])
    expect("prec: Gold: tier 12% beats the 8% step", quote(S, [line("item", 600000)], member=mid), 200,
           {"discount": 72000, "to_pay": 528000, "points_earned": 264}, applied=["tier:Gold", "base"])
    expect("prec: Gold: gold-new 20% beats tier 12%",
           quote(S, [line("lipstick", 100000, category="new")], member=mid), 200,
           {"discount": 20000, "to_pay": 80000, "points_earned": 40}, applied=["campaign:gold-new", "base"])


BUDGET = {"name": "Budgets", "point_value": 100, "earn": {"percent": 5},
          "campaigns": [{"id": "last-one", "kind": "bonus_points", "points": 300, "skus": ["promo"],
                         "budget_points": 300},
                        {"id": "x2", "kind": "multiplier", "factor": 2, "skus": ["gadget"],
                         "budget_points": 100},
                        {"id": "race", "kind": "bonus_points", "points": 500, "skus": ["race-item"],
                         "budget_points": 500}]}


def budgets(S):
    S.set_clock("2027-05-01T10:00:00Z")
    u1 = new_member(S, "U1", "+79108000001")["id"]
    u2 = new_member(S, "U2", "+79108000002")["id"]
    # 100.00 of promo: 5% = 5, + 300 while the 300-point budget lasts.
    expect("budget: quote before: 305", quote(S, [line("promo", 10000)], member=u2), 200,
           {"points_earned": 305}, applied=["base", "campaign:last-one"])
    expect("budget: first purchase gets the whole budget", commit(S, "B-1", [line("promo", 10000)], member=u1),
           201, {"points_earned": 305, "balance": {"available": 305, "pending": 0}},
           applied=["base", "campaign:last-one"])
    expect("budget: second purchase does not", commit(S, "B-2", [line("promo", 10000)], member=u2),
           201, {"points_earned": 5, "balance": {"available": 5, "pending": 0}}, applied=["base"])
    expect("budget: quote after: 5", quote(S, [line("promo", 10000)], member=u1), 200,
           {"points_earned": 5}, applied=["base"])
    # Multiplier x2 with a 100-point budget; its contribution = earned with it − without it.
    # B-3: 1,000.00 → 50 × 2 = 100, contribution 50 ≤ 100 → applies (50 left).
    # B-4: 2,000.00 → contribution 100 > 50 → does not apply: 100.
    # B-5: 1,000.00 → contribution 50 ≤ 50 → applies: 100 (0 left). B-6: 50.
    for rid, price, pts, on in (("B-3", 100000, 100, True), ("B-4", 200000, 100, False),
                                ("B-5", 100000, 100, True), ("B-6", 100000, 50, False)):
        expect("budget: %s gadget %d → %d points%s" % (rid, price, pts, " with x2" if on else ""),
               commit(S, rid, [line("gadget", price)], member=u1), 201, {"points_earned": pts},
               applied=["base"] + (["campaign:x2"] if on else []))

    # 8 threads race for race's 500-point budget (one purchase's worth): exactly one wins.
    racers = [new_member(S, "R%d" % i, "+7910900000%d" % i)["id"] for i in range(8)]
    barrier = threading.Barrier(8)
    results = [None] * 8

    def worker(i):
        c = S.new_client()
        try:
            barrier.wait(30)
            results[i] = commit(S, "RACE-%d" % i, [line("race-item", 10000)], member=racers[i], client=c)
        except Exception as e:  # noqa: BLE001
            results[i] = (None, {"error": repr(e)})
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    check("budget: race: all 8 purchases committed", [r[0] if r else None for r in results], [201] * 8)
    earned = sorted(r[1].get("points_earned", -1) if r else -1 for r in results)
    check("budget: race: exactly one purchase got the 500 bonus", earned, [5] * 7 + [505])
    winners = [i for i, r in enumerate(results) if r and "campaign:race" in (r[1].get("applied") or [])]
    check("budget: race: exactly one answer lists campaign:race", len(winners), 1)
    check("budget: race: the balances add up",
          sorted(balance(S, r).get("available", -1) for r in racers), [5] * 7 + [505])
    expect("budget: race: nothing left afterwards", quote(S, [line("race-item", 10000)], member=u1), 200,
           {"points_earned": 5}, applied=["base"])


THRESH = {"name": "Thresholds", "point_value": 100, "earn": {"percent": 10}, "burn": {"max_percent": 50},
          "expiry": {"days": 30}, "thresholds": [{"points": 1000, "gift_certificate": 50000}]}


def thresholds(S):
    S.set_clock("2027-05-01T10:00:00Z")
    g1 = new_member(S, "G1", "+79110000001")["id"]
    # 25,000.00 × 10% = 2,500 points → two certificates of 500.00 (1000 points each), 500 left.
    t = "2027-05-01T10:00:00Z"
    st, a = commit(S, "H-1", [line("bike", 2500000)], member=g1)
    expect("thresh: H-1 earns 2500", (st, a), 201,
           {"points_earned": 2500, "balance": {"available": 500, "pending": 0}}, applied=["base"])
    certs = a.get("certificates_issued") if isinstance(a.get("certificates_issued"), list) else []
    check("thresh: two certificates of 50000 for 1000 points each",
          [{k: c.get(k) for k in ("amount", "points")} for c in certs],
          [{"amount": 50000, "points": 1000}] * 2)
    codes = [c.get("code") for c in certs]
    check_true("thresh: two distinct GC- codes",
               len(set(codes)) == 2 and all(isinstance(c, str) and c.startswith("GC-") for c in codes),
               repr(codes))
    # The certificates took 2000 of the lot's 2500; expiry 30 days after the purchase. The
    # balance lists every upcoming expiry (with or without a reminder setting).
    check("thresh: balance 500 left", balance(S, g1),
          bal(500, expiring=[{"points": 500, "expires_at": "2027-05-31T10:00:00Z"}]))
    check_history(S, "thresh: history: earn 2500, two redeems of 1000", g1,
                  [(t, "earn", 2500, "available", "H-1")] +
                  [(t, "redeem", -1000, "available", c) for c in codes])
    # 40.00 × 10% = 4 points: 504 < 1000, nothing converted.
    S.set_clock("2027-05-01T10:01:00Z")
    expect("thresh: a small purchase converts nothing",
           commit(S, "H-2", [line("pin", 4000)], member=g1), 201,
           {"points_earned": 4, "certificates_issued": [], "balance": {"available": 504, "pending": 0}})

    # With a hold, the threshold is reached when jobs activate the points.
    v2 = dict(THRESH, earn={"percent": 10, "hold_days": 1})
    check("thresh: PUT v2 with hold_days 1", S.call("PUT", "/v1/program", v2)[:2], (200, {"version": 2}))
    g2 = new_member(S, "G2", "+79110000002")["id"]
    expect("thresh: H-3 earns 1200 pending, no certificate yet",
           commit(S, "H-3", [line("bike", 1200000)], member=g2), 201,
           {"points_earned": 1200, "points_pending": True, "certificates_issued": [],
            "balance": {"available": 0, "pending": 1200}})
    t2 = "2027-05-02T10:01:00Z"  # H-3 was at 2027-05-01T10:01:00Z: its hold ends now
    S.set_clock(t2)
    check_jobs(S, "thresh: jobs activate 1200 and issue one certificate",
               dict(NO_JOBS, activated_points=1200, certificates_issued=1))
    check("thresh: G2 has 200 left", balance(S, g2),
          bal(200, expiring=[{"points": 200, "expires_at": "2027-05-31T10:01:00Z"}]))
    h = history(S, g2)
    redeems = [e for e in h if e.get("kind") == "redeem"] if isinstance(h, list) else h
    check("thresh: G2's redeem row", [(e.get("points"), e.get("account"), e.get("at")) for e in redeems],
          [(-1000, "available", t2)])
    check_true("thresh: its ref is a certificate code",
               len(redeems) == 1 and str(redeems[0].get("ref")).startswith("GC-"), repr(redeems))
    check("thresh: G1 untouched by the jobs", balance(S, g1),
          bal(504, expiring=[{"points": 500, "expires_at": "2027-05-31T10:00:00Z"},
                             {"points": 4, "expires_at": "2027-05-31T10:01:00Z"}]))


STAMPS = {"name": "Stamps", "point_value": 100, "earn": {"percent": 5},
          "stamps": [{"id": "coffee", "skus": ["coffee"], "every": 5}]}


def stamps(S):
    S.set_clock("2027-05-01T10:00:00Z")
    mid = new_member(S, "Sasha", "+79111000001")["id"]
    # S-1: 3 coffees at 200.00 (stamps 1-3): 600.00 → 30 points.
    expect("stamps: S-1, 3 coffees", commit(S, "S-1", [line("coffee", 20000, 3)], member=mid), 201,
           {"discount": 0, "to_pay": 60000, "points_earned": 30}, applied=["base"])
    # S-2: 3 more: the 2nd of them is the 5th → free. Pays 400.00 → 20. Card at 1.
    expect("stamps: S-2, the 5th coffee free", commit(S, "S-2", [line("coffee", 20000, 3)], member=mid), 201,
           {"discount": 20000, "to_pay": 40000, "points_earned": 20}, applied=["stamp:coffee", "base"])
    # Refund 2 coffees of S-1: 400.00 back, ⌊30 × 2/3⌋ = 20 points; the card goes 1 → 0 (not −1).
    st, f, _ = S.call("POST", "/v1/purchases/S-1/refunds", {"refund_id": "SF-1", "lines": [{"sku": "coffee", "qty": 2}]})
    check_fields("stamps: refund 2 coffees of S-1", dict(f or {}, status_code=st),
                 {"status_code": 201, "money_refund": 40000, "points_reversed": 20, "points_returned": 0,
                  "balance": {"available": 30, "pending": 0}})
    # With the card at 0, 4 coffees earn 4 stamps and none is free (at 1 the 4th would be).
    expect("stamps: S-3, 4 coffees after the refund: none free",
           commit(S, "S-3", [line("coffee", 20000, 4)], member=mid), 201,
           {"discount": 0, "to_pay": 80000, "points_earned": 40}, applied=["base"])
    # The next one is the 5th (at −1 it would be the 4th).
    expect("stamps: S-4, the next coffee is the 5th: free",
           commit(S, "S-4", [line("coffee", 20000)], member=mid), 201,
           {"discount": 20000, "to_pay": 0, "points_earned": 0,
            "balance": {"available": 70, "pending": 0}}, applied=["stamp:coffee"])
    # Other SKUs do not count: 5 teas, no stamp.
    expect("stamps: quote, 5 teas: no stamps", quote(S, [line("tea", 20000, 5)], member=mid), 200,
           {"discount": 0}, applied=["base"])
    check("stamps: balance", balance(S, mid), bal(70))


SEGMENTS = {"name": "Segments", "point_value": 100, "earn": {"percent": 5},
            "charity": {"funds": [{"id": "kids", "name": "Children's hospital"}]},
            "campaigns": [{"id": "club", "kind": "bonus_points", "points": 300,
                           "segments": ["vip", "staff"]},
                          {"id": "staff-off", "kind": "discount_percent", "percent": 10,
                           "segments": ["staff"]},
                          {"id": "green", "kind": "charity_percent", "percent": 1, "fund": "kids",
                           "segments": ["green"]}]}


def segments(S):
    """A campaign's "segments" filter: only members the shop put in a listed segment."""
    S.set_clock("2027-05-01T10:00:00Z")
    st, vip, _ = S.call("POST", "/v1/members", {"phone": "+79111000101", "name": "Vera",
                                                "consents": CONSENTS, "segments": ["vip", "green"]})
    check("segments: registered with two, sorted", (st, (vip or {}).get("segments")),
          (201, ["green", "vip"]))
    plain = new_member(S, "Petr", "+79111000102")
    check("segments: registered without: none", plain.get("segments"), [])
    check("segments: GET shows them", member(S, vip["id"]).get("segments"), ["green", "vip"])
    # 1000.00 at 5%: 50 points; "club" adds 300 for vip and staff only; "green" gives 1% of
    # what was paid (10 points) to the fund (a charity campaign is not in "applied").
    expect("segments: vip gets the club's bonus and gives to the fund",
           commit(S, "SG-1", [line("bread", 100000)], member=vip["id"]), 201,
           {"discount": 0, "to_pay": 100000, "points_earned": 350, "charity_points": {"kids": 10}},
           applied=["base", "campaign:club"])
    st, sg2 = commit(S, "SG-2", [line("bread", 100000)], member=plain["id"])
    expect("segments: a member in none gets no segment's campaign", (st, sg2), 201,
           {"discount": 0, "to_pay": 100000, "points_earned": 50}, applied=["base"])
    check("segments: nor gives to the fund", "charity_points" in sg2, False)
    expect("segments: an anonymous buyer gets none",
           quote(S, [line("bread", 100000)]), 200, {"discount": 0, "to_pay": 100000},
           applied=[])
    # PATCH replaces the whole set.
    st, p, _ = S.call("PATCH", "/v1/members/%s" % plain["id"], {"segments": ["staff"]})
    check("segments: PATCH puts Petr in staff", (st, (p or {}).get("segments")), (200, ["staff"]))
    expect("segments: staff get the club's bonus and the staff discount",
           quote(S, [line("bread", 100000)], member=plain["id"]), 200,
           {"discount": 10000, "to_pay": 90000, "points_earned": 345},
           applied=["base", "campaign:club", "campaign:staff-off"])
    st, p, _ = S.call("PATCH", "/v1/members/%s" % plain["id"], {"name": "Petr I."})
    check("segments: a PATCH without them keeps them", (st, (p or {}).get("segments")),
          (200, ["staff"]))
    for body, msg in (({"segments": ["Staff"]}, "segments[0]: must be 1 to 32 bytes of a-z 0-9 _"),
                      ({"segments": ["a", "a"]}, "segments[1]: a is listed twice"),
                      ({"segments": "staff"}, "segments: must be an array of at most 16"),
                      ({"segments": ["s%d" % i for i in range(17)]},
                       "segments: must be an array of at most 16")):
        check_error("segments: PATCH %s → 400" % json.dumps(body)[:40],
                    S.call("PATCH", "/v1/members/%s" % plain["id"], body), 400, "invalid_request",
                    msg_starts=msg)
    check_error("segments: registering with a bad one → 400",
                S.call("POST", "/v1/members", {"phone": "+79111000103", "consents": CONSENTS,
                                               "segments": ["ok", ""]}),
                400, "invalid_request", msg_starts="segments[1]: must be")
    check("segments: refused PATCHes changed nothing", member(S, plain["id"]).get("segments"),
          ["staff"])
    st, p, _ = S.call("PATCH", "/v1/members/%s" % plain["id"], {"segments": []})
    check("segments: PATCH [] takes him out of all", (st, (p or {}).get("segments")), (200, []))
    expect("segments: out of staff, no staff campaign",
           quote(S, [line("bread", 100000)], member=plain["id"]), 200,
           {"discount": 0, "points_earned": 50}, applied=["base"])
    # Erasure removes them with the personal data.
    st, _, _ = S.call("DELETE", "/v1/members/%s" % vip["id"])
    check("segments: erase → 200", st, 200)
    check("segments: an erased member is in none", member(S, vip["id"]).get("segments"), [])


LOTS = {"name": "Lots", "point_value": 100, "earn": {"percent": 10}, "burn": {"max_percent": 100},
        "expiry": {"days": 30}}


def many_lots(S):
    """A member with more open lots than the engine reads in one go (32): quote and spend them all."""
    mid = new_member(S, "L", "+79112000001")["id"]
    for i in range(40):  # one lot each, an hour apart: 40 different expiry instants
        S.set_clock("2027-05-01T%02d:%02d:00Z" % (i // 4, (i % 4) * 15))
        commit(S, "L-%d" % i, [line("x", 10000)], member=mid)
    check("lots: 40 lots of 10", balance(S, mid)["available"], 400)
    expect("lots: quote sees all 40", quote(S, [line("x", 100000)], member=mid, redeem=400), 200,
           {"max_redeemable": 400, "points_redeemed": 400, "to_pay": 60000})
    expect("lots: spend all 40", commit(S, "L-spend", [line("x", 100000)], member=mid, redeem=400),
           201, {"points_redeemed": 400, "points_earned": 60, "balance": {"available": 60, "pending": 0}})


ROLL = {"name": "Rolling", "point_value": 100, "earn": {"percent": 5},
        "tiers": {"basis": "rolling", "window_days": 365, "review": "monthly",
                  "levels": [{"name": "Base", "min_spend": 0},
                             {"name": "Silver", "min_spend": 1000000, "discount_percent": 5}]}}
ROLL_LEVELS = [("Base", 0), ("Silver", 1000000)]


def holds_in_window(S):
    """A rolling window counts committed purchases only: a hold counts once, from its confirm;
    a cancelled hold never (docs/api.md, "Two-phase purchases")."""
    S.set_clock("2027-05-01T10:00:00Z")
    a = new_member(S, "Hold-A", "+79108000001")["id"]
    b = new_member(S, "Hold-B", "+79108000002")["id"]

    def pr(s):
        return progress(s, ROLL_LEVELS)

    # A: a hold of 8,000.00, cancelled; then 3,000.00 committed: 3,000.00 in the window.
    expect("holds: A holds 8,000.00", commit(S, "RH-1", [line("x", 800000)], member=a, hold=True), 201,
           {"status": "held", "tier": "Base"})
    check("holds: A's window while held: nothing yet", balance(S, a), bal(0, tier="Base", progress=pr(0)))
    check("holds: A cancels", S.call("POST", "/v1/purchases/RH-1/cancel")[0], 200)
    expect("holds: A's 3,000.00 after the cancelled hold stays Base",
           commit(S, "RC-1", [line("x", 300000)], member=a), 201, {"points_earned": 150, "tier": "Base"})
    check("holds: A's window: the 3,000.00 alone", balance(S, a), bal(150, tier="Base", progress=pr(300000)))
    # B: a hold of 6,000.00 confirmed counts once: 6,000.00, Base; 4,000.00 more reaches Silver.
    commit(S, "RH-2", [line("x", 600000)], member=b, hold=True)
    st, c, _ = S.call("POST", "/v1/purchases/RH-2/confirm")
    check_fields("holds: B confirms 6,000.00: Base", dict(c, status_code=st) if isinstance(c, dict) else c,
                 {"status_code": 200, "status": "committed", "points_earned": 300, "tier": "Base"})
    check("holds: B's window: 6,000.00 once", balance(S, b), bal(300, tier="Base", progress=pr(600000)))
    expect("holds: B's 4,000.00 more reaches Silver", commit(S, "RC-2", [line("x", 400000)], member=b), 201,
           {"points_earned": 200, "tier": "Silver"})
    check("holds: B's window: 10,000.00", balance(S, b), bal(500, tier="Silver", progress=pr(1000000)))
    S.check_verify("holds in a rolling window")


def boundaries():
    for prog, name, fn in ((EDGE, "tier edges", tier_edges), (PREC, "discount precedence", precedence),
                           (BUDGET, "campaign budgets", budgets), (THRESH, "thresholds", thresholds),
                           (STAMPS, "stamp cards", stamps), (LOTS, "many open lots", many_lots),
                           (ROLL, "holds in a rolling window", holds_in_window),
                           (SEGMENTS, "segments", segments)):
        with_server(prog, name, fn)


# ---------------------------------------------------------------- 4. invalid program documents

def invalid_programs(S):
    before = S.call("GET", "/v1/program")[:2]
    check("invalid: the program before", before, (200, {"version": 1, "program": PREC}))
    lv = [{"name": "Base", "min_spend": 0}, {"name": "Silver", "min_spend": 100000}]

    def camp(**c):
        return dict(PREC, campaigns=[dict({"id": "c"}, **c)])

    cases = [
        (camp(kind="multiplier", factor=0), "campaigns[0].factor:"),
        (camp(kind="multiplier", factor=-2), "campaigns[0].factor:"),
        (camp(kind="multiplier"), "campaigns[0].factor:"),
        (camp(kind="triple", factor=3), "campaigns[0].kind:"),
        (camp(kind="bonus_percent", percent=5, segments=["vip", "V.I.P."]),
         "campaigns[0].segments[1]: must be 1 to 32 bytes of a-z 0-9 _ -"),
        (camp(kind="bonus_percent", percent=5, segments=[]), "campaigns[0].segments:"),
        (dict(PREC, events={"birthday": {"points": 500, "bogus": 1}}), "events.birthday.bogus: unknown field"),
        (camp(kind="bonus_percent", percent=5, hours="25-30"), "campaigns[0].hours"),
        (camp(kind="bonus_percent", percent=5, days_of_week=[8]), "campaigns[0].days_of_week"),
        (camp(kind="bonus_percent", percent=5, channels=["fax"]), "campaigns[0].channels"),
        (camp(kind="discount_percent", percent=10, tiers=["Diamond"]), "campaigns[0].tiers"),
        (camp(kind="bonus_percent", percent=5, **{"from": "2027-03-10", "to": "2027-03-01"}), "campaigns[0]."),
        (camp(kind="bonus_percent", percent=5, **{"from": "2027-02-30"}), "campaigns[0].from:"),
        (camp(kind="bonus_percent", percent=5, min_subtotal=-1), "campaigns[0].min_subtotal:"),
        (camp(kind="bonus_points", points=100, budget_points=-5), "campaigns[0].budget_points:"),
        (camp(kind="discount_percent", percent=101), "campaigns[0].percent:"),
        (camp(kind="discount_percent", percent=10, bogus=1), "campaigns[0].bogus:"),
        (dict(PREC, campaigns=[{"id": "a", "kind": "bonus_points", "points": 5},
                               {"id": "b", "kind": "bonus_points", "points": 0}]), "campaigns[1].points:"),
        (dict(PREC, campaigns=[{"id": "a", "kind": "bonus_points", "points": 5},
                               {"id": "a", "kind": "bonus_points", "points": 6}]), "campaigns[1]"),
        (dict(PREC, tiers={"basis": "weekly", "levels": lv}), "tiers.basis:"),
        (dict(PREC, tiers={"basis": "rolling", "window_days": 365, "review": "daily", "levels": lv}),
         "tiers.review:"),
        (dict(PREC, tiers={"basis": "lifetime", "levels": [lv[0], {"name": "Silver", "min_spend": 100000,
                                                                  "discount_percent": 101}]}),
         "tiers.levels[1].discount_percent:"),
        (dict(PREC, tiers={"basis": "lifetime", "levels": [lv[0], {"min_spend": 100000}]}), "tiers.levels[1]"),
        (dict(PREC, tiers={"basis": "lifetime", "levels": [lv[0], {"name": "Silver", "min_spend": -1}]}),
         "tiers.levels[1].min_spend:"),
        (dict(PREC, tiers={"basis": "lifetime", "levels": lv + [{"name": "Base", "min_spend": 200000}]}),
         "tiers.levels[2]"),
        (dict(PREC, stamps=[{"id": "s", "skus": ["coffee"], "every": 0}]), "stamps[0].every:"),
        (dict(PREC, stamps=[{"id": "s", "every": 5}]), "stamps[0].skus:"),
        (dict(PREC, thresholds=[{"points": 0, "gift_certificate": 1000}]), "thresholds[0].points:"),
        (dict(PREC, thresholds=[{"points": 1000, "gift_certificate": -100}]),
         "thresholds[0].gift_certificate:"),
        (dict(PREC, utc_offset="+25:00"), "utc_offset:"),
        (dict(PREC, earn={"percent": 5, "hold_days": -1}), "earn.hold_days:"),
    ]
    for doc, prefix in cases:
        check_error("invalid: %s" % prefix, S.call("PUT", "/v1/program", doc), 422, "invalid_program",
                    msg_starts=prefix)
    check("invalid: nothing changed: GET /v1/program is still version 1",
          S.call("GET", "/v1/program")[:2], before)
    # And the program in force still computes as before (Base: card 3%).
    S.set_clock("2027-05-01T10:00:00Z")
    expect("invalid: purchases still use version 1", quote(S, [line("item", 100000)]), 200,
           {"discount": 3000, "program_version": 1}, applied=["discount"])
    # A valid document is still accepted afterwards: version 2.
    check("invalid: a valid PUT afterwards → version 2",
          S.call("PUT", "/v1/program", dict(PREC, name="Precedence 2"))[:2], (200, {"version": 2}))


def invalid():
    with_server(PREC, "invalid programs", invalid_programs)


# ---------------------------------------------------------------- 5. the tier review across processes

REVIEW_MEMBERS = 2000  # ten batches of 200 (engine/jobs.c)


def jobs_at_once(db, now, n):
    """n `kopilka jobs run --now` processes started together; their answers."""
    argv = [kptest.BIN, "jobs", "run", "--db", kptest.db_uri(db), "--now", now]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        try:
            out.append((p.returncode, json.loads(stdout.decode())))
        except ValueError:
            out.append((p.returncode, {"stderr": stderr.decode(errors="replace")[:500]}))
    return out


def review_across_processes():
    """The review's progress is a job_state row moved by each batch in its own
    transaction (engine/jobs.c): a member is reviewed once a period whoever runs it."""
    tmp = tempfile.mkdtemp(prefix="kopilka-review.")
    try:
        db = kptest.new_db(os.path.join(tmp, "review.db"))
        uri = kptest.db_uri(db)
        program = os.path.join(tmp, "program.json")
        with open(program, "w") as f:
            json.dump(YEAR, f)
        members = os.path.join(tmp, "members.csv")
        with open(members, "w") as f:
            f.write("external_id,consent_personal_data\n")
            f.writelines("review-%d,1\n" % i for i in range(REVIEW_MEMBERS))
        for argv in (["init", "--db", uri, "--program", program],
                     ["import", "members", "--db", uri, members]):
            p = subprocess.run([kptest.BIN] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=120)
            check("review: kopilka %s → 0" % argv[0],
                  (p.returncode, p.stderr.decode(errors="replace")[-300:]) if p.returncode else 0, 0)
        # January (UTC+3): the first run only starts the calendar.
        rc, js = jobs_cli(db, "2027-01-15T12:00:00Z")
        check("review: January's first run reviews nobody", (rc, js.get("tier_reviews")), (0, 0))
        # February: two processes at once. Whichever reviews a batch, each member once.
        runs = jobs_at_once(db, "2027-02-15T12:00:00Z", 2)
        check("review: February, two runs at once: both answer",
              [rc for rc, _ in runs], [0, 0])
        check("review: February, two runs at once: %d members reviewed between them" % REVIEW_MEMBERS,
              (sum(js.get("tier_reviews", 0) for _, js in runs), [js for _, js in runs if "stderr" in js]),
              (REVIEW_MEMBERS, []))
        rc, js = jobs_cli(db, "2027-02-20T12:00:00Z")
        check("review: February again: nobody", (rc, js.get("tier_reviews")), (0, 0))
        # March, cut short after the 400th member (as a run that stopped there leaves it).
        ids = sorted(int(r[0]) for r in kptest.db_query(db, "SELECT id FROM members"))
        check("review: the members are there", len(ids), REVIEW_MEMBERS)
        kptest.db_exec(db, "INSERT INTO job_state (name, last_period) VALUES "
                           "('tier_review:progress', '2027-03 %d') ON CONFLICT (name) "
                           "DO UPDATE SET last_period = excluded.last_period" % ids[399])
        rc, js = jobs_cli(db, "2027-03-15T12:00:00Z")
        check("review: March, cut short after 400: the other %d" % (REVIEW_MEMBERS - 400),
              (rc, js.get("tier_reviews")), (0, REVIEW_MEMBERS - 400))
        rc, js = jobs_cli(db, "2027-03-16T12:00:00Z")
        check("review: March again: nobody", (rc, js.get("tier_reviews")), (0, 0))
        check("review: March is recorded as reviewed",
              kptest.db_query(db, "SELECT last_period FROM job_state WHERE name = 'tier_review'"),
              [["2027-03"]])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    t = time.time()
    for part in (examples, a_year, boundaries, invalid, review_across_processes):
        kptest.scenario(part)
    print("# total %.1f s" % (time.time() - t), flush=True)
    kptest.summary()


if __name__ == "__main__":
    main()
