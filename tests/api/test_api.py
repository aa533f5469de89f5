#!/usr/bin/env python3
"""Kopilka HTTP API suite: drives real `kopilka serve` processes over loopback.

Run from the repo root: `python3 tests/api/test_api.py` (KOPILKA_BIN selects the
binary, default ./kopilka). Three servers: a toy store (walk-through, members,
bad input, auth, paging, concurrency, verify), a program with expiry (lot order,
program versions, pending points), and one without --test-clock (exclusions).
Every number expected below is worked out in the comment next to it.
"""

import datetime
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import balance, history  # noqa: E402
from kptest import check, check_error, check_fields, check_true  # noqa: E402

T0 = datetime.datetime(2026, 6, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
COMMIT_ONLY = ("status", "at", "tier", "balance", "certificates_issued", "certificates_paid")
ALL_CONSENTS = {"personal_data": True, "email": False, "sms": True, "push": False}

TOY = {"name": "Toy store", "currency": "RUB", "point_value": 100, "rounding": "floor",
       "earn": {"percent": 5}, "burn": {"max_percent": 50}}
EXPIRING = {"name": "Expiring", "currency": "RUB", "point_value": 100,
            "earn": {"percent": 5}, "burn": {"max_percent": 50},
            "expiry": {"days": 30, "remind_days_before": 7}}
CORNER = {"name": "Corner shop",
          "burn": {"max_percent": 50, "excluded_categories": ["tobacco"],
                   "excluded_skus": ["gift-box"]}}


# ---------------------------------------------------------------- helpers

def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def luhn_digit(payload):
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(card):
    return isinstance(card, str) and len(card) == 13 and card.isdigit() and \
        luhn_digit(card[:-1]) == card[-1]


def line(sku, price, qty=1, category=None, **extra):
    d = {"sku": sku, "qty": qty, "price": price}
    if category is not None:
        d["category"] = category
    d.update(extra)
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


def q(v):
    return urllib.parse.quote(v, safe="")


class Clock:
    """The server's test clock, moved forward by the tests."""

    def __init__(self, srv, start=T0):
        self.srv = srv
        self.now = start
        srv.set_clock(iso(start))

    def tick(self, **delta):
        self.now += datetime.timedelta(**(delta or {"minutes": 1}))
        self.srv.set_clock(iso(self.now))
        return iso(self.now)


def new_member(srv, name, phone, key=kptest.DEFAULT, **extra):
    body = {"phone": phone, "name": name, "consents": dict(ALL_CONSENTS)}
    body.update(extra)
    st, m, _ = srv.call("POST", "/v1/members", body, key=key)
    if not check("%s: register %s" % (srv.name, name), st, 201):
        raise RuntimeError("cannot register %s: %s %s" % (name, st, m))
    return m






def snapshot(srv, mid, receipts=()):
    return {"balance": balance(srv, mid), "history": history(srv, mid),
            "purchases": {r: srv.call("GET", "/v1/purchases/" + q(r))[:2] for r in receipts}}


def quote_of(commit):
    return {k: v for k, v in commit.items() if k not in COMMIT_ONLY}


def bal(available, pending=0, expiring=()):
    return {"available": available, "pending": pending, "spendable": available, "tier": None,
            "tier_progress": None, "expiring": list(expiring)}


def refunds_of(srv, rid, key=kptest.DEFAULT, partner=None):
    path = "/v1/purchases/" + q(rid) + ("?partner=" + q(partner) if partner else "")
    st, p, _ = srv.call("GET", path, key=key)
    return st, p


# ---------------------------------------------------------------- server 1: toy store

def members_scenario(S, clock):
    at = clock.tick()
    st, anna, _ = S.call("POST", "/v1/members", {
        "phone": "8 900 123-45-67", "email": "a@b.ru", "name": "Anna", "birthday": "1990-05-17",
        "external_id": "crm-42", "consents": ALL_CONSENTS})
    check("members: register Anna → 201", st, 201)
    check_fields("members: Anna's fields", anna, {
        "phone": "+79001234567", "email": "a@b.ru", "name": "Anna", "birthday": "1990-05-17",
        "external_id": "crm-42", "consents": ALL_CONSENTS, "tier": None, "created_at": at,
        "balance": {"available": 0, "pending": 0}})
    check_true("members: id is a decimal string", isinstance(anna.get("id"), str) and anna["id"].isdigit(),
               repr(anna.get("id")))
    check_true("members: card is 13 digits with a Luhn check digit", luhn_ok(anna.get("card")),
               repr(anna.get("card")))
    rc = anna.get("referral_code")
    check_true("members: referral_code has 8 chars", isinstance(rc, str) and len(rc) == 8, repr(rc))
    aid = anna["id"]

    check("members: GET by id", S.call("GET", "/v1/members/" + aid)[:2], (200, anna))
    check("members: GET ?phone=+79001234567", S.call("GET", "/v1/members?phone=%2B79001234567")[:2], (200, anna))
    check("members: GET ?phone=8 900 123-45-67", S.call("GET", "/v1/members?phone=" + q("8 900 123-45-67"))[:2],
          (200, anna))
    check("members: GET ?card=", S.call("GET", "/v1/members?card=" + anna["card"])[:2], (200, anna))
    check("members: GET ?external_id=", S.call("GET", "/v1/members?external_id=crm-42")[:2], (200, anna))

    for phone in ("+79001234567", "8 900 123-45-67", "+7 (900) 123 45 67"):
        check_error("members: phone %r again → 409" % phone,
                    S.call("POST", "/v1/members", {"phone": phone, "consents": ALL_CONSENTS}), 409, "conflict")
    for phone in ("12345", "abc", "+7900123456789012", ""):
        check_error("members: bad phone %r → 400" % phone,
                    S.call("POST", "/v1/members", {"phone": phone, "consents": ALL_CONSENTS}), 400,
                    "invalid_request", msg_has="phone")

    check_error("members: personal_data false → 422", S.call("POST", "/v1/members", {
        "phone": "+79001110009", "consents": dict(ALL_CONSENTS, personal_data=False)}), 422, "consent_required")
    check_error("members: consents missing → 422", S.call("POST", "/v1/members", {"phone": "+79001110009"}),
                422, "consent_required")
    check_error("members: personal_data missing → 422", S.call("POST", "/v1/members", {
        "phone": "+79001110009", "consents": {"email": True}}), 422, "consent_required")
    check_error("members: refused registration wrote nothing",
                S.call("GET", "/v1/members?phone=%2B79001110009"), 404, "not_found")

    # Idempotency-Key: same body → the same answer and 201 again; another body → 409.
    boris = {"phone": "+79001110001", "name": "Boris", "consents": ALL_CONSENTS}
    h = {"Idempotency-Key": "reg-boris-1"}
    st1, b1, _ = S.call("POST", "/v1/members", boris, headers=h)
    st2, b2, _ = S.call("POST", "/v1/members", boris, headers=h)
    check("members: Idempotency-Key first → 201", st1, 201)
    check("members: Idempotency-Key repeat → 201 and the same answer", (st2, b2), (201, b1))
    check_error("members: Idempotency-Key with another body → 409",
                S.call("POST", "/v1/members", dict(boris, name="Borya"), headers=h), 409, "idempotency_conflict")
    check_error("members: phone again without the key → 409",
                S.call("POST", "/v1/members", boris), 409, "conflict")

    st, vera, _ = S.call("POST", "/v1/members", {"phone": "+79001110002", "name": "Vera",
                                                  "referral_code": rc, "consents": ALL_CONSENTS})
    check("members: known referral_code → 201", st, 201)
    check_error("members: unknown referral_code → 422", S.call("POST", "/v1/members", {
        "phone": "+79001110003", "referral_code": "ZZZZZZZZ", "consents": ALL_CONSENTS}), 422, "referral_invalid")
    check_error("members: refused referral wrote nothing",
                S.call("GET", "/v1/members?phone=%2B79001110003"), 404, "not_found")

    st, nophone, _ = S.call("POST", "/v1/members", {"email": "np@b.ru", "consents": ALL_CONSENTS})
    check("members: without phone → 201", st, 201)
    check_fields("members: absent phone and external_id are null", nophone,
                 {"phone": None, "external_id": None, "email": "np@b.ru"})

    check_error("members: unknown id → 404", S.call("GET", "/v1/members/999999"), 404, "not_found")
    check_error("members: unknown phone → 404", S.call("GET", "/v1/members?phone=%2B79999999999"), 404, "not_found")
    check_error("members: unknown external_id → 404", S.call("GET", "/v1/members?external_id=nobody"), 404,
                "not_found")
    bad_card = anna["card"][:-1] + str((int(anna["card"][-1]) + 1) % 10)
    check_error("members: card with a wrong check digit → 400", S.call("GET", "/v1/members?card=" + bad_card),
                400, "invalid_request")
    unknown_card = "999999999999" + luhn_digit("999999999999")
    check_error("members: unknown card → 404", S.call("GET", "/v1/members?card=" + unknown_card), 404, "not_found")
    check_error("members: unknown balance → 404", S.call("GET", "/v1/members/999999/balance"), 404, "not_found")
    check_error("members: unknown history → 404", S.call("GET", "/v1/members/999999/history"), 404, "not_found")

    check_error("members: phone as a number → 400",
                S.call("POST", "/v1/members", {"phone": 79001110004, "consents": ALL_CONSENTS}), 400,
                "invalid_request", msg_has="phone")
    check_error("members: unknown field → 400",
                S.call("POST", "/v1/members", {"phone": "+79001110004", "nickname": "x", "consents": ALL_CONSENTS}),
                400, "invalid_request", msg_has="nickname")
    check_error("members: unknown consent → 400",
                S.call("POST", "/v1/members", {"phone": "+79001110004",
                                               "consents": dict(ALL_CONSENTS, fax=True)}),
                400, "invalid_request", msg_has="consents.fax")
    check_error("members: malformed JSON → 400", S.call("POST", "/v1/members", '{"phone":'), 400, "invalid_request")
    check_error("members: rejected bodies wrote nothing",
                S.call("GET", "/v1/members?phone=%2B79001110004"), 404, "not_found")
    check("members: Anna's balance", balance(S, aid), bal(0))
    return anna, vera


def walkthrough_scenario(S, clock):
    """The toy-store walk-through: point_value 100 (1 point = 1 ₽), earn 5%, burn ≤ 50%."""
    dasha = new_member(S, "Dasha", "+79002000001")
    mid = dasha["id"]
    check("walk: new member's balance", balance(S, mid), bal(0))

    # 2000.00 ₽ → 5% = 100.00 ₽ = 100 points.
    b1 = basket("R-1", [line("bear-1", 200000, category="toys")], member=mid)
    st, qa, _ = S.call("POST", "/v1/purchases/quote", b1)
    check("walk: quote R-1 → 200", st, 200)
    check_fields("walk: quote R-1", qa, {"receipt_id": "R-1", "member": mid, "partner": "main",
                                         "subtotal": 200000, "points_earned": 100, "program_version": 1})
    check("walk: quote wrote nothing (balance)", balance(S, mid), bal(0))
    check("walk: quote wrote nothing (history)", history(S, mid), [])
    check_error("walk: quote wrote nothing (purchase)", S.call("GET", "/v1/purchases/R-1"), 404, "not_found")

    at1 = clock.tick()
    st, r1, _ = S.call("POST", "/v1/purchases", b1)
    check("walk: commit R-1 → 201", st, 201)
    check_fields("walk: R-1 answer", r1, {
        "receipt_id": "R-1", "member": mid, "partner": "main", "subtotal": 200000, "discount": 0,
        "points_redeemed": 0, "max_redeemable": 0, "redeem_clamped": False, "certificates": 0,
        "to_pay": 200000, "points_earned": 100, "points_pending": False, "applied": ["base"],
        "program_version": 1, "status": "committed", "at": at1, "tier": None,
        "balance": {"available": 100, "pending": 0},
        "lines": [{"sku": "bear-1", "qty": 1, "amount": 200000, "discount": 0, "points": 0,
                   "certificates": 0, "paid": 200000, "earned": 100}]})
    check("walk: quote R-1 = commit R-1 without the commit-only fields", qa, quote_of(r1))

    clock.tick()
    check("walk: retry R-1 → 200 with the first answer", S.call("POST", "/v1/purchases", b1)[:2], (200, r1))
    reordered = json.dumps({"lines": [{"price": 200000, "category": "toys", "qty": 1, "sku": "bear-1"}],
                            "member": mid, "receipt_id": "R-1"})
    check("walk: retry R-1 with keys in another order → 200 with the first answer",
          S.call("POST", "/v1/purchases", reordered)[:2], (200, r1))
    check("walk: balance after retries (accrued once)", balance(S, mid), bal(100))
    h = history(S, mid)
    check("walk: history after retries has one earn",
          [(e.get("kind"), e.get("points"), e.get("account"), e.get("ref"), e.get("at")) for e in h],
          [("earn", 100, "available", "R-1", at1)])
    check_true("walk: history entries have at/kind/points/account/ref",
               h and set(h[0]) >= {"at", "kind", "points", "account", "ref"}, repr(h[:1]))
    check("walk: GET /v1/purchases/R-1", S.call("GET", "/v1/purchases/R-1")[:2], (200, dict(r1, refunds=[])))

    # 1000.00 ₽, redeem 100 → pays 900.00 ₽, earns 45; cap 500, spendable 100.
    b2 = basket("R-2", [line("car-1", 100000, category="toys")], member=mid, redeem=100)
    st, qa, _ = S.call("POST", "/v1/purchases/quote", b2)
    check_fields("walk: quote R-2", (qa if st == 200 else {"status": st, "body": qa}), {
        "points_redeemed": 100, "max_redeemable": 100, "redeem_clamped": False,
        "to_pay": 90000, "points_earned": 45})
    check("walk: quote R-2 wrote nothing", balance(S, mid), bal(100))
    at2 = clock.tick()
    st, r2, _ = S.call("POST", "/v1/purchases", b2)
    check("walk: commit R-2 → 201", st, 201)
    check_fields("walk: R-2 answer", r2, {
        "subtotal": 100000, "discount": 0, "points_redeemed": 100, "max_redeemable": 100,
        "redeem_clamped": False, "to_pay": 90000, "points_earned": 45, "at": at2,
        "balance": {"available": 45, "pending": 0},
        "lines": [{"sku": "car-1", "qty": 1, "amount": 100000, "discount": 0, "points": 100,
                   "certificates": 0, "paid": 90000, "earned": 45}]})
    check("walk: quote R-2 = commit R-2 without the commit-only fields", qa, quote_of(r2))
    check("walk: balance after R-2", balance(S, mid), bal(45))
    h = history(S, mid)
    check("walk: R-2 adds a redeem -100 and an earn +45",
          sorted((e.get("kind"), e.get("points"), e.get("ref")) for e in h[:2]),
          [("earn", 45, "R-2"), ("redeem", -100, "R-2")])
    check("walk: history has 3 entries", len(h), 3)

    # 70000.00 ₽ → 3500 points; balance 3545.
    clock.tick()
    st, r3, _ = S.call("POST", "/v1/purchases", basket("R-3", [line("castle", 7000000)], member=mid))
    check("walk: R-3 (big purchase)", (st, r3.get("points_earned"), r3.get("balance")),
          (201, 3500, {"available": 3545, "pending": 0}))

    # R-4, API.md's example: 2 × 3499.00 ₽, redeem 500. Cap: 50% × 6998.00 ₽ = 3499 points.
    # Pays 6498.00 ₽; 5% = 324.90 ₽ → 324 points. Balance 3545 − 500 + 324 = 3369.
    b4 = basket("R-4", [line("lego-123", 349900, qty=2, category="toys")], member=mid, redeem=500)
    at4 = clock.tick()
    st, r4, _ = S.call("POST", "/v1/purchases", b4)
    check("walk: commit R-4 → 201", st, 201)
    check_fields("walk: R-4 answer (API.md's example)", r4, {
        "receipt_id": "R-4", "member": mid, "partner": "main", "subtotal": 699800, "discount": 0,
        "points_redeemed": 500, "max_redeemable": 3499, "redeem_clamped": False, "certificates": 0,
        "to_pay": 649800, "points_earned": 324, "points_pending": False, "status": "committed",
        "at": at4, "balance": {"available": 3369, "pending": 0},
        "lines": [{"sku": "lego-123", "qty": 2, "amount": 699800, "discount": 0, "points": 500,
                   "certificates": 0, "paid": 649800, "earned": 324}]})

    # ask 5000 on 1000.00 ₽ → clamped to 500 (50%); pays 500.00 ₽, earns 25. 3369 − 500 + 25 = 2894.
    clock.tick()
    st, r5, _ = S.call("POST", "/v1/purchases", basket("R-5", [line("doll", 100000)], member=mid, redeem=5000))
    check("walk: commit R-5 → 201", st, 201)
    check_fields("walk: R-5 clamped redemption", r5, {
        "points_redeemed": 500, "max_redeemable": 500, "redeem_clamped": True, "to_pay": 50000,
        "points_earned": 25, "balance": {"available": 2894, "pending": 0}})
    check("walk: balance after R-5", balance(S, mid), bal(2894))

    # Refund 1 of the 2 lego sets: money 324900, reversed ⌊324/2⌋ = 162, returned 500/2 = 250.
    f1 = {"refund_id": "F-1", "lines": [{"sku": "lego-123", "qty": 1}]}
    atf1 = clock.tick()
    st, a1, _ = S.call("POST", "/v1/purchases/R-4/refunds", f1)
    check("walk: refund F-1 → 201", st, 201)
    check("walk: F-1 answer", a1, {
        "refund_id": "F-1", "receipt_id": "R-4", "partner": "main", "money_refund": 324900,
        "points_reversed": 162, "points_returned": 250, "at": atf1, "certificates_returned": [],
        "balance": {"available": 2982, "pending": 0}})
    check("walk: balance after F-1", balance(S, mid), bal(2982))
    check("walk: F-1 repeat → 200 same answer", S.call("POST", "/v1/purchases/R-4/refunds", f1)[:2], (200, a1))
    check_error("walk: F-1 with another body → 409",
                S.call("POST", "/v1/purchases/R-4/refunds", {"refund_id": "F-1",
                                                             "lines": [{"sku": "lego-123", "qty": 2}]}),
                409, "idempotency_conflict")
    check_error("walk: refund 2 when 1 is left → 422",
                S.call("POST", "/v1/purchases/R-4/refunds", {"refund_id": "F-1b",
                                                             "lines": [{"sku": "lego-123", "qty": 2}]}),
                422, "refund_exceeds_purchase")
    check_error("walk: refund a sku not bought → 422",
                S.call("POST", "/v1/purchases/R-4/refunds", {"refund_id": "F-1c",
                                                             "lines": [{"sku": "duplo", "qty": 1}]}),
                422, "refund_exceeds_purchase")
    check("walk: refused refunds wrote nothing", balance(S, mid), bal(2982))
    fsum = sum(e["points"] for e in history(S, mid) if e.get("ref") == "F-1")
    check("walk: F-1's history rows add up to −162 + 250", fsum, 88)

    # The rest (no lines): the other lego set, 324900 / 162 / 250. 2982 − 162 + 250 = 3070.
    f2 = {"refund_id": "F-2"}
    atf2 = clock.tick()
    st, a2, _ = S.call("POST", "/v1/purchases/R-4/refunds", f2)
    check("walk: refund the rest F-2 → 201", (st, a2), (201, {
        "refund_id": "F-2", "receipt_id": "R-4", "partner": "main", "money_refund": 324900,
        "points_reversed": 162, "points_returned": 250, "at": atf2, "certificates_returned": [],
        "balance": {"available": 3070, "pending": 0}}))
    check_error("walk: refund after everything was refunded → 422",
                S.call("POST", "/v1/purchases/R-4/refunds", {"refund_id": "F-3"}), 422, "refund_exceeds_purchase")
    check_error("walk: refund a line after everything was refunded → 422",
                S.call("POST", "/v1/purchases/R-4/refunds",
                       {"refund_id": "F-4", "lines": [{"sku": "lego-123", "qty": 1}]}),
                422, "refund_exceeds_purchase")
    check("walk: balance after F-2", balance(S, mid), bal(3070))
    check("walk: GET R-4 with its refunds oldest first",
          S.call("GET", "/v1/purchases/R-4")[:2], (200, dict(r4, refunds=[a1, a2])))
    check("walk: GET R-4?partner=main", S.call("GET", "/v1/purchases/R-4?partner=main")[:2],
          (200, dict(r4, refunds=[a1, a2])))
    check_error("walk: refund of an unknown receipt → 404",
                S.call("POST", "/v1/purchases/NOPE/refunds", {"refund_id": "F-9"}), 404, "not_found")
    check_error("walk: GET unknown receipt → 404", S.call("GET", "/v1/purchases/NOPE"), 404, "not_found")

    # Cumulative flooring over three one-unit refunds of 3 × 1000.00 ₽, redeem 100:
    # paid 290000, earned 145, points 100 → (96666,48,33), (96667,48,33), (96667,49,34).
    clock.tick()
    st, r6, _ = S.call("POST", "/v1/purchases", basket("R-6", [line("puzzle", 100000, qty=3)], member=mid,
                                                        redeem=100))
    check("walk: R-6", (st, r6.get("to_pay"), r6.get("points_earned"), r6.get("balance")),
          (201, 290000, 145, {"available": 3115, "pending": 0}))
    want = [(96666, 48, 33, 3100), (96667, 48, 33, 3085), (96667, 49, 34, 3070)]
    for i, (money, rev, ret, avail) in enumerate(want):
        clock.tick()
        st, a, _ = S.call("POST", "/v1/purchases/R-6/refunds",
                          {"refund_id": "F6-%d" % i, "lines": [{"sku": "puzzle", "qty": 1}]})
        check("walk: R-6 unit refund %d" % (i + 1),
              (st, a.get("money_refund"), a.get("points_reversed"), a.get("points_returned"), a.get("balance")),
              (201, money, rev, ret, {"available": avail, "pending": 0}))
    check("walk: balance after R-6 fully refunded", balance(S, mid), bal(3070))
    h = history(S, mid)
    check("walk: history sums to the balance", sum(e["points"] for e in h), 3070)
    check_true("walk: history is newest first", all(h[i]["at"] >= h[i + 1]["at"] for i in range(len(h) - 1)),
               repr([e["at"] for e in h]))
    return dasha


def negative_scenario(S, clock):
    """Refunding earned points already spent: the balance goes negative; later earnings repay it."""
    egor = new_member(S, "Egor", "+79002000002")
    mid = egor["id"]
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("N-1", [line("kite", 200000)], member=mid))
    check("negative: N-1 earns 100", (st, a.get("points_earned")), (201, 100))
    st, a, _ = S.call("POST", "/v1/purchases", basket("N-2", [line("kite", 100000)], member=mid, redeem=100))
    check("negative: N-2 spends 100, earns 45", (st, a.get("points_redeemed"), a.get("points_earned")),
          (201, 100, 45))
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases/N-1/refunds", {"refund_id": "NF-1"})
    check_fields("negative: refund N-1 whole → 201", dict(a or {}, status=st), {
        "status": 201, "money_refund": 200000, "points_reversed": 100, "points_returned": 0,
        "balance": {"available": -55, "pending": 0}})
    b = balance(S, mid)
    check_fields("negative: balance is −55", b, {"available": -55, "pending": 0})
    st, qa, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("kite", 100000)], member=mid, redeem=10))
    check_fields("negative: nothing to spend while negative", dict(qa or {}, status=st), {
        "status": 200, "points_redeemed": 0, "max_redeemable": 0, "redeem_clamped": True, "to_pay": 100000})
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("N-3", [line("kite", 200000)], member=mid))
    check("negative: N-3 earns 100 and repays the debt first",
          (st, a.get("points_earned"), a.get("balance")), (201, 100, {"available": 45, "pending": 0}))
    check("negative: balance after N-3", balance(S, mid), bal(45))


def lookup_scenario(S, clock, dasha):
    """Anonymous purchases, card and phone, unknown members, coupons and certificates."""
    mid = dasha["id"]
    before = snapshot(S, mid)
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("AN-1", [line("ball", 100000)], redeem=100))
    check_fields("lookup: anonymous purchase with a redeem request", dict(a or {}, status_code=st), {
        "status_code": 201, "member": None, "points_earned": 0, "points_redeemed": 0, "max_redeemable": 0,
        "redeem_clamped": True, "to_pay": 100000, "status": "committed"})
    st, a, _ = S.call("POST", "/v1/purchases", basket("AN-2", [line("ball", 100000)]))
    check_fields("lookup: anonymous purchase", dict(a or {}, status_code=st), {
        "status_code": 201, "member": None, "points_earned": 0, "points_redeemed": 0, "redeem_clamped": False})
    check("lookup: anonymous purchases touch no member", snapshot(S, mid), before)

    for how, val in (("card", dasha["card"]), ("phone", "+79002000001"), ("phone", "8 (900) 200-00-01")):
        st, a, _ = S.call("POST", "/v1/purchases/quote", {how: val, "lines": [line("ball", 100000)]})
        check("lookup: quote by %s %r finds the member" % (how, val), (st, (a or {}).get("member")), (200, mid))
    check("lookup: quotes wrote nothing", snapshot(S, mid), before)
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", {"receipt_id": "CARD-1", "card": dasha["card"],
                                                "lines": [line("ball", 100000)]})
    check("lookup: purchase by card", (st, a.get("member"), a.get("points_earned"), a.get("balance")),
          (201, mid, 50, {"available": 3120, "pending": 0}))

    before = snapshot(S, mid, ["U-1", "U-2", "U-3", "CP-1", "GC-1"])
    unknown_card = "999999999999" + luhn_digit("999999999999")
    cases = [
        ("unknown member", {"receipt_id": "U-1", "member": "999999"}, 404, "not_found"),
        ("unknown card", {"receipt_id": "U-2", "card": unknown_card}, 404, "not_found"),
        ("unknown phone", {"receipt_id": "U-3", "phone": "+79990000000"}, 404, "not_found"),
        ("a coupon", {"receipt_id": "CP-1", "member": mid, "coupons": ["WELCOME10"]}, 422, "coupon_invalid"),
        ("a gift certificate", {"receipt_id": "GC-1", "member": mid, "gift_certificates": ["GC-123"]},
         422, "certificate_invalid"),
    ]
    for what, body, status, code in cases:
        body = dict(body, lines=[line("ball", 100000)])
        check_error("lookup: commit with %s → %d" % (what, status), S.call("POST", "/v1/purchases", body),
                    status, code)
        qb = {k: v for k, v in body.items() if k != "receipt_id"}
        check_error("lookup: quote with %s → %d" % (what, status), S.call("POST", "/v1/purchases/quote", qb),
                    status, code)
    check("lookup: refused purchases wrote nothing", snapshot(S, mid, ["U-1", "U-2", "U-3", "CP-1", "GC-1"]),
          before)


def bad_input_scenario(S, clock):
    zhenya = new_member(S, "Zhenya", "+79002000003")
    mid = zhenya["id"]
    clock.tick()
    g1 = basket("G-1", [line("ball", 200000, category="toys")], member=mid)
    st, ga, _ = S.call("POST", "/v1/purchases", g1)
    check("bad: G-1 → 201", st, 201)

    # Accepted at the limits (quotes write nothing; R-64 is committed before the snapshot).
    big_lines = [line("s%04d" % i, 10000000000, qty=10000) for i in range(1000)]
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, big_lines, member=mid))
    # 1000 × 10000 × 10^10 = 10^17 kopecks; 5% / 100 = 5 × 10^13 points.
    check("bad: 1000 lines at the largest qty and price → 200",
          (st, (a or {}).get("subtotal"), (a or {}).get("points_earned"), (a or {}).get("to_pay")),
          (200, 10 ** 17, 5 * 10 ** 13, 10 ** 17))
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("x" * 200, 0, category="c" * 200)],
                                                            member=mid, redeem=10 ** 12))
    check("bad: sku/category of 200 bytes, price 0, redeem 10^12 → 200",
          (st, (a or {}).get("subtotal"), (a or {}).get("points_redeemed")), (200, 0, 0))
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("я" * 100, 1)]))
    check("bad: sku of 100 two-byte chars (200 bytes) → 200", st, 200)
    rid64 = "R" * 64
    st, a, _ = S.call("POST", "/v1/purchases", basket(rid64, [line("ball", 100)], member=mid))
    check("bad: receipt_id of 64 bytes → 201", (st, (a or {}).get("receipt_id")), (201, rid64))
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("ball", 100)], member=mid))
    check("bad: quote without receipt_id → 200", st, 200)

    ok_line = line("ball", 100000, category="toys")

    def b(n, **over):
        d = {"receipt_id": "BAD-%d" % n, "member": mid, "lines": [dict(ok_line)], "redeem_points": 10}
        d.update(over)
        return d

    def bl(n, **line_over):
        return b(n, lines=[dict(ok_line, **line_over)])

    def without(d, key):
        return {k: v for k, v in d.items() if k != key}

    big = json.dumps(b(99, note="x" * (2 * 1024 * 1024)))
    cases = [
        ("malformed JSON", '{"receipt_id":"BAD-1","lines":[', 400, "invalid_request", None),
        ("not JSON", "hello", 400, "invalid_request", None),
        ("a JSON array", "[1,2]", 400, "invalid_request", None),
        ("empty body", "", 400, "invalid_request", None),
        ("invalid UTF-8", b'{"receipt_id":"BAD-2","lines":[{"sku":"\xff\xfe","qty":1,"price":1}]}',
         400, "invalid_request", None),
        ("qty as a string", bl(3, qty="2"), 400, "invalid_request", "lines[0].qty"),
        ("qty 2.0", bl(4, qty=2.0), 400, "invalid_request", "lines[0].qty"),
        ("price 1.5", bl(5, price=1.5), 400, "invalid_request", "lines[0].price"),
        ("price true", bl(6, price=True), 400, "invalid_request", "lines[0].price"),
        ("lines not an array", b(7, lines=dict(ok_line)), 400, "invalid_request", "lines"),
        ("a line not an object", b(8, lines=[5]), 400, "invalid_request", "lines[0]"),
        ("member 5", b(9, member=5), 400, "invalid_request", "member"),
        ("redeem_points as a string", b(10, redeem_points="10"), 400, "invalid_request", "redeem_points"),
        ("receipt_id as a number", b(11, receipt_id=11), 400, "invalid_request", "receipt_id"),
        ("unknown top-level field", b(12, bogus=1), 400, "invalid_request", "bogus"),
        ("unknown field in a line", bl(13, colour="red"), 400, "invalid_request", "lines[0].colour"),
        ("bad second line", b(14, lines=[dict(ok_line), dict(ok_line, qty="x")]), 400, "invalid_request",
         "lines[1].qty"),
        ("qty -1", bl(15, qty=-1), 400, "invalid_request", "lines[0].qty"),
        ("qty 0", bl(16, qty=0), 400, "invalid_request", "lines[0].qty"),
        ("qty 10001", bl(17, qty=10001), 400, "invalid_request", "lines[0].qty"),
        # Beyond 64 bits the JSON parser refuses the number itself: it names the key, not the path.
        ("qty 10^30", bl(18, qty=10 ** 30), 400, "invalid_request", "qty: number out of range"),
        ("price -1", bl(19, price=-1), 400, "invalid_request", "lines[0].price"),
        ("price 10^10 + 1", bl(20, price=10 ** 10 + 1), 400, "invalid_request", "lines[0].price"),
        ("price 10^19", bl(21, price=10 ** 19), 400, "invalid_request", "price: number out of range"),
        ("price -10^19", bl(22, price=-10 ** 19), 400, "invalid_request", "price: number out of range"),
        ("redeem_points -1", b(23, redeem_points=-1), 400, "invalid_request", "redeem_points"),
        ("redeem_points 10^12 + 1", b(24, redeem_points=10 ** 12 + 1), 400, "invalid_request", "redeem_points"),
        ("empty lines", b(25, lines=[]), 400, "invalid_request", "lines"),
        ("no lines", without(b(26), "lines"), 400, "invalid_request", "lines"),
        ("1001 lines", b(27, lines=[dict(ok_line, sku="s%d" % i) for i in range(1001)]), 400,
         "invalid_request", "lines"),
        ("sku of 201 bytes", bl(28, sku="s" * 201), 400, "invalid_request", "lines[0].sku"),
        ("sku of 101 two-byte chars (202 bytes)", bl(29, sku="я" * 101), 400, "invalid_request", "lines[0].sku"),
        ("empty sku", bl(30, sku=""), 400, "invalid_request", "lines[0].sku"),
        ("no sku", b(31, lines=[without(ok_line, "sku")]), 400, "invalid_request", "lines[0].sku"),
        ("category of 201 bytes", bl(32, category="c" * 201), 400, "invalid_request", "lines[0].category"),
        ("receipt_id of 65 bytes", b(33, receipt_id="R" * 65), 400, "invalid_request", "receipt_id"),
        ("empty receipt_id", b(34, receipt_id=""), 400, "invalid_request", "receipt_id"),
        ("missing receipt_id", without(b(35), "receipt_id"), 400, "invalid_request", "receipt_id"),
        ("unknown member", b(36, member="999999"), 404, "not_found", None),
        ("unknown partner", b(37, partner="nope"), 404, "not_found", None),
        ("channel not a known one", b(38, channel="fax"), 400, "invalid_request", "channel"),
        ("coupons not an array", b(39, coupons="WELCOME10"), 400, "invalid_request", "coupons"),
        ("bad 124th line", b(40, lines=[dict(ok_line)] * 123 + [dict(ok_line, qty=0)]), 400,
         "invalid_request", "lines[123].qty"),
        ("receipt reused with another body", dict(g1, lines=[line("ball", 200000, qty=2, category="toys")]),
         409, "idempotency_conflict", None),
    ]
    receipts = ["BAD-%d" % n for n in list(range(1, 41)) + [99]]
    before = snapshot(S, mid, ["G-1"] + receipts)
    clock.tick()
    for what, body, status, code, path in cases:
        check_error("bad: commit with %s → %d" % (what, status), S.call("POST", "/v1/purchases", body),
                    status, code, msg_has=path)
    st, js = kptest.raw_request(S.port, (
        "POST /v1/purchases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (S.admin_key, len(big))).encode(), big.encode())
    check_error("bad: a 2 MiB body → 413", (st, js, {}), 413, "too_large")
    # The same mistakes through quote (which never writes anyway).
    for what, body, status, code, path in cases:
        if status in (400, 413) and path != "receipt_id":
            qb = {k: v for k, v in body.items() if k != "receipt_id"} if isinstance(body, dict) else body
            check_error("bad: quote with %s → %d" % (what, status), S.call("POST", "/v1/purchases/quote", qb),
                        status, code, msg_has=path)
    st, js = kptest.raw_request(S.port, (
        "POST /v1/purchases/quote HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % (S.admin_key, len(big))).encode(), big.encode())
    check_error("bad: quote with a 2 MiB body → 413", (st, js, {}), 413, "too_large")
    # Headers: up to about 15,000 bytes in all are served (KP_CONNECTION_MEMORY);
    # more is refused by the HTTP layer with 431, and the server goes on.
    small_quote = json.dumps(basket(None, [line("ball", 100)]))
    for filler, want in ((12000, 200), (20000, 431)):
        st, js = kptest.raw_request(S.port, (
            "POST /v1/purchases/quote HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "X-Filler: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n"
            % (S.admin_key, "x" * filler, len(small_quote))).encode(), small_quote.encode())
        check("bad: a quote with %d bytes of headers → %d" % (filler, want), st, want)
    check("bad: the server answers after a 431", S.call("GET", "/v1/health")[0], 200)

    # Refunds.
    rcases = [
        ("malformed JSON", '{"refund_id":', 400, "invalid_request", None),
        ("qty as a string", {"refund_id": "BF-1", "lines": [{"sku": "ball", "qty": "1"}]}, 400,
         "invalid_request", "lines[0].qty"),
        ("qty 0", {"refund_id": "BF-2", "lines": [{"sku": "ball", "qty": 0}]}, 400, "invalid_request",
         "lines[0].qty"),
        ("qty -1", {"refund_id": "BF-3", "lines": [{"sku": "ball", "qty": -1}]}, 400, "invalid_request",
         "lines[0].qty"),
        ("unknown field", {"refund_id": "BF-4", "reason": "x"}, 400, "invalid_request", "reason"),
        ("unknown field in a line", {"refund_id": "BF-5", "lines": [{"sku": "ball", "qty": 1, "price": 1}]},
         400, "invalid_request", "lines[0].price"),
        ("refund_id of 65 bytes", {"refund_id": "F" * 65}, 400, "invalid_request", "refund_id"),
        ("empty refund_id", {"refund_id": ""}, 400, "invalid_request", "refund_id"),
        ("missing refund_id", {"lines": [{"sku": "ball", "qty": 1}]}, 400, "invalid_request", "refund_id"),
        ("lines not an array", {"refund_id": "BF-6", "lines": {"sku": "ball", "qty": 1}}, 400,
         "invalid_request", "lines"),
        ("more than bought", {"refund_id": "BF-7", "lines": [{"sku": "ball", "qty": 2}]}, 422,
         "refund_exceeds_purchase", None),
    ]
    for what, body, status, code, path in rcases:
        check_error("bad: refund with %s → %d" % (what, status),
                    S.call("POST", "/v1/purchases/G-1/refunds", body), status, code, msg_has=path)

    # Reads with bad arguments.
    for arg in ("0", "1001", "abc", "-1"):
        check_error("bad: history ?limit=%s → 400" % arg,
                    S.call("GET", "/v1/members/%s/history?limit=%s" % (mid, arg)), 400, "invalid_request",
                    msg_has="limit")
    check_error("bad: history with a garbage cursor → 400",
                S.call("GET", "/v1/members/%s/history?cursor=%s" % (mid, q("!!garbage!!"))), 400, "invalid_request")
    check_error("bad: unknown route → 404", S.call("GET", "/v1/nope"), 404, "not_found")
    check_error("bad: unknown version → 404", S.call("GET", "/v2/health"), 404, "not_found")
    # GET /v1/keys and GET /v1/partners exist since issue #5 (coalitions): PUT on them is 405
    for method, path in (("DELETE", "/v1/health"), ("PATCH", "/v1/program"), ("PUT", "/v1/keys"),
                         ("PUT", "/v1/partners"), ("GET", "/v1/purchases"), ("PUT", "/v1/members/1")):
        st, js, _ = S.call(method, path)
        check_true("bad: %s %s → 405 with an error body" % (method, path),
                   st == 405 and isinstance(js, dict) and isinstance(js.get("error"), dict),
                   "got %s %s" % (st, js))

    after = snapshot(S, mid, ["G-1"] + receipts)
    check("bad: nothing written (balance)", after["balance"], before["balance"])
    check("bad: nothing written (history)", after["history"], before["history"])
    check("bad: nothing written (G-1 unchanged, no refunds)", after["purchases"]["G-1"],
          (200, dict(ga, refunds=[])))
    check("bad: nothing written (no BAD-* receipt)",
          {r: v[0] for r, v in after["purchases"].items() if r != "G-1" and v[0] != 404}, {})
    S.check_healthy("bad input")


def bad_program_scenario(S):
    st, p, _ = S.call("GET", "/v1/program")
    version = (p or {}).get("version")
    check("program: GET /v1/program → version 1", (st, version), (200, 1))
    check_fields("program: GET /v1/program returns the document", (p or {}).get("program"), TOY)
    cases = [
        ("an unknown field in earn", {"earn": {"percent": 5, "bogus": 1}}, "earn.bogus"),
        ("an unknown top-level field", dict(TOY, bogus=1), "bogus"),
        ("a 3-decimal percent", {"earn": {"percent": 5.125}}, "earn.percent"),
        ("a 3-decimal burn percent", {"burn": {"max_percent": 33.333}}, "burn.max_percent"),
        ("an unknown field in a check step", {"earn": {"check_steps": [{"min_subtotal": 1, "percent": 5,
                                                                        "x": 1}]}}, "earn.check_steps[0].x"),
        ("tiers whose first level is not at 0", dict(TOY, tiers={"levels": [{"name": "Base", "min_spend": 5}]}),
         "tiers.levels[0].min_spend"),
        ("a campaign with factor 0", dict(TOY, campaigns=[{"id": "x", "kind": "multiplier", "factor": 0}]),
         "campaigns[0].factor"),
        ("an event bonus of 0 points", dict(TOY, events={"review": {"points": 0}}), "events.review.points"),
        ("a threshold of 0 points", dict(TOY, thresholds=[{"points": 0, "gift_certificate": 1}]),
         "thresholds[0].points"),
        ("a stamp card with every 1", dict(TOY, stamps=[{"id": "c", "skus": ["x"], "every": 1}]),
         "stamps[0].every"),
        ("an unknown rounding", dict(TOY, rounding="banker"), "rounding"),
    ]
    for what, doc, path in cases:
        check_error("program: %s → 422" % what, S.call("PUT", "/v1/program", doc), 422, "invalid_program",
                    msg_starts=path)
    check_error("program: malformed JSON → 400", S.call("PUT", "/v1/program", '{"earn":'), 400, "invalid_request")
    st, p2, _ = S.call("GET", "/v1/program")
    check("program: refused programs made no version", (st, p2), (200, p))


def auth_scenario(S, clock, dasha):
    mid = dasha["id"]
    ok = basket(None, [line("ball", 100000)], member=mid)
    for key, what in ((None, "no key"), ("kp_" + "0" * 32, "a wrong key"), ("", "an empty key")):
        check_error("auth: GET member with %s → 401" % what, S.call("GET", "/v1/members/" + mid, key=key),
                    401, "unauthorized")
        check_error("auth: quote with %s → 401" % what, S.call("POST", "/v1/purchases/quote", ok, key=key),
                    401, "unauthorized")
        check_error("auth: commit with %s → 401" % what,
                    S.call("POST", "/v1/purchases", dict(ok, receipt_id="AUTH-0"), key=key), 401, "unauthorized")
    st, js, _ = S.call("GET", "/v1/members/" + mid, key=None,
                       headers={"Authorization": "Basic " + S.admin_key})
    check_error("auth: Basic scheme → 401", (st, js, {}), 401, "unauthorized")
    check_error("auth: nothing written without a key", S.call("GET", "/v1/purchases/AUTH-0"), 404, "not_found")

    st, p, _ = S.call("POST", "/v1/partners", {"id": "shop-2", "name": "Shop 2"})
    check("auth: create partner shop-2", (st, p),
          (201, {"id": "shop-2", "name": "Shop 2", "active": True, "earn": None, "accrual_cost": None,
                 "created_at": iso(clock.now)}))
    check_error("auth: partner again → 409", S.call("POST", "/v1/partners", {"id": "shop-2", "name": "X"}),
                409, "conflict")
    check_error("auth: partner with an unknown field → 400",
                S.call("POST", "/v1/partners", {"id": "shop-3", "name": "X", "city": "Y"}), 400, "invalid_request")

    keys = {}
    for role, partner in (("pos", "main"), ("pos", "shop-2"), ("readonly", None), ("admin", None)):
        body = {"role": role}
        if partner:
            body["partner"] = partner
        st, k, _ = S.call("POST", "/v1/keys", body)
        k = k or {}
        key = k.get("key", "")
        check_true("auth: create %s key%s → 201 kp_<32 hex>" % (role, " for " + partner if partner else ""),
                   st == 201 and isinstance(key, str) and len(key) == 35 and key.startswith("kp_")
                   and all(c in "0123456789abcdef" for c in key[3:]) and isinstance(k.get("id"), int)
                   and k.get("role") == role and k.get("partner") == partner,
                   "got %s %s" % (st, k))
        keys[(role, partner)] = key
    pos, pos2, ro = keys[("pos", "main")], keys[("pos", "shop-2")], keys[("readonly", None)]
    check_error("auth: pos key for an unknown partner → 404",
                S.call("POST", "/v1/keys", {"role": "pos", "partner": "nope"}), 404, "not_found")
    check_error("auth: an unknown role → 400", S.call("POST", "/v1/keys", {"role": "root"}), 400, "invalid_request")
    check("auth: a new admin key works", S.call("GET", "/v1/members/" + mid, key=keys[("admin", None)])[0], 200)

    st, m, _ = S.call("POST", "/v1/members", {"phone": "+79003000001", "consents": ALL_CONSENTS}, key=pos)
    check("auth: pos key registers a member", st, 201)
    st, a, _ = S.call("POST", "/v1/purchases/quote", ok, key=pos)
    check("auth: pos key quotes for main", (st, (a or {}).get("partner")), (200, "main"))
    clock.tick()
    st, p1, _ = S.call("POST", "/v1/purchases", dict(ok, receipt_id="P-1"), key=pos)
    check("auth: pos key buys for its partner", (st, (p1 or {}).get("partner")), (201, "main"))
    st, a, _ = S.call("POST", "/v1/purchases", dict(ok, receipt_id="P-2", partner="main"), key=pos)
    check("auth: pos key naming its own partner", (st, (a or {}).get("partner")), (201, "main"))
    check_error("auth: pos key naming another partner → 403",
                S.call("POST", "/v1/purchases", dict(ok, receipt_id="P-3", partner="shop-2"), key=pos),
                403, "forbidden")
    check_error("auth: pos key quoting for another partner → 403",
                S.call("POST", "/v1/purchases/quote", dict(ok, partner="shop-2"), key=pos), 403, "forbidden")
    check_error("auth: the forbidden purchase wrote nothing",
                S.call("GET", "/v1/purchases/P-3?partner=shop-2"), 404, "not_found")
    check("auth: pos key reads its receipt", S.call("GET", "/v1/purchases/P-1", key=pos)[:2],
          (200, dict(p1, refunds=[])))
    check("auth: pos key reads a member's balance", S.call("GET", "/v1/members/%s/balance" % mid, key=pos)[0], 200)

    for method, path, body in (("PUT", "/v1/program", TOY), ("POST", "/v1/keys", {"role": "pos", "partner": "main"}),
                               ("POST", "/v1/partners", {"id": "shop-9", "name": "Nine"}),
                               ("POST", "/v1/admin/clock", {"now": iso(clock.now)})):
        check_error("auth: pos key on %s %s → 403" % (method, path), S.call(method, path, body, key=pos),
                    403, "forbidden")
        check_error("auth: readonly key on %s %s → 403" % (method, path), S.call(method, path, body, key=ro),
                    403, "forbidden")
    check_error("auth: readonly key may not buy → 403",
                S.call("POST", "/v1/purchases", dict(ok, receipt_id="RO-1"), key=ro), 403, "forbidden")
    check_error("auth: readonly key may not register members → 403",
                S.call("POST", "/v1/members", {"phone": "+79003000009", "consents": ALL_CONSENTS}, key=ro),
                403, "forbidden")
    st, p, _ = S.call("GET", "/v1/program")
    check("auth: the pos key's program PUT made no version", (st, (p or {}).get("version")), (200, 1))

    # shop-2 does not see main's receipts (another partner's receipt is 403, not 404);
    # the same receipt id there is another purchase.
    check_error("auth: shop-2 key does not see main's P-1", S.call("GET", "/v1/purchases/P-1", key=pos2),
                403, "forbidden")
    check_error("auth: shop-2 key cannot refund main's P-1",
                S.call("POST", "/v1/purchases/P-1/refunds", {"refund_id": "S2F-1"}, key=pos2), 403, "forbidden")
    before = balance(S, mid)["available"]
    clock.tick()
    st, s1, _ = S.call("POST", "/v1/purchases", dict(ok, receipt_id="P-1"), key=pos2)
    check("auth: P-1 at shop-2 is another purchase",
          (st, (s1 or {}).get("partner"), (s1 or {}).get("points_earned"),
           (s1 or {}).get("balance", {}).get("available")), (201, "shop-2", 50, before + 50))
    check("auth: shop-2 key reads its P-1", S.call("GET", "/v1/purchases/P-1", key=pos2)[:2],
          (200, dict(s1, refunds=[])))
    check("auth: admin reads main's P-1 by default", S.call("GET", "/v1/purchases/P-1")[:2],
          (200, dict(p1, refunds=[])))
    check("auth: admin reads shop-2's P-1", S.call("GET", "/v1/purchases/P-1?partner=shop-2")[:2],
          (200, dict(s1, refunds=[])))
    st, a, _ = S.call("POST", "/v1/purchases", dict(ok, receipt_id="ADM-1", partner="shop-2"))
    check("auth: admin buys for shop-2", (st, (a or {}).get("partner")), (201, "shop-2"))
    st, f, _ = S.call("POST", "/v1/purchases/P-1/refunds", {"refund_id": "S2F-1"}, key=pos2)
    check("auth: shop-2 refunds its own P-1", (st, (f or {}).get("partner"), (f or {}).get("money_refund")),
          (201, "shop-2", 100000))
    check("auth: main's P-1 has no refunds", (S.call("GET", "/v1/purchases/P-1")[1] or {}).get("refunds"), [])


def paging_scenario(S, dasha):
    mid = dasha["id"]
    full = history(S, mid)
    check_true("paging: the member has many entries", isinstance(full, list) and len(full) >= 15,
               "got %r" % (full if not isinstance(full, list) else len(full)))
    st, first, _ = S.call("GET", "/v1/members/%s/history" % mid)
    check("paging: default page holds them all (≤ 50)", (st, (first or {}).get("items"),
                                                        (first or {}).get("next_cursor")), (200, full, None))
    for limit in (1, 3):
        got, cursor, pages, sizes = [], None, 0, set()
        while pages <= len(full) + 2:
            path = "/v1/members/%s/history?limit=%d" % (mid, limit)
            if cursor is not None:
                path += "&cursor=" + q(cursor)
            st, h, _ = S.call("GET", path)
            if st != 200:
                check("paging: limit=%d page %d" % (limit, pages), (st, h), (200, "a page"))
                break
            pages += 1
            got += h["items"]
            sizes.add(len(h["items"]))
            cursor = h.get("next_cursor")
            if cursor is None:
                break
        check("paging: limit=%d walks every entry exactly once, in order" % limit, got, full)
        check_true("paging: limit=%d pages hold at most %d entries" % (limit, limit), max(sizes) <= limit,
                   repr(sizes))
        check_true("paging: limit=%d takes ⌈n/limit⌉ pages (+1 at most)" % limit,
                   -(-len(full) // limit) <= pages <= -(-len(full) // limit) + 1, "pages %d" % pages)


def concurrency_scenario(S, clock):
    """16 threads × 25 purchases for one member, each redeeming 10 and earning 49
    (1000.00 ₽ − 10 points = 990.00 ₽ → 49.5 → 49), with every 5th receipt also sent
    by the neighbouring thread at the same time."""
    cm = new_member(S, "Conc", "+79004000001")
    mid = cm["id"]
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("C-start", [line("ball", 200000)], member=mid))
    check("conc: the starting balance", (st, (a or {}).get("balance")), (201, {"available": 100, "pending": 0}))
    T, N = 16, 25

    def body(r):
        return basket(r, [line("c", 100000)], member=mid, redeem=10)

    answers = {}
    alock = threading.Lock()
    barrier = threading.Barrier(T)
    errors = []

    def worker(i):
        c = S.new_client()
        rnd = random.Random(i)
        try:
            barrier.wait()
            for j in range(N):
                todo = ["C-%02d-%02d" % (i, j)]
                if j % 5 == 0:
                    todo.append("C-%02d-%02d" % ((i + T - 1) % T, j))
                rnd.shuffle(todo)
                for r in todo:
                    st, js, _ = c.call("POST", "/v1/purchases", body(r))
                    with alock:
                        answers.setdefault(r, []).append((st, js))
        except Exception as e:  # recorded below
            errors.append(repr(e))
        finally:
            c.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(T)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("# conc: %d requests in %.1f s" % (sum(len(v) for v in answers.values()), time.time() - t0), flush=True)
    check("conc: no client errors", errors, [])
    receipts = ["C-%02d-%02d" % (i, j) for i in range(T) for j in range(N)]
    check("conc: every receipt answered", sorted(answers), sorted(receipts))
    bad_status = {r: [s for s, _ in v] for r, v in answers.items() if any(s not in (200, 201) for s, _ in v)}
    check("conc: every answer is 200 or 201", bad_status, {})
    not_once = {r: [s for s, _ in v] for r, v in answers.items() if [s for s, _ in v].count(201) != 1}
    check("conc: exactly one 201 per receipt", not_once, {})
    differ = [r for r, v in answers.items() if any(js != v[0][1] for _, js in v)]
    check("conc: retries got the first answer", differ, [])
    first = {r: v[0][1] or {} for r, v in answers.items()}
    wrong = {r: (a.get("points_redeemed"), a.get("points_earned")) for r, a in first.items()
             if (a.get("points_redeemed"), a.get("points_earned")) != (10, 49)}
    check("conc: each purchase redeemed 10 and earned 49", wrong, {})
    expected = 100 + sum(a.get("points_earned", 0) - a.get("points_redeemed", 0) for a in first.values())
    check("conc: balance = the sum of the answers", balance(S, mid), bal(expected))
    seen = sorted(((a.get("balance") or {}).get("available") for a in first.values()), key=lambda x: x or 0)
    check("conc: the answers' balances are 100 + 39k for k = 1..400 (serial order)",
          seen, [100 + 39 * k for k in range(1, T * N + 1)])
    h = history(S, mid)
    check("conc: history has one earn and one redeem per purchase (+1 start)",
          (len(h), sum(1 for e in h if e.get("kind") == "earn"), sum(1 for e in h if e.get("kind") == "redeem")),
          (1 + 2 * T * N, 1 + T * N, T * N))
    sums = {}
    for e in h:
        k = "%s/%s" % (e.get("ref"), e.get("kind"))
        sums[k] = sums.get(k, 0) + e.get("points", 0)
    want = {"C-start/earn": 100}
    for r in receipts:
        want["%s/earn" % r] = 49
        want["%s/redeem" % r] = -10
    check("conc: history books each receipt once (points per receipt and kind)",
          {k: v for k, v in sums.items() if want.get(k) != v}, {})
    stored = {}
    for r in receipts:
        st, p, _ = S.call("GET", "/v1/purchases/" + r)
        if (st, p) != (200, dict(first[r], refunds=[])):
            stored[r] = (st, p)
    check("conc: each purchase is stored once with its answer", stored, {})


LINE_FIELDS = ("sku", "category", "qty", "price", "amount", "discount", "points", "certificates",
               "paid", "earned", "refunded_qty", "stamp_card", "free_units")


def stored_lines(S, rid):
    """A purchase's lines where it keeps them: (its row's JSON, parsed or None; purchase_lines rows)."""
    pid, text = kptest.db_query(S.db, "SELECT id, lines FROM purchases WHERE receipt_id = '%s'" % rid)[0]
    rows = kptest.db_query(S.db, "SELECT count(*) FROM purchase_lines WHERE purchase_id = %s" % pid)
    return pid, (json.loads(text) if text is not None else None), int(rows[0][0])


def old_lines_scenario(S, clock):
    """A purchase stored before version 11 (lines as purchase_lines rows) refunds like a new one."""
    clock.tick()
    lines = [line("lego-123", 349900, qty=2, category="toys"), line("doll-7", 120000)]
    answers = {}
    for rid, phone in (("OLD-1", "+79009110001"), ("NEW-1", "+79009110002")):
        m = new_member(S, rid, phone)
        st, answers[rid], _ = S.call("POST", "/v1/purchases", basket(rid, lines, member=m["id"]))
        check("old lines: %s → 201" % rid, st, 201)
    pid, stored, rows = stored_lines(S, "NEW-1")
    check("old lines: a new purchase keeps its lines in its row, none in purchase_lines",
          ([dict(zip(LINE_FIELDS, l)) for l in stored or []], rows),
          ([{"sku": "lego-123", "category": "toys", "qty": 2, "price": 349900, "amount": 699800,
             "discount": 0, "points": 0, "certificates": 0, "paid": 699800, "earned": 349,
             "refunded_qty": 0, "stamp_card": "", "free_units": 0},
            {"sku": "doll-7", "category": None, "qty": 1, "price": 120000, "amount": 120000,
             "discount": 0, "points": 0, "certificates": 0, "paid": 120000, "earned": 60,
             "refunded_qty": 0, "stamp_card": "", "free_units": 0}], 0))

    # OLD-1 as version 10 kept it: a row per line, nothing in purchases.lines.
    pid, stored, _ = stored_lines(S, "OLD-1")
    for no, l in enumerate(stored or []):
        v = dict(zip(LINE_FIELDS, l))
        kptest.db_exec(S.db, "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, qty, "
                       "price, amount, discount, points, certificates, paid, earned, stamp_card, "
                       "free_units) VALUES (%s, %d, '%s', %s, %d, %d, %d, %d, %d, %d, %d, %d, '', 0)"
                       % (pid, no, v["sku"], "'%s'" % v["category"] if v["category"] else "NULL",
                          v["qty"], v["price"], v["amount"], v["discount"], v["points"],
                          v["certificates"], v["paid"], v["earned"]))
    kptest.db_exec(S.db, "UPDATE purchases SET lines = NULL WHERE id = %s" % pid)
    check("old lines: OLD-1 keeps its lines as rows", stored_lines(S, "OLD-1")[1:], (None, 2))
    S.check_verify("old lines: lines in both forms")
    check("old lines: GET OLD-1 answers as before",
          S.call("GET", "/v1/purchases/OLD-1")[:2], (200, dict(answers["OLD-1"], refunds=[])))

    def refund_totals(ans):
        return {k: (ans or {}).get(k) for k in ("money_refund", "points_reversed", "points_returned")}

    got = {rid: S.call("POST", "/v1/purchases/%s/refunds" % rid,
                       {"refund_id": "F-" + rid, "lines": [{"sku": "lego-123", "qty": 1}]})
           for rid in ("OLD-1", "NEW-1")}
    check("old lines: one lego refunded from each → 201, the same totals",
          {rid: (st, refund_totals(a)) for rid, (st, a, _) in got.items()},
          {rid: (201, {"money_refund": 349900, "points_reversed": 174, "points_returned": 0})
           for rid in ("OLD-1", "NEW-1")})
    _, stored, rows = stored_lines(S, "OLD-1")
    check("old lines: the refund moved OLD-1's lines into its row with refunded_qty",
          ([l[10] for l in stored or []], rows), ([1, 0], 0))
    check("old lines: both purchases now keep the same lines",
          stored, stored_lines(S, "NEW-1")[1])
    st, a, _ = S.call("POST", "/v1/purchases/OLD-1/refunds", {"refund_id": "OF-2"})
    check("old lines: the rest of OLD-1 → 201", (st, refund_totals(a)),
          (201, {"money_refund": 469900, "points_reversed": 235, "points_returned": 0}))
    check_error("old lines: nothing left to refund → 422",
                S.call("POST", "/v1/purchases/OLD-1/refunds", {"refund_id": "OF-3"}),
                422, "refund_exceeds_purchase")


def verify_corruption_scenario(S):
    tmp = tempfile.mkdtemp(prefix="kptest-copy-")
    clean = os.path.join(tmp, "clean.db")
    S.copy_db(clean)
    rc, out = S.verify(clean)
    check_true("verify: a copy of the live database passes",
               rc == 0 and any(l.startswith("ok") for l in out.splitlines()),
               "exit %d, %r" % (rc, out[:300]))
    corruptions = [
        ("a member's available + 1", "UPDATE members SET available = available + 1 WHERE id = 1"),
        ("a member's pending + 1", "UPDATE members SET pending = pending + 1 WHERE id = 1"),
        ("the last transfer deleted", "DELETE FROM transfers WHERE id = (SELECT max(id) FROM transfers)"),
        ("a transfer's points + 1", "UPDATE transfers SET points = points + 1 WHERE id = (SELECT min(id) FROM transfers)"),
        ("a purchase's subtotal + 1",
         "UPDATE purchases SET subtotal = subtotal + 1 WHERE id = (SELECT min(id) FROM purchases)",
         "every purchase's lines add up to its totals, none refunded beyond its qty"),
        ("a line refunded more than it sold (the totals kept)",
         "UPDATE purchases SET lines = '[[\"x\",null,1,' || subtotal || ',' || subtotal || ',' || "
         "discount || ',' || points_redeemed || ',' || certificates || ',' || to_pay || ',' || "
         "points_earned || ',2,\"\",0]]' WHERE id = (SELECT min(id) FROM purchases WHERE lines "
         "IS NOT NULL)", "every purchase's lines add up to its totals, none refunded beyond its qty"),
        ("a purchase's lines in both places",
         "INSERT INTO purchase_lines (purchase_id, line_no, sku, qty, price, amount, discount, points, "
         "certificates, paid, earned) SELECT max(id), 0, 'x', 1, 0, 0, 0, 0, 0, 0, 0 FROM purchases "
         "WHERE lines IS NOT NULL", "every purchase keeps its lines in one place"),
        ("a purchase's lines cut short (not JSON)",
         "UPDATE purchases SET lines = '[[\"x\",' WHERE id = (SELECT min(id) FROM purchases "
         "WHERE lines IS NOT NULL)", "every purchase's lines are readable JSON"),
        ("a lot's remaining − 1",
         "UPDATE lots SET remaining = remaining - 1 WHERE id = (SELECT min(id) FROM lots WHERE remaining > 0)"),
    ]
    for i, (what, sql, *failing) in enumerate(corruptions):
        path = os.path.join(tmp, "bad%d.db" % i)
        S.copy_db(path)
        try:
            n = kptest.db_exec(path, sql)  # SQLite or PostgreSQL (KOPILKA_TEST_DB)
        except (sqlite3.Error, RuntimeError) as e:
            n = "error: %s" % e
        check("verify: corruption %r applied to one row" % what, n, 1)
        rc, out = S.verify(path)
        check_true("verify: %s → exit 1 and FAILED" % what,
                   rc == 1 and any(l.startswith("FAILED: " + "".join(failing))
                                   for l in out.splitlines()),
                   "exit %d, %r" % (rc, out[:300]))
    rc, out = S.verify(clean)
    check_true("verify: the clean copy still passes", rc == 0, "exit %d, %r" % (rc, out[:300]))
    shutil.rmtree(tmp, ignore_errors=True)


def toy_store():
    S = kptest.Server(TOY, name="toy")
    try:
        clock = Clock(S)
        S.check_verify("start")
        state = {}

        def run(name, fn):
            kptest.scenario(fn, name)
            S.check_verify(name)

        run("members", lambda: state.update(zip(("anna", "vera"), members_scenario(S, clock))))
        run("walkthrough", lambda: state.update(dasha=walkthrough_scenario(S, clock)))
        run("negative balance", lambda: negative_scenario(S, clock))
        if "dasha" in state:
            run("lookups", lambda: lookup_scenario(S, clock, state["dasha"]))
        run("bad input", lambda: bad_input_scenario(S, clock))
        run("bad programs", lambda: bad_program_scenario(S))
        if "dasha" in state:
            run("auth", lambda: auth_scenario(S, clock, state["dasha"]))
            run("paging", lambda: paging_scenario(S, state["dasha"]))
        run("concurrency", lambda: concurrency_scenario(S, clock))
        run("old lines", lambda: old_lines_scenario(S, clock))
        kptest.scenario(lambda: verify_corruption_scenario(S), "verify corruption")
        S.check_healthy("everything")
    finally:
        S.stop()


# ---------------------------------------------------------------- server 2: expiry and program versions

def expiry_scenario(S, clock):
    """Expiry 30 days: lots of 100 at t0 and t0+10d; spending 30 at t0+12d takes the earliest lot."""
    m = new_member(S, "Yana", "+79005000001")
    mid = m["id"]
    st, a, _ = S.call("POST", "/v1/purchases", basket("EX-1", [line("ball", 200000)], member=mid))
    check("expiry: EX-1 earns 100", (st, (a or {}).get("points_earned")), (201, 100))
    b = balance(S, mid)
    exp = b.get("expiring") or [{}]
    e1 = exp[0].get("expires_at", "")
    check("expiry: one lot of 100", [x.get("points") for x in exp], [100])
    try:
        days = (parse_iso(e1) - T0).total_seconds() / 86400
    except ValueError:
        days = None
    check_true("expiry: the first lot expires about 30 days after t0",
               days is not None and 29 <= days <= 31, "expires_at %r" % e1)
    clock.tick(days=10)
    st, a, _ = S.call("POST", "/v1/purchases", basket("EX-2", [line("ball", 200000)], member=mid))
    check("expiry: EX-2 earns 100", (st, (a or {}).get("points_earned")), (201, 100))
    e2 = iso(parse_iso(e1) + datetime.timedelta(days=10)) if days is not None else "?"
    e3 = iso(parse_iso(e1) + datetime.timedelta(days=12)) if days is not None else "?"
    e4 = e3
    check("expiry: two lots, soonest first", balance(S, mid),
          bal(200, expiring=[{"points": 100, "expires_at": e1}, {"points": 100, "expires_at": e2}]))

    # Spend 30 (< the first lot) at t0+12d; pays 970.00 ₽ → 48 points, a third lot.
    clock.tick(days=2)
    b3 = basket("EX-3", [line("ball", 100000)], member=mid, redeem=30)
    st, a, _ = S.call("POST", "/v1/purchases/quote", b3)
    check("expiry: a quote leaves the lots alone", balance(S, mid),
          bal(200, expiring=[{"points": 100, "expires_at": e1}, {"points": 100, "expires_at": e2}]))
    st, a, _ = S.call("POST", "/v1/purchases", b3)
    check("expiry: EX-3 spends 30, earns 48",
          (st, (a or {}).get("points_redeemed"), (a or {}).get("points_earned")), (201, 30, 48))
    check("expiry: the earliest lot was spent first", balance(S, mid),
          bal(218, expiring=[{"points": 70, "expires_at": e1}, {"points": 100, "expires_at": e2},
                             {"points": 48, "expires_at": e3}]))

    # Refunding EX-3 gives the 30 back with their original expiry and takes back its 48.
    st, f, _ = S.call("POST", "/v1/purchases/EX-3/refunds", {"refund_id": "FX-3"})
    check("expiry: refund EX-3",
          (st, (f or {}).get("money_refund"), (f or {}).get("points_reversed"), (f or {}).get("points_returned")),
          (201, 97000, 48, 30))
    check("expiry: the spent points are back in their lot", balance(S, mid),
          bal(200, expiring=[{"points": 100, "expires_at": e1}, {"points": 100, "expires_at": e2}]))

    # Spending 150 crosses lots: 100 from the first, 50 from the second; pays 2850.00 ₽ → 142.
    st, a, _ = S.call("POST", "/v1/purchases", basket("EX-4", [line("ball", 300000)], member=mid, redeem=150))
    check("expiry: EX-4 spends 150, earns 142",
          (st, (a or {}).get("points_redeemed"), (a or {}).get("points_earned")), (201, 150, 142))
    check("expiry: spending crosses lots in expiry order", balance(S, mid),
          bal(192, expiring=[{"points": 50, "expires_at": e2}, {"points": 142, "expires_at": e4}]))
    h = history(S, mid)
    check("expiry: a redemption across two lots is one history row",
          [(e.get("kind"), e.get("points")) for e in h if e.get("ref") == "EX-4"
           and e.get("kind") == "redeem"], [("redeem", -150)])
    return m


def versions_scenario(S, clock, yana):
    mid = yana["id"]
    st, p, _ = S.call("GET", "/v1/program")
    check("versions: GET /v1/program → 1", (st, (p or {}).get("version")), (200, 1))
    check_fields("versions: program 1 is the document served", (p or {}).get("program"), EXPIRING)
    st, ex1, _ = S.call("GET", "/v1/purchases/EX-1")

    v2 = {"name": "Expiring v2", "currency": "RUB", "point_value": 100, "rounding": "half_up",
          "earn": {"percent": 10, "check_steps": [{"min_subtotal": 500000, "percent": 15}]},
          "burn": {"max_percent": 20}, "expiry": {"days": 30}}
    check("versions: PUT v2 → 200 {version: 2}", S.call("PUT", "/v1/program", v2)[:2], (200, {"version": 2}))
    st, p, _ = S.call("GET", "/v1/program")
    check("versions: GET /v1/program → 2", (st, (p or {}).get("version")), (200, 2))
    check_fields("versions: program 2 is the new document", (p or {}).get("program"), v2)

    def quote(lines, redeem=None):
        st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, lines, member=mid, redeem=redeem))
        a = a or {}
        return st, a.get("program_version"), a.get("points_earned"), a.get("points_redeemed"), a.get("redeem_clamped")

    # half_up: 10% of 999.00 ₽ = 99.9 → 100; 4999.00 ₽ → 499.9 → 500; the 15% step from 5000.00 ₽ → 750.
    check("versions: v2, 10% half_up of 99900", quote([line("a", 99900)]), (200, 2, 100, 0, False))
    check("versions: v2, below the step", quote([line("a", 499900)]), (200, 2, 500, 0, False))
    check("versions: v2, at the step (15%)", quote([line("a", 500000)]), (200, 2, 750, 0, False))
    # burn 20%: cap 200 on 1000.00 ₽; spendable 192 → 192, clamped; pays 808.00 ₽ → 80.8 → 81.
    check("versions: v2, cap 20% vs balance 192", quote([line("a", 100000)], redeem=1000),
          (200, 2, 81, 192, True))
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("V-1", [line("a", 100000)], member=mid))
    check("versions: commit under v2", (st, (a or {}).get("program_version"), (a or {}).get("points_earned")),
          (201, 2, 100))
    check("versions: a retry of EX-1 answers as v1 did",
          S.call("POST", "/v1/purchases", basket("EX-1", [line("ball", 200000)], member=mid))[:2],
          (200, {k: v for k, v in (ex1 or {}).items() if k != "refunds"}))

    # v3: 2.5%, ceil: 999.00 ₽ → 24.975 → 25.
    v3 = {"rounding": "ceil", "earn": {"percent": 2.5}}
    check("versions: PUT v3 → 3", S.call("PUT", "/v1/program", v3)[:2], (200, {"version": 3}))
    check("versions: v3, 2.5% ceil of 99900", quote([line("a", 99900)]), (200, 3, 25, 0, False))

    # v4: discount 10% (earn 5% default): 1000.00 ₽ → 100.00 off, pays 900.00 ₽ → 45;
    # a 5% check step from 3000.00 ₽ would not stack with it (the highest applies).
    v4 = {"discount": {"percent": 10, "check_steps": [{"min_subtotal": 300000, "percent": 5}]}}
    check("versions: PUT v4 → 4", S.call("PUT", "/v1/program", v4)[:2], (200, {"version": 4}))
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("a", 100000)], member=mid))
    check_fields("versions: v4, 10% discount", dict(a or {}, status=st), {
        "status": 200, "program_version": 4, "subtotal": 100000, "discount": 10000, "to_pay": 90000,
        "points_earned": 45})
    check("versions: v4, discount on the line", [(x.get("amount"), x.get("discount"), x.get("paid"))
                                                for x in (a or {}).get("lines", [])], [(100000, 10000, 90000)])
    v5 = {"discount": {"percent": 0, "check_steps": [{"min_subtotal": 300000, "percent": 5}]}}
    check("versions: PUT v5 → 5", S.call("PUT", "/v1/program", v5)[:2], (200, {"version": 5}))
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("a", 300000)], member=mid))
    # 3000.00 ₽ − 5% = 2850.00 ₽ → 142.5 → 142.
    check_fields("versions: v5, check-step discount", dict(a or {}, status=st), {
        "status": 200, "program_version": 5, "discount": 15000, "to_pay": 285000, "points_earned": 142})
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("a", 299900)], member=mid))
    check_fields("versions: v5, below the step", dict(a or {}, status=st), {
        "status": 200, "discount": 0, "to_pay": 299900, "points_earned": 149})


def pending_scenario(S, clock):
    """earn.hold_days: points earned are pending, not spendable, and a refund takes them from pending."""
    v6 = {"earn": {"percent": 5, "hold_days": 14}}
    check("pending: PUT v6 → 6", S.call("PUT", "/v1/program", v6)[:2], (200, {"version": 6}))
    m = new_member(S, "Pyotr", "+79005000002")
    mid = m["id"]
    clock.tick()
    st, a, _ = S.call("POST", "/v1/purchases", basket("PD-1", [line("a", 200000)], member=mid))
    check_fields("pending: PD-1 earns 100 pending", dict(a or {}, status_code=st), {
        "status_code": 201, "points_earned": 100, "points_pending": True, "program_version": 6,
        "balance": {"available": 0, "pending": 100}})
    check_fields("pending: balance", balance(S, mid), {"available": 0, "pending": 100, "spendable": 0})
    h = history(S, mid)
    check("pending: history shows a pending earn",
          [(e.get("kind"), e.get("points"), e.get("account"), e.get("ref")) for e in h],
          [("earn", 100, "pending", "PD-1")])
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("a", 100000)], member=mid, redeem=50))
    check_fields("pending: pending points are not spendable", dict(a or {}, status_code=st), {
        "status_code": 200, "points_redeemed": 0, "max_redeemable": 0, "redeem_clamped": True})
    st, f, _ = S.call("POST", "/v1/purchases/PD-1/refunds", {"refund_id": "PDF-1"})
    check_fields("pending: refund takes the points from pending", dict(f or {}, status_code=st), {
        "status_code": 201, "points_reversed": 100, "points_returned": 0,
        "balance": {"available": 0, "pending": 0}})


def expiry_store():
    S = kptest.Server(EXPIRING, name="expiry")
    try:
        clock = Clock(S)
        state = {}
        kptest.scenario(lambda: state.update(yana=expiry_scenario(S, clock)), "expiry")
        S.check_verify("expiry")
        if "yana" in state:
            kptest.scenario(lambda: versions_scenario(S, clock, state["yana"]), "program versions")
            S.check_verify("program versions")
        kptest.scenario(lambda: pending_scenario(S, clock), "pending points")
        S.check_verify("pending points")
        S.check_healthy("everything")
    finally:
        S.stop()


# ---------------------------------------------------------------- server 3: no test clock, exclusions

def corner_scenario(S):
    check_error("corner: /v1/admin/clock without --test-clock → 404",
                S.call("POST", "/v1/admin/clock", {"now": iso(T0)}), 404, "not_found")
    st, p, _ = S.call("GET", "/v1/program")
    check_fields("corner: program 1", (p or {}).get("program"), CORNER)
    m = new_member(S, "Kira", "+79006000001")
    mid = m["id"]
    st, a, _ = S.call("POST", "/v1/purchases", basket("K-1", [line("ball", 2000000)], member=mid))
    check("corner: defaults earn 5% at 1 point per ₽", (st, (a or {}).get("points_earned")), (201, 1000))

    # Toys 1000.00 ₽ + tobacco 1000.00 ₽, ask 2000: only the toys line is eligible → cap 500.
    # Pays 1500.00 ₽ → 75 points: 25 on toys (paid 500.00), 50 on tobacco (paid 1000.00).
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [
        line("ball", 100000, category="toys"), line("cig", 100000, category="tobacco")], member=mid, redeem=2000))
    check_fields("corner: an excluded category", dict(a or {}, status_code=st), {
        "status_code": 200, "subtotal": 200000, "max_redeemable": 500, "points_redeemed": 500,
        "redeem_clamped": True, "to_pay": 150000, "points_earned": 75})
    check("corner: lines with an excluded category",
          [(x.get("sku"), x.get("points"), x.get("paid"), x.get("earned")) for x in (a or {}).get("lines", [])],
          [("ball", 500, 50000, 25), ("cig", 0, 100000, 50)])
    st, a, _ = S.call("POST", "/v1/purchases/quote", basket(None, [line("gift-box", 100000, category="toys")],
                                                            member=mid, redeem=100))
    check_fields("corner: an excluded sku earns but cannot be paid with points", dict(a or {}, status_code=st), {
        "status_code": 200, "max_redeemable": 0, "points_redeemed": 0, "redeem_clamped": True,
        "to_pay": 100000, "points_earned": 50})

    # Three equal lines, 1000 points: largest remainder gives 334/333/333; lines add up to the totals.
    st, a, _ = S.call("POST", "/v1/purchases", basket("K-2", [line("a", 100000), line("b", 100000),
                                                              line("c", 100000)], member=mid, redeem=1000))
    a = a or {}
    ls = a.get("lines", [])
    check("corner: K-2 totals", (st, a.get("points_redeemed"), a.get("to_pay"), a.get("points_earned")),
          (201, 1000, 200000, 100))
    check("corner: K-2 line points add up", (sorted(x.get("points") for x in ls), sum(x.get("paid", 0) for x in ls),
                                             sum(x.get("earned", 0) for x in ls)), ([333, 333, 334], 200000, 100))
    # Refund line b (333 points spent on it, earned ⌊…⌋ per line): the balance moves by exactly the answer.
    before = balance(S, mid).get("available")
    st, f, _ = S.call("POST", "/v1/purchases/K-2/refunds", {"refund_id": "KF-1", "lines": [{"sku": "b", "qty": 1}]})
    f = f or {}
    lb = next((x for x in ls if x.get("sku") == "b"), {})
    check("corner: refund of line b returns that line's numbers",
          (st, f.get("money_refund"), f.get("points_returned"), f.get("points_reversed")),
          (201, lb.get("paid"), lb.get("points"), lb.get("earned")))
    check("corner: balance after the refund",
          balance(S, mid).get("available"),
          (before or 0) - (f.get("points_reversed") or 0) + (f.get("points_returned") or 0))


def corner_store():
    S = kptest.Server(CORNER, test_clock=False, name="corner")
    try:
        kptest.scenario(lambda: corner_scenario(S), "exclusions")
        S.check_verify("exclusions")
        S.check_healthy("everything")
    finally:
        S.stop()


def main():
    t = time.time()
    for store in (toy_store, expiry_store, corner_store):
        kptest.scenario(store)
    print("# total %.1f s" % (time.time() - t), flush=True)
    kptest.summary()


if __name__ == "__main__":
    main()
