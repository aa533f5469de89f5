#!/usr/bin/env python3
"""Kopilka HTTP API suite for issue #4: customers and payment instruments.

Run from the repo root: `KOPILKA_BIN=./kopilka python3 tests/api/test_customers.py`.
It drives real `kopilka serve --test-clock` processes through tests/api/kptest.py:

1. members: registration (registration bonus, E.164 phones, consents, referral codes,
   Idempotency-Key), PATCH with the consent history and the export, card replacement and
   blocked cards, reported events with once / per_month limits (local calendar month),
   audited adjustments, erasure;
2. the jobs' one-off bonuses: referrals (paid once the friend's first purchase is
   earn.hold_days old, restarted by a full refund), birthdays (days_before, local time,
   29 February in non-leap years, once a year);
3. coupons: create, batch, percent / amount / points arithmetic, every refusal reason, use
   counts on commit / quote / refund, 8 threads racing for a single-use code;
4. gift certificates: issue, several per purchase in order, partial use, three purchases to
   exactly 0, refunds giving their share back, another member's certificate;
5. two-phase purchases: hold, confirm, cancel, their conflicts, holds released by the jobs.

After every scenario `kopilka verify` must pass. Point value is 100 everywhere (1 point =
1.00 ₽), so points = ⌊money paid × percent / 10000⌋.
"""

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import balance, history, member  # noqa: E402
from kptest import check, check_error, check_fields, check_true  # noqa: E402

CONSENTS = {"personal_data": True, "email": False, "sms": False, "push": False}
JOB_KEYS = ["activated_points", "birthday_bonuses", "certificates_issued", "expired_points",
            "holds_released", "referrals_paid", "reminders", "tier_downgrades", "tier_reviews"]

EVENTS = {"registration": {"points": 100},
          "birthday": {"points": 500, "days_before": 3},
          "referral": {"referrer_points": 300, "referee_points": 200},
          "review": {"points": 50, "per_month": 2},
          "subscription": {"points": 30, "once": True}}

# Members: 5% back held 14 days, Base/Silver tiers, one-off bonuses, shop in UTC+3.
MEMBERS = {"name": "Customers", "currency": "RUB", "point_value": 100, "utc_offset": "+03:00",
           "earn": {"percent": 5, "hold_days": 14}, "burn": {"max_percent": 50},
           "tiers": {"basis": "lifetime", "review": "monthly",
                     "levels": [{"name": "Base", "min_spend": 0},
                                {"name": "Silver", "min_spend": 1000000, "discount_percent": 5}]},
           "events": EVENTS}

# Payments: 5% back at once, 10% discount from 10,000.00 ₽, hold_minutes left at its default.
PAY = {"name": "Payments", "currency": "RUB", "point_value": 100,
       "earn": {"percent": 5}, "burn": {"max_percent": 50},
       "discount": {"check_steps": [{"min_subtotal": 1000000, "percent": 10}]}}


# ---------------------------------------------------------------- helpers

def q(v):
    return urllib.parse.quote(v, safe="")


def luhn_ok(card):
    if not (isinstance(card, str) and len(card) == 13 and card.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(card)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mistype(card):
    """One digit changed: a Luhn check digit catches every single-digit error."""
    i = 5
    return card[:i] + str((int(card[i]) + 1) % 10) + card[i + 1:]


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


def ans(t):
    st, js, _ = t
    return st, (js if isinstance(js, dict) else {"body": js})


def commit(S, rid, lines, member=None, redeem=None, client=None, key=kptest.DEFAULT, **extra):
    return ans((client or S).call("POST", "/v1/purchases", basket(rid, lines, member, redeem, **extra), key=key))


def quote(S, lines, member=None, redeem=None, **extra):
    return ans(S.call("POST", "/v1/purchases/quote", basket(None, lines, member, redeem, **extra)))


def expect(name, a, status, fields):
    st, js = a
    return check_fields(name, dict(js, status_code=st), dict(fields, status_code=status))


def register(S, name, phone, key=kptest.DEFAULT, **extra):
    body = {"name": name, "consents": extra.pop("consents", CONSENTS)}
    if phone is not None:
        body["phone"] = phone
    body.update(extra)
    st, m, _ = S.call("POST", "/v1/members", body, key=key)
    if not check("%s: register %s → 201" % (S.name, name), st, 201):
        raise RuntimeError("cannot register %s: %s %s" % (name, st, m))
    return m




def avail(S, mid):
    b = balance(S, mid)
    return {"available": b.get("available"), "pending": b.get("pending")}






def kind_rows(S, mid, kind):
    h = history(S, mid)
    if not isinstance(h, list):
        return h
    return sorted([e.get("points"), e.get("ref")] for e in h if e.get("kind") == kind)


def pos_key(S, partner="main"):
    st, k, _ = S.call("POST", "/v1/keys", {"role": "pos", "partner": partner})
    if not check("%s: make a pos key → 201" % S.name, st, 201):
        raise RuntimeError("no pos key: %s %s" % (st, k))
    return k


def jobs(S, name, expected):
    st, js, _ = S.call("POST", "/v1/admin/jobs/run")
    js = js if isinstance(js, dict) else {"body": js}
    check_fields(name, dict(js, status_code=st), dict(expected, status_code=200))
    return js


def coupon_uses(S, code):
    st, c, _ = S.call("GET", "/v1/coupons/" + q(code))
    return c.get("uses") if st == 200 and isinstance(c, dict) else ("status", st, c)


def cert_balance(S, code):
    st, c, _ = S.call("GET", "/v1/gift-certificates/" + q(code))
    return c.get("balance") if st == 200 and isinstance(c, dict) else ("status", st, c)


def no_purchase(S, name, rid):
    check_error(name + " (nothing written)", S.call("GET", "/v1/purchases/" + q(rid)), 404, "not_found")


def with_server(program, name, fn):
    S = kptest.Server(program, name=name)
    try:
        kptest.scenario(lambda: fn(S), name)
        S.check_verify(name)
    finally:
        S.stop()


def sorted_rows(rows):
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True)) if isinstance(rows, list) else rows


# ---------------------------------------------------------------- 1. members

MEMBER_KEYS = {"id", "card", "phone", "email", "name", "birthday", "external_id", "referral_code",
               "consents", "tier", "created_at", "balance"}


def registration(S):
    S.set_clock("2027-03-01T09:00:00Z")
    body = {"phone": "8 900 123-45-67", "email": "anna@example.ru", "name": "Anna",
            "birthday": "1990-05-17", "external_id": "crm-1",
            "consents": {"personal_data": True, "email": True, "sms": False, "push": True}}
    st, anna, _ = S.call("POST", "/v1/members", body)
    check("reg: Anna → 201", st, 201)
    check_true("reg: the member has every contract field", isinstance(anna, dict) and MEMBER_KEYS <= set(anna),
               "keys %r" % (sorted(anna) if isinstance(anna, dict) else anna))
    # The registration bonus (100) is already in the 201 answer's balance.
    check_fields("reg: Anna's fields", anna, {
        "phone": "+79001234567", "email": "anna@example.ru", "name": "Anna", "birthday": "1990-05-17",
        "external_id": "crm-1", "consents": {"personal_data": True, "email": True, "sms": False, "push": True},
        "tier": "Base", "created_at": "2027-03-01T09:00:00Z", "balance": {"available": 100, "pending": 0}})
    aid = anna["id"]
    check_true("reg: the card is 13 digits with a Luhn check digit", luhn_ok(anna.get("card")), repr(anna.get("card")))
    check("reg: GET by id is the same member", S.call("GET", "/v1/members/" + aid)[:2], (200, anna))
    check("reg: history: one registration bonus", kind_rows(S, aid, "bonus"), [[100, "registration"]])
    check("reg: the whole history is the bonus", [(e.get("kind"), e.get("points"), e.get("ref"))
                                                   for e in history(S, aid)], [("bonus", 100, "registration")])
    for phone in ("+79001234567", "+7 (900) 123-45-67", "89001234567", "900 123 45 67"):
        check_error("reg: phone %r again → 409 naming the phone" % phone,
                    S.call("POST", "/v1/members", {"phone": phone, "consents": CONSENTS}), 409, "conflict",
                    msg_has="+79001234567 is already registered")
    check("reg: ?phone=8 900 123-45-67 finds Anna",
          S.call("GET", "/v1/members?phone=" + q("8 900 123-45-67"))[:2], (200, anna))
    # Consent refused or missing: 422, nothing written.
    for tag, cons in (("false", dict(CONSENTS, personal_data=False)), ("missing", {"sms": True}), ("no consents", None)):
        b = {"phone": "+79001110001", "name": "X"}
        if cons is not None:
            b["consents"] = cons
        check_error("reg: personal_data %s → 422" % tag, S.call("POST", "/v1/members", b), 422, "consent_required")
    check_error("reg: refused consent wrote nothing", S.call("GET", "/v1/members?phone=%2B79001110001"), 404, "not_found")
    check_error("reg: unknown referral_code → 422", S.call("POST", "/v1/members", {
        "phone": "+79001110002", "referral_code": "NOPE2345", "consents": CONSENTS}), 422, "referral_invalid")
    check_error("reg: refused referral wrote nothing", S.call("GET", "/v1/members?phone=%2B79001110002"), 404, "not_found")
    # Idempotency-Key: same key + body → the same 201 answer; another body → 409.
    boris = {"phone": "+79001110003", "name": "Boris", "consents": CONSENTS}
    h = {"Idempotency-Key": "reg-boris-1"}
    st1, b1, _ = S.call("POST", "/v1/members", boris, headers=h)
    S.set_clock("2027-03-01T09:01:00Z")
    st2, b2, _ = S.call("POST", "/v1/members", boris, headers=h)
    check("reg: Idempotency-Key first → 201", st1, 201)
    check("reg: Idempotency-Key repeat → 201, the same answer", (st2, b2), (201, b1))
    check_error("reg: Idempotency-Key with another body → 409",
                S.call("POST", "/v1/members", dict(boris, name="Borya"), headers=h), 409, "idempotency_conflict")
    if isinstance(b1, dict) and "id" in b1:
        check("reg: Boris got one registration bonus", avail(S, b1["id"]), {"available": 100, "pending": 0})
    # Cards: a mistyped card is refused before any lookup.
    check_error("reg: ?card=<mistyped> → 400", S.call("GET", "/v1/members?card=" + mistype(anna["card"])),
                400, "invalid_request")
    check("reg: ?card=<right> finds Anna", S.call("GET", "/v1/members?card=" + anna["card"])[:2], (200, anna))
    S.check_verify("registration")


def patch_export(S):
    S.set_clock("2027-03-02T09:00:00Z")
    pk = pos_key(S)
    other = register(S, "Olga", "+79002220001", external_id="crm-olga")
    p = register(S, "Petr", "+79002220002", email="petr@example.ru", external_id="crm-petr",
                 birthday="1980-01-01", consents={"personal_data": True, "email": True, "sms": False, "push": False})
    pid = p["id"]
    path = "/v1/members/" + pid
    S.set_clock("2027-03-02T09:01:00Z")
    st, m, _ = S.call("PATCH", path, {"name": "Petr P", "phone": "8 (900) 222-00-09", "birthday": "1981-02-03"})
    check("patch: name, phone, birthday → 200", st, 200)
    check_fields("patch: the member has the new values", m, {
        "id": pid, "name": "Petr P", "phone": "+79002220009", "birthday": "1981-02-03", "email": "petr@example.ru",
        "external_id": "crm-petr", "card": p["card"], "tier": "Base"})
    check("patch: GET shows the same", member(S, pid), m)
    check_error("patch: the old phone is free → 404", S.call("GET", "/v1/members?phone=%2B79002220002"), 404, "not_found")
    st, m, _ = S.call("PATCH", path, {"email": None, "external_id": None})
    check("patch: null clears email and external_id", (st, m.get("email", "?"), m.get("external_id", "?")),
          (200, None, None))
    check_error("patch: the cleared external_id finds nobody", S.call("GET", "/v1/members?external_id=crm-petr"),
                404, "not_found")
    # Consents: only the named ones change; logged only when they change.
    S.set_clock("2027-03-02T09:02:00Z")
    st, m, _ = S.call("PATCH", path, {"consents": {"sms": True, "push": False}}, key=pk["key"])
    check("patch (pos): consents sms → 200, the others stay", (st, m.get("consents")),
          (200, {"personal_data": True, "email": True, "sms": True, "push": False}))
    S.set_clock("2027-03-02T09:03:00Z")
    st, m, _ = S.call("PATCH", path, {"consents": {"email": False, "sms": True}})
    check("patch: consents email off → 200", (st, m.get("consents")),
          (200, {"personal_data": True, "email": False, "sms": True, "push": False}))
    before = member(S, pid)
    check_error("patch: personal_data false → 422",
                S.call("PATCH", path, {"consents": {"personal_data": False}}), 422, "consent_required")
    check_error("patch: another member's phone → 409",
                S.call("PATCH", path, {"phone": "8 900 222-00-01"}), 409, "conflict")
    check_error("patch: another member's external_id → 409",
                S.call("PATCH", path, {"external_id": "crm-olga"}), 409, "conflict")
    check_error("patch: unknown field → 400", S.call("PATCH", path, {"nickname": "pp"}), 400, "invalid_request")
    check_error("patch: unknown consent → 400", S.call("PATCH", path, {"consents": {"fax": True}}), 400,
                "invalid_request")
    check("patch: refused patches changed nothing", member(S, pid), before)
    check("patch: the other member is untouched", member(S, other["id"]), other)
    # Export: admin only.
    check_error("export: pos → 403", S.call("GET", path + "/export", key=pk["key"]), 403, "forbidden")
    S.set_clock("2027-03-02T10:00:00Z")
    st, ex, _ = S.call("GET", path + "/export")
    check("export: → 200", st, 200)
    ex = ex if isinstance(ex, dict) else {}
    check("export: exported_at is now", ex.get("exported_at"), "2027-03-02T10:00:00Z")
    check("export: member is the member", ex.get("member"), before)
    check("export: cards", ex.get("cards"), [{"card": p["card"], "status": "active", "issued_at": "2027-03-02T09:00:00Z"}])
    check("export: balance is the member's balance", ex.get("balance"), balance(S, pid))
    hist = ex.get("history")
    items = hist.get("items") if isinstance(hist, dict) else hist
    check("export: history is the member's history", items, history(S, pid))
    ch = ex.get("consent_history")
    ch = ch if isinstance(ch, list) else []
    reg = [e for e in ch if isinstance(e, dict) and e.get("at") == "2027-03-02T09:00:00Z"]
    admin_ids = {e.get("key_id") for e in reg}
    admin_id = admin_ids.pop() if len(admin_ids) == 1 else "<%r>" % admin_ids
    check_true("export: registration's 4 entries carry one key id",
               len(reg) == 4 and admin_id is not None and not str(admin_id).startswith("<"),
               "entries %r" % reg)
    check_true("export: the admin key id is not the pos key's", admin_id != pk.get("id"),
               "admin %r pos %r" % (admin_id, pk.get("id")))
    T0, T2, T3 = "2027-03-02T09:00:00Z", "2027-03-02T09:02:00Z", "2027-03-02T09:03:00Z"
    want = [{"consent": "personal_data", "granted": True, "at": T0, "key_id": admin_id},
            {"consent": "email", "granted": True, "at": T0, "key_id": admin_id},
            {"consent": "sms", "granted": False, "at": T0, "key_id": admin_id},
            {"consent": "push", "granted": False, "at": T0, "key_id": admin_id},
            {"consent": "sms", "granted": True, "at": T2, "key_id": pk.get("id")},
            {"consent": "email", "granted": False, "at": T3, "key_id": admin_id}]
    check("export: consent_history: 4 at registration, then only the changes", sorted_rows(ex.get("consent_history")),
          sorted_rows(want))
    check_error("export: unknown member → 404", S.call("GET", "/v1/members/999999/export"), 404, "not_found")
    S.check_verify("patch and export")


def cards(S):
    S.set_clock("2027-03-03T09:00:00Z")
    pk = pos_key(S)
    c = register(S, "Cyril", "+79003330001")
    d = register(S, "Dasha", "+79003330002")
    cid, old = c["id"], c["card"]
    # C-1 by card: 10,000.00 ₽ → Silver; 5% = 500 points pending (hold_days 14).
    expect("cards: C-1 by card makes Silver", commit(S, "C-1", [line("bike", 1000000)], card=old), 201,
           {"member": cid, "points_earned": 500, "tier": "Silver", "balance": {"available": 100, "pending": 500}})
    b0, h0, m0 = balance(S, cid), history(S, cid), member(S, cid)
    S.set_clock("2027-03-03T10:00:00Z")
    st, r, _ = S.call("POST", "/v1/members/%s/cards" % cid, {"replace": old}, key=pk["key"])
    check("cards: replace (pos) → 201", st, 201)
    new = r.get("card") if isinstance(r, dict) else None
    check("cards: the answer", r, {"member": cid, "card": new, "blocked": old})
    check_true("cards: the new card is 13 digits with a Luhn check digit, not the old one",
               luhn_ok(new) and new != old, repr(new))
    check_error("cards: lookup by the old card → 422 card_blocked", S.call("GET", "/v1/members?card=" + old),
                422, "card_blocked")
    st, m, _ = S.call("GET", "/v1/members?card=%s" % new)
    check("cards: the new card finds the member", (st, m.get("id"), m.get("card"), m.get("tier")),
          (200, cid, new, "Silver"))
    check("cards: balance stays", balance(S, cid), b0)
    check("cards: history stays", history(S, cid), h0)
    check("cards: the member is the same but for the card", dict(member(S, cid), card=old), m0)
    check_error("cards: a purchase with the old card → 422 card_blocked",
                S.call("POST", "/v1/purchases", basket("C-2", [line("bell", 10000)], card=old)), 422, "card_blocked")
    no_purchase(S, "cards: the old card's purchase", "C-2")
    check_error("cards: a quote with the old card → 422 card_blocked",
                S.call("POST", "/v1/purchases/quote", basket(None, [line("bell", 10000)], card=old)), 422,
                "card_blocked")
    # C-3 with the new card: Silver 5% off 100.00 → 95.00; 5% → 4.75 → 4 points pending.
    expect("cards: a purchase with the new card", commit(S, "C-3", [line("bell", 10000)], card=new), 201,
           {"member": cid, "discount": 500, "to_pay": 9500, "points_earned": 4, "tier": "Silver",
            "balance": {"available": 100, "pending": 504}})
    check_error("cards: replacing the blocked card again → 422",
                S.call("POST", "/v1/members/%s/cards" % cid, {"replace": old}), 422, "card_blocked")
    check_error("cards: replacing another member's card → 404",
                S.call("POST", "/v1/members/%s/cards" % cid, {"replace": d["card"]}), 404, "not_found")
    check("cards: the other member's card still works", S.call("GET", "/v1/members?card=" + d["card"])[:2], (200, d))
    check_error("cards: mistyped new card → 400", S.call("GET", "/v1/members?card=" + mistype(new)), 400,
                "invalid_request")
    st, ex, _ = S.call("GET", "/v1/members/%s/export" % cid)
    check("cards: export lists both cards", sorted_rows(ex.get("cards") if isinstance(ex, dict) else ex), sorted_rows([
        {"card": old, "status": "blocked", "issued_at": "2027-03-03T09:00:00Z"},
        {"card": new, "status": "active", "issued_at": "2027-03-03T10:00:00Z"}]))
    S.check_verify("cards")


def adjustments(S):
    S.set_clock("2027-03-05T09:00:00Z")
    pk = pos_key(S)
    a = register(S, "Adam", "+79005550001")
    aid = a["id"]
    path = "/v1/members/%s/adjustments" % aid
    # 1,000.00 → 50 points pending: not spendable. Available 100 (registration).
    expect("adj: A-1", commit(S, "A-1", [line("tv", 100000)], member=aid), 201,
           {"balance": {"available": 100, "pending": 50}})
    check_error("adj: pos → 403", S.call("POST", path, {"points": 10, "reason": "x"}, key=pk["key"],
                                         headers={"Idempotency-Key": "adj-pos"}), 403, "forbidden")
    check_error("adj: no Idempotency-Key → 400", S.call("POST", path, {"points": 10, "reason": "x"}), 400,
                "invalid_request")
    check("adj: refused ones posted nothing", avail(S, aid), {"available": 100, "pending": 50})
    h1 = {"Idempotency-Key": "adj-1"}
    st, r1, _ = S.call("POST", path, {"points": 250, "reason": "goodwill"}, headers=h1)
    check("adj: +250 → 201", (st, r1), (201, {"member": aid, "points": 250, "reason": "goodwill",
                                               "balance": {"available": 350, "pending": 50}}))
    S.set_clock("2027-03-05T09:01:00Z")
    check("adj: repeat → the same answer", S.call("POST", path, {"points": 250, "reason": "goodwill"}, headers=h1)[:2],
          (201, r1))
    check_error("adj: same key, other body → 409",
                S.call("POST", path, {"points": 251, "reason": "goodwill"}, headers=h1), 409, "idempotency_conflict")
    check("adj: no second posting", avail(S, aid), {"available": 350, "pending": 50})
    # Spendable is 350: the 50 pending points cannot be taken.
    check_error("adj: −400 (beyond spendable, within available + pending) → 422",
                S.call("POST", path, {"points": -400, "reason": "too much"}, headers={"Idempotency-Key": "adj-2"}),
                422, "insufficient_points")
    check("adj: the refused one posted nothing", avail(S, aid), {"available": 350, "pending": 50})
    st, r3, _ = S.call("POST", path, {"points": -350, "reason": "correction"}, headers={"Idempotency-Key": "adj-3"})
    check("adj: −350 → 201", (st, r3), (201, {"member": aid, "points": -350, "reason": "correction",
                                               "balance": {"available": 0, "pending": 50}}))
    check("adj: history shows two adjust entries with ref = reason", kind_rows(S, aid, "adjust"),
          [[-350, "correction"], [250, "goodwill"]])
    check_error("adj: unknown member → 404", S.call("POST", "/v1/members/999999/adjustments",
                                                    {"points": 1, "reason": "x"}, headers={"Idempotency-Key": "adj-4"}),
                404, "not_found")
    S.check_verify("adjustments")


def erasure(S):
    S.set_clock("2027-03-06T09:00:00Z")
    pk = pos_key(S)
    e = register(S, "Eva", "+79006660001", email="eva@example.ru", birthday="1991-06-01", external_id="crm-eva")
    eid = e["id"]
    expect("erase: E-1", commit(S, "E-1", [line("coat", 200000)], member=eid), 201,
           {"points_earned": 100, "balance": {"available": 100, "pending": 100}})
    b0, h0 = balance(S, eid), history(S, eid)
    p0 = S.call("GET", "/v1/purchases/E-1")[:2]
    reports = ("/v1/reports/settlement?from=2027-01-01&to=2027-12-31",
               "/v1/reports/charity?from=2027-01-01&to=2027-12-31")
    r0 = [S.call("GET", path)[:2] for path in reports]
    check("erase: the reports answer before the erasure", [r[0] for r in r0], [200, 200])
    check_error("erase: pos → 403", S.call("DELETE", "/v1/members/" + eid, key=pk["key"]), 403, "forbidden")
    S.set_clock("2027-03-06T10:00:00Z")
    check("erase: DELETE → 200", S.call("DELETE", "/v1/members/" + eid)[:2],
          (200, {"id": eid, "erased_at": "2027-03-06T10:00:00Z"}))
    check_fields("erase: GET shows the personal data gone", member(S, eid), {
        "id": eid, "name": None, "phone": None, "email": None, "birthday": None, "external_id": None,
        "erased_at": "2027-03-06T10:00:00Z"})
    check_error("erase: the old phone finds nobody", S.call("GET", "/v1/members?phone=%2B79006660001"), 404, "not_found")
    check_error("erase: the old external_id finds nobody", S.call("GET", "/v1/members?external_id=crm-eva"),
                404, "not_found")
    check("erase: the balance stays (points still seen)", balance(S, eid), b0)
    check("erase: the history stays", history(S, eid), h0)
    check("erase: the purchase stays", S.call("GET", "/v1/purchases/E-1")[:2], p0)
    check("erase: the reports' totals are unchanged", [S.call("GET", path)[:2] for path in reports], r0)
    check("erase: every consent is withdrawn", member(S, eid).get("consents"),
          {"personal_data": False, "email": False, "sms": False, "push": False})
    # An erased member keeps their history but takes part in nothing new.
    check_error("erase: no new purchase for the erased member",
                S.call("POST", "/v1/purchases", {"receipt_id": "E-2", "member": eid,
                                                 "lines": [line("coat", 1000)]}), 404, "not_found",
                msg_has="was erased")
    check_error("erase: nor by their card",
                S.call("POST", "/v1/purchases", {"receipt_id": "E-3", "card": e["card"],
                                                 "lines": [line("coat", 1000)]}), 404, "not_found")
    check("erase: the refused purchases wrote nothing", S.call("GET", "/v1/purchases/E-2")[0], 404)
    S.check_verify("erasure")


def events(S):
    S.set_clock("2027-03-10T10:00:00Z")
    pk = pos_key(S)
    m = register(S, "Ivan", "+79007770001")
    mid = m["id"]
    path = "/v1/members/%s/events" % mid

    def ev(eid, typ, key=kptest.DEFAULT):
        return ans(S.call("POST", path, {"event_id": eid, "type": typ}, key=key))

    st, e1 = ev("EV-1", "review")
    check("events: review EV-1 → 201", (st, e1), (201, {"member": mid, "event_id": "EV-1", "type": "review",
                                                         "points": 50, "balance": {"available": 150, "pending": 0}}))
    S.set_clock("2027-03-10T10:01:00Z")
    check("events: EV-1 again → 201, the same answer", ev("EV-1", "review"), (201, e1))
    check_error("events: EV-1 as another type → 409", S.call("POST", path, {"event_id": "EV-1", "type": "subscription"}),
                409, "idempotency_conflict")
    check("events: no second bonus", avail(S, mid), {"available": 150, "pending": 0})
    expect("events: review EV-2 (pos) → 201", ev("EV-2", "review", key=pk["key"]), 201,
           {"points": 50, "balance": {"available": 200, "pending": 0}})
    # per_month 2 in the shop's calendar month (UTC+3): 31 March 23:59:59 local is still March.
    S.set_clock("2027-03-31T20:59:59Z")
    check_error("events: a third review in March → 422", S.call("POST", path, {"event_id": "EV-3", "type": "review"}),
                422, "limit_reached")
    S.set_clock("2027-03-31T21:00:00Z")  # 1 April 00:00 local
    expect("events: review on 1 April local → 201", ev("EV-4", "review"), 201,
           {"points": 50, "balance": {"available": 250, "pending": 0}})
    expect("events: subscription (once) → 201", ev("EV-5", "subscription"), 201,
           {"points": 30, "balance": {"available": 280, "pending": 0}})
    check_error("events: a second subscription → 422", S.call("POST", path, {"event_id": "EV-6", "type": "subscription"}),
                422, "limit_reached")
    S.set_clock("2027-05-10T10:00:00Z")
    check_error("events: subscription is once, even next month → 422",
                S.call("POST", path, {"event_id": "EV-7", "type": "subscription"}), 422, "limit_reached")
    for t in ("registration", "birthday", "referral", "webinar"):
        check_error("events: type %s → 422 event_invalid" % t,
                    S.call("POST", path, {"event_id": "EV-x-" + t, "type": t}), 422, "event_invalid")
    check("events: refusals posted nothing", avail(S, mid), {"available": 280, "pending": 0})
    check("events: bonus history", sorted(p for p, _ in kind_rows(S, mid, "bonus")), [30, 50, 50, 50, 100])
    check_error("events: unknown member → 404",
                S.call("POST", "/v1/members/999999/events", {"event_id": "EV-9", "type": "review"}), 404, "not_found")
    S.check_verify("events")


def members_part():
    def run(S):
        for fn in (registration, patch_export, cards, adjustments, erasure, events):
            kptest.scenario(lambda: fn(S), fn.__name__)
    with_server(MEMBERS, "members", run)


# ---------------------------------------------------------------- 2. jobs: referrals, birthdays

def referrals(S):
    S.set_clock("2027-03-01T09:00:00Z")
    r = register(S, "Roman", "+79011110001")
    f = register(S, "Fedor", "+79011110002", referral_code=r["referral_code"])
    r2 = register(S, "Rita", "+79011110003")
    f2 = register(S, "Fima", "+79011110004", referral_code=r2["referral_code"])
    check("ref: the friend's balance: registration only", f.get("balance"), {"available": 100, "pending": 0})
    jobs(S, "ref: jobs before any purchase: nothing", {"referrals_paid": 0})
    # P-1: Fedor's first purchase, 1,000.00 → 50 pending, hold 14 days → due 2027-03-15T10:00:00Z.
    S.set_clock("2027-03-01T10:00:00Z")
    expect("ref: P-1", commit(S, "P-1", [line("book", 100000)], member=f["id"]), 201,
           {"points_earned": 50, "balance": {"available": 100, "pending": 50}})
    S.set_clock("2027-03-01T11:00:00Z")
    expect("ref: P-2 (Fima's first)", commit(S, "P-2", [line("book", 100000)], member=f2["id"]), 201,
           {"points_earned": 50})
    jobs(S, "ref: jobs right after: nothing", {"referrals_paid": 0})
    S.set_clock("2027-03-03T11:00:00Z")
    expect("ref: P-2 refunded in full within the hold",
           ans(S.call("POST", "/v1/purchases/P-2/refunds", {"refund_id": "F-P2"})), 201,
           {"money_refund": 100000, "points_reversed": 50})
    S.set_clock("2027-03-15T09:59:59Z")
    jobs(S, "ref: one second before 14 days: nothing", {"referrals_paid": 0})
    check("ref: the referrer has nothing yet", avail(S, r["id"]), {"available": 100, "pending": 0})
    S.set_clock("2027-03-15T10:00:00Z")
    jobs(S, "ref: at 14 days: one referral paid", {"referrals_paid": 1})
    check("ref: the friend got 200 (and P-1's 50 activated)", avail(S, f["id"]), {"available": 350, "pending": 0})
    check("ref: the referrer got 300", avail(S, r["id"]), {"available": 400, "pending": 0})
    jobs(S, "ref: again: nothing", {"referrals_paid": 0})
    S.set_clock("2027-03-15T11:00:00Z")
    jobs(S, "ref: the refunded P-2 pays nothing", {"referrals_paid": 0})
    check("ref: the refunded friend got nothing", avail(S, f2["id"]), {"available": 100, "pending": 0})
    check("ref: neither did their referrer", avail(S, r2["id"]), {"available": 100, "pending": 0})
    # Fima's next purchase starts the wait again: due 2027-04-03T10:00:00Z.
    S.set_clock("2027-03-20T10:00:00Z")
    expect("ref: P-3 (Fima's next)", commit(S, "P-3", [line("pen", 100000)], member=f2["id"]), 201,
           {"points_earned": 50, "balance": {"available": 100, "pending": 50}})
    # Fedor buys again: his referral is paid already.
    expect("ref: P-4 (Fedor again)", commit(S, "P-4", [line("pen", 100000)], member=f["id"]), 201,
           {"points_earned": 50})
    S.set_clock("2027-04-03T09:59:59Z")
    jobs(S, "ref: a second before P-3 is 14 days old: nothing", {"referrals_paid": 0})
    S.set_clock("2027-04-03T10:00:00Z")
    jobs(S, "ref: P-3 at 14 days: one referral paid (not Fedor again)", {"referrals_paid": 1})
    check("ref: Fima got 200", avail(S, f2["id"]), {"available": 350, "pending": 0})
    check("ref: Rita got 300", avail(S, r2["id"]), {"available": 400, "pending": 0})
    check("ref: Fedor got nothing more", avail(S, f["id"]), {"available": 400, "pending": 0})
    check("ref: Roman got nothing more", avail(S, r["id"]), {"available": 400, "pending": 0})
    S.set_clock("2027-05-01T10:00:00Z")
    jobs(S, "ref: much later: nothing", {"referrals_paid": 0})
    check("ref: bonus history of the friend", sorted(p for p, _ in kind_rows(S, f2["id"], "bonus")), [100, 200])
    check("ref: bonus history of the referrer", sorted(p for p, _ in kind_rows(S, r2["id"], "bonus")), [100, 300])


def birthdays(S):
    S.set_clock("2027-05-01T09:00:00Z")
    b1 = register(S, "Bella", "+79012220001", birthday="1990-05-17")
    b2 = register(S, "Boris", "+79012220002", birthday="1990-05-18")
    register(S, "Nobday", "+79012220003")
    st, js, _ = S.call("POST", "/v1/admin/jobs/run")
    check("bday: the jobs report has every key", [k for k in JOB_KEYS if not isinstance(js, dict) or k not in js], [])
    # days_before 3, UTC+3: Bella's day is 14 May local, from 2027-05-13T21:00:00Z.
    S.set_clock("2027-05-13T20:59:59Z")
    jobs(S, "bday: 13 May 23:59:59 local: nothing", {"birthday_bonuses": 0})
    S.set_clock("2027-05-13T21:00:00Z")
    jobs(S, "bday: 14 May 00:00 local: Bella", {"birthday_bonuses": 1})
    check("bday: Bella got 500", avail(S, b1["id"]), {"available": 600, "pending": 0})
    S.set_clock("2027-05-14T20:59:59Z")
    jobs(S, "bday: a second run the same local day: nothing", {"birthday_bonuses": 0})
    S.set_clock("2027-05-14T21:00:00Z")
    jobs(S, "bday: 15 May local: Boris", {"birthday_bonuses": 1})
    check("bday: Boris got 500", avail(S, b2["id"]), {"available": 600, "pending": 0})
    check("bday: Bella still 600", avail(S, b1["id"]), {"available": 600, "pending": 0})
    # Carl's bonus day is 17 May local; no jobs run that day: the next run catches it up.
    b3 = register(S, "Carl", "+79012220004", birthday="1990-05-20")
    S.set_clock("2027-05-18T12:00:00Z")
    jobs(S, "bday: 18 May local, jobs missed 16 and 17 May: Carl caught up", {"birthday_bonuses": 1})
    check("bday: Carl got 500", avail(S, b3["id"]), {"available": 600, "pending": 0})
    S.set_clock("2027-05-19T12:00:00Z")
    jobs(S, "bday: the next day: nothing more", {"birthday_bonuses": 0})
    S.set_clock("2028-05-13T21:00:00Z")
    jobs(S, "bday: a year later: Bella again", {"birthday_bonuses": 1})
    check("bday: Bella 1100", avail(S, b1["id"]), {"available": 1100, "pending": 0})
    check("bday: Bella's bonus history", sorted(p for p, _ in kind_rows(S, b1["id"], "bonus")), [100, 500, 500])


LEAP = dict(MEMBERS, events=dict(EVENTS, birthday={"points": 500, "days_before": 0}))


def leap(S):
    S.set_clock("2027-02-01T09:00:00Z")
    lp = register(S, "Leo", "+79013330001", birthday="2000-02-29")
    c = register(S, "Cora", "+79013330002", birthday="1990-02-28")
    S.set_clock("2027-02-27T20:59:59Z")
    jobs(S, "leap: 27 Feb local: nothing", {"birthday_bonuses": 0})
    S.set_clock("2027-02-27T21:00:00Z")
    jobs(S, "leap: 28 Feb 2027 local: Leo (born 29 Feb) and Cora", {"birthday_bonuses": 2})
    check("leap: Leo got 500 on 28 Feb", avail(S, lp["id"]), {"available": 600, "pending": 0})
    S.set_clock("2027-02-28T12:00:00Z")
    jobs(S, "leap: again on 28 Feb: nothing", {"birthday_bonuses": 0})
    S.set_clock("2027-02-28T21:00:00Z")
    jobs(S, "leap: 1 March local: nothing", {"birthday_bonuses": 0})
    S.set_clock("2028-02-27T21:00:00Z")
    jobs(S, "leap: 28 Feb 2028 (leap year): Cora only", {"birthday_bonuses": 1})
    check("leap: Leo waits for 29 Feb", avail(S, lp["id"]), {"available": 600, "pending": 0})
    S.set_clock("2028-02-28T21:00:00Z")
    jobs(S, "leap: 29 Feb 2028 local: Leo", {"birthday_bonuses": 1})
    check("leap: Leo 1100", avail(S, lp["id"]), {"available": 1100, "pending": 0})
    check("leap: Cora 1100", avail(S, c["id"]), {"available": 1100, "pending": 0})


def jobs_part():
    with_server(MEMBERS, "referrals", referrals)
    with_server(MEMBERS, "birthdays", birthdays)
    with_server(LEAP, "leap birthdays", leap)


# ---------------------------------------------------------------- 3. coupons

def coupon(S, code, kind, value, **extra):
    body = {"code": code, "kind": kind, "value": value}
    body.update(extra)
    st, c, _ = S.call("POST", "/v1/coupons", body)
    check("%s: create coupon %s → 201" % (S.name, code), st, 201)
    return c


def coupons(S):
    S.set_clock("2027-03-15T10:00:00Z")
    pk = pos_key(S)
    m1 = register(S, "Mila", "+79021110001")["id"]
    m2 = register(S, "Mark", "+79021110002")["id"]
    full = {"code": "SPRING15", "kind": "percent", "value": 15, "max_uses": 100, "per_member": 2,
            "valid_from": "2027-03-01", "valid_to": "2027-03-31", "min_subtotal": 0, "member": None}
    st, c, _ = S.call("POST", "/v1/coupons", full)
    check("cpn: create SPRING15 → 201", st, 201)
    check_fields("cpn: the answer", c, {"code": "SPRING15", "kind": "percent", "value": 15, "max_uses": 100,
                                       "per_member": 2, "min_subtotal": 0, "member": None, "uses": 0, "batch": None})
    check_true("cpn: the answer has valid_from and valid_to", isinstance(c, dict) and "valid_from" in c
               and "valid_to" in c, repr(c))
    check_error("cpn: the same code again → 409", S.call("POST", "/v1/coupons", full), 409, "conflict")
    check_error("cpn: pos may not create → 403", S.call("POST", "/v1/coupons", dict(full, code="POS1"), key=pk["key"]),
                403, "forbidden")
    check("cpn: GET → the coupon", S.call("GET", "/v1/coupons/SPRING15")[:2], (200, c))
    # Percent after the percentage discounts: 20,000.00 − 10% (step) = 18,000.00; 15% of it = 2,700.00.
    big = [line("sofa", 2000000)]
    st, qa = quote(S, big, member=m1, coupons=["SPRING15"])
    expect("cpn: quote: percent on what is left after the step discount", (st, qa), 200,
           {"subtotal": 2000000, "to_pay": 1530000, "points_earned": 765,
            "coupons": [{"code": "SPRING15", "kind": "percent", "value": 270000}]})
    check_true("cpn: applied lists coupon:SPRING15", "coupon:SPRING15" in (qa.get("applied") or []),
               repr(qa.get("applied")))
    check("cpn: a quote counts no use", coupon_uses(S, "SPRING15"), 0)
    expect("cpn: K-1 commits with SPRING15", commit(S, "K-1", big, member=m1, coupons=["SPRING15"]), 201,
           {"to_pay": 1530000, "points_earned": 765,
            "coupons": [{"code": "SPRING15", "kind": "percent", "value": 270000}]})
    check("cpn: the commit counts one use", coupon_uses(S, "SPRING15"), 1)
    expect("cpn: K-2 uses it a second time", commit(S, "K-2", [line("cup", 10000)], member=m1, coupons=["SPRING15"]),
           201, {"to_pay": 8500})
    check_error("cpn: a third time by the same member → 422",
                S.call("POST", "/v1/purchases", basket("K-3", [line("cup", 10000)], member=m1, coupons=["SPRING15"])),
                422, "coupon_invalid", msg_has="already used 2 times by this member")
    no_purchase(S, "cpn: K-3", "K-3")
    check("cpn: uses stay 2", coupon_uses(S, "SPRING15"), 2)
    expect("cpn: another member may still use it (quote)", quote(S, [line("cup", 10000)], member=m2,
                                                                 coupons=["SPRING15"]), 200, {"to_pay": 8500})
    # Validity: dates inclusive, UTC.
    for now, ok, reason in (("2027-02-28T23:59:59Z", False, "not valid before"), ("2027-03-01T00:00:00Z", True, None),
                            ("2027-03-31T23:59:59Z", True, None), ("2027-04-01T00:00:00Z", False, "expired")):
        S.set_clock(now)
        a = S.call("POST", "/v1/purchases/quote", basket(None, [line("cup", 10000)], member=m2, coupons=["SPRING15"]))
        if ok:
            check("cpn: SPRING15 at %s → usable" % now, (a[0], (a[1] or {}).get("to_pay")), (200, 8500))
        else:
            check_error("cpn: SPRING15 at %s → %s" % (now, reason), a, 422, "coupon_invalid", msg_has=reason)
    S.set_clock("2027-03-15T10:00:00Z")
    coupon(S, "HOUR", "amount", 1000, valid_from="2027-03-15T12:00:00Z", valid_to="2027-03-15T13:00:00Z")
    for now, ok, reason in (("2027-03-15T11:59:59Z", False, "not valid before"), ("2027-03-15T12:30:00Z", True, None),
                            ("2027-03-15T13:00:01Z", False, "expired")):
        S.set_clock(now)
        a = S.call("POST", "/v1/purchases/quote", basket(None, [line("cup", 10000)], coupons=["HOUR"]))
        if ok:
            check("cpn: HOUR (RFC 3339) at %s → usable" % now, (a[0], (a[1] or {}).get("to_pay")), (200, 9000))
        else:
            check_error("cpn: HOUR (RFC 3339) at %s → %s" % (now, reason), a, 422, "coupon_invalid", msg_has=reason)
    S.set_clock("2027-03-16T10:00:00Z")
    # Amount: spread over the lines by amount, never making a line negative.
    coupon(S, "AMT100", "amount", 10000)
    coupon(S, "AMT500", "amount", 50000)
    two = [line("a", 30000), line("b", 10000)]
    st, a = quote(S, two, coupons=["AMT100"])
    expect("cpn: amount 100.00 on 400.00", (st, a), 200,
           {"to_pay": 30000, "coupons": [{"code": "AMT100", "kind": "amount", "value": 10000}]})
    check("cpn: amount spread 75.00 / 25.00", [l.get("paid") for l in a.get("lines") or []], [22500, 7500])
    st, a = quote(S, two, coupons=["AMT500"])
    expect("cpn: amount 500.00 on 400.00 takes 400.00", (st, a), 200,
           {"to_pay": 0, "coupons": [{"code": "AMT500", "kind": "amount", "value": 40000}]})
    check("cpn: no line negative", [l.get("paid") for l in a.get("lines") or []], [0, 0])
    check_true("cpn: applied lists coupon:AMT500", "coupon:AMT500" in (a.get("applied") or []), repr(a.get("applied")))
    # Points: bonus points on top; members only.
    coupon(S, "PTS50", "points", 50)
    st, a = commit(S, "K-4", [line("cup", 10000)], member=m2, coupons=["PTS50"])
    expect("cpn: points coupon adds 50 to the 5 earned", (st, a), 201,
           {"to_pay": 10000, "points_earned": 55, "balance": {"available": 55, "pending": 0},
            "coupons": [{"code": "PTS50", "kind": "points", "value": 50}]})
    check_true("cpn: applied lists coupon:PTS50", "coupon:PTS50" in (a.get("applied") or []), repr(a.get("applied")))
    check_error("cpn: a points coupon without a member → 422",
                S.call("POST", "/v1/purchases", basket("K-5", [line("cup", 10000)], coupons=["PTS50"])),
                422, "coupon_invalid", msg_has="gives points, so it needs a member")
    no_purchase(S, "cpn: K-5", "K-5")
    # Refusal reasons; nothing is written.
    coupon(S, "ONCE", "amount", 1000, max_uses=1)
    coupon(S, "MILA", "amount", 1000, member=m1)
    coupon(S, "MIN1000", "amount", 1000, min_subtotal=100000)
    expect("cpn: ONCE used", commit(S, "K-6", [line("cup", 10000)], coupons=["ONCE"]), 201, {"to_pay": 9000})
    b2 = avail(S, m2)
    for rid, body, reason in (
            ("K-7", {"coupons": ["NOSUCH"]}, "unknown code"),
            ("K-8", {"coupons": ["ONCE"]}, "used up"),
            ("K-9", {"coupons": ["MILA"], "member": m2}, "belongs to another member"),
            ("K-10", {"coupons": ["MIN1000"]}, "needs a subtotal of at least"),
            ("K-11", {"coupons": ["AMT100", "AMT100"], "member": m2}, "given twice")):
        b = basket(rid, [line("cup", 99999)], **body)
        check_error("cpn: %s → %s" % (body["coupons"], reason), S.call("POST", "/v1/purchases", b), 422,
                    "coupon_invalid", msg_has=reason)
        no_purchase(S, "cpn: %s" % rid, rid)
    check("cpn: refusals changed no balance", avail(S, m2), b2)
    check("cpn: refusals counted no use", [coupon_uses(S, c) for c in ("ONCE", "MILA", "MIN1000", "AMT100")],
          [1, 0, 0, 0])
    expect("cpn: MILA for Mila (quote)", quote(S, [line("cup", 10000)], member=m1, coupons=["MILA"]), 200,
           {"to_pay": 9000})
    expect("cpn: MIN1000 at exactly 1,000.00 (quote)", quote(S, [line("cup", 100000)], coupons=["MIN1000"]), 200,
           {"to_pay": 99000})
    # Refunds: a full refund gives the use back, a partial one does not.
    coupon(S, "BACK", "amount", 1000, max_uses=1)
    coupon(S, "PART", "amount", 1000, max_uses=1)
    expect("cpn: K-12 with BACK", commit(S, "K-12", [line("cup", 10000, 2)], coupons=["BACK"]), 201, {"to_pay": 19000})
    expect("cpn: K-13 with PART", commit(S, "K-13", [line("cup", 10000, 2)], coupons=["PART"]), 201, {"to_pay": 19000})
    check("cpn: both used", [coupon_uses(S, "BACK"), coupon_uses(S, "PART")], [1, 1])
    expect("cpn: K-12 refunded in full", ans(S.call("POST", "/v1/purchases/K-12/refunds", {"refund_id": "KR-12"})), 201,
           {"money_refund": 19000})
    expect("cpn: K-13 refunded in part", ans(S.call("POST", "/v1/purchases/K-13/refunds",
                                                    {"refund_id": "KR-13", "lines": [{"sku": "cup", "qty": 1}]})),
           201, {"money_refund": 9500})
    check("cpn: the full refund gave the use back, the partial did not",
          [coupon_uses(S, "BACK"), coupon_uses(S, "PART")], [0, 1])
    expect("cpn: BACK usable again", commit(S, "K-14", [line("cup", 10000)], coupons=["BACK"]), 201, {"to_pay": 9000})
    check_error("cpn: PART still used up", S.call("POST", "/v1/purchases", basket("K-15", [line("cup", 10000)],
                                                                                   coupons=["PART"])),
                422, "coupon_invalid", msg_has="used up")
    # Batch.
    st, bt, _ = S.call("POST", "/v1/coupons/batch", {"count": 200, "prefix": "BF-", "kind": "amount", "value": 500,
                                                     "max_uses": 1})
    check("cpn: batch of 200 → 201", st, 201)
    codes = bt.get("codes") if isinstance(bt, dict) else None
    codes = codes if isinstance(codes, list) else []
    check_fields("cpn: batch answer", bt, {"count": 200})
    check("cpn: 200 unique codes", len(set(codes)), 200)
    check_true("cpn: each is BF- and 12 characters",
               all(isinstance(x, str) and x.startswith("BF-") and len(x) == 15 for x in codes), repr(codes[:3]))
    if codes:
        st, one, _ = S.call("GET", "/v1/coupons/" + q(codes[0]))
        check("cpn: a batch code's coupon", (st, {k: one.get(k) for k in ("code", "kind", "value", "uses", "batch")}),
              (200, {"code": codes[0], "kind": "amount", "value": 500, "uses": 0, "batch": bt.get("batch")}))
        expect("cpn: a batch code works", commit(S, "K-16", [line("cup", 10000)], coupons=[codes[0]]), 201,
               {"to_pay": 9500})
    # The largest batch: 100000 codes, all unique.
    st, big, _ = S.call("POST", "/v1/coupons/batch", {"count": 100000, "prefix": "BIG-", "kind": "points", "value": 1})
    bc = big.get("codes") if isinstance(big, dict) else None
    bc = bc if isinstance(bc, list) else []
    check("cpn: batch of 100000 → 201 with 100000 unique codes",
          (st, big.get("count") if isinstance(big, dict) else big, len(bc), len(set(bc))), (201, 100000, 100000, 100000))
    check_true("cpn: each is BIG- and 12 characters",
               all(isinstance(x, str) and x.startswith("BIG-") and len(x) == 16 for x in bc), repr(bc[:3]))
    check_true("cpn: the two batches have different ids", isinstance(big, dict) and isinstance(bt, dict)
               and big.get("batch") != bt.get("batch"), "%r %r" % (big.get("batch") if isinstance(big, dict) else big,
                                                                 bt.get("batch") if isinstance(bt, dict) else bt))
    check_error("cpn: batch over 100000 → 400", S.call("POST", "/v1/coupons/batch", {
        "count": 100001, "prefix": "X-", "kind": "amount", "value": 1}), 400, "invalid_request")
    check_error("cpn: batch by pos → 403", S.call("POST", "/v1/coupons/batch", {
        "count": 1, "prefix": "X-", "kind": "amount", "value": 1}, key=pk["key"]), 403, "forbidden")
    check_error("cpn: unknown coupon → 404", S.call("GET", "/v1/coupons/NOSUCH"), 404, "not_found")
    # 8 threads race for a single-use code: exactly one purchase.
    coupon(S, "SOLO", "amount", 1000, max_uses=1)
    barrier = threading.Barrier(8)
    results = [None] * 8

    def worker(i):
        cl = S.new_client()
        try:
            barrier.wait(30)
            results[i] = commit(S, "RACE-%d" % i, [line("cup", 10000)], coupons=["SOLO"], client=cl)
        except Exception as e:  # noqa: BLE001
            results[i] = (None, {"error": repr(e)})
        finally:
            cl.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    sts = sorted(r[0] if r else None for r in results)
    check("cpn: race: one 201, seven 422", sts, [201] + [422] * 7)
    check("cpn: race: the losers are coupon_invalid",
          sorted(((r[1].get("error") or {}).get("code")) for r in results if r and r[0] == 422), ["coupon_invalid"] * 7)
    check("cpn: race: one use", coupon_uses(S, "SOLO"), 1)
    S.check_verify("coupons")


# ---------------------------------------------------------------- 4. gift certificates

CERTS = dict(PAY, thresholds=[{"points": 100, "gift_certificate": 5000}])


def gc(S, amount, key=kptest.DEFAULT, **extra):
    st, c, _ = S.call("POST", "/v1/gift-certificates", dict({"amount": amount}, **extra), key=key)
    check("%s: issue a %d certificate → 201" % (S.name, amount), st, 201)
    return c.get("code") if isinstance(c, dict) else None


def certificates(S):
    S.set_clock("2027-03-15T10:00:00Z")
    pk = pos_key(S)
    st, c, _ = S.call("POST", "/v1/gift-certificates", {"amount": 100000}, key=pk["key"])
    check("gc: issue (pos) → 201", st, 201)
    code = c.get("code") if isinstance(c, dict) else ""
    check("gc: the answer", c, {"code": code, "amount": 100000, "balance": 100000, "expires_at": None,
                                "source": "issued", "member": None, "partner": "main",
                                "issued_at": "2027-03-15T10:00:00Z"})
    check_true("gc: the code is GC-…", isinstance(code, str) and code.startswith("GC-"), repr(code))
    check("gc: GET → its balance", (S.call("GET", "/v1/gift-certificates/" + q(code))[:2]), (200, c))
    # Several in order: A (30.00) then B (100.00) on 80.00.
    ga, gb = gc(S, 3000), gc(S, 10000)
    st, a = commit(S, "G-1", [line("toy", 8000)], gift_certificates=[ga, gb])
    expect("gc: G-1 paid by A then B", (st, a), 201,
           {"certificates": 8000, "to_pay": 0,
            "certificates_paid": [{"code": ga, "amount": 3000, "balance": 0},
                                  {"code": gb, "amount": 5000, "balance": 5000}]})
    check("gc: balances after G-1", [cert_balance(S, ga), cert_balance(S, gb)], [0, 5000])
    check_error("gc: an empty certificate → 422",
                S.call("POST", "/v1/purchases", basket("G-2", [line("toy", 1000)], gift_certificates=[gb, ga])),
                422, "certificate_invalid")
    no_purchase(S, "gc: G-2", "G-2")
    check("gc: the refused purchase took nothing from B", cert_balance(S, gb), 5000)
    check_error("gc: unknown → 422", S.call("POST", "/v1/purchases", basket("G-3", [line("toy", 1000)],
                                                                            gift_certificates=["GC-NOSUCH"])),
                422, "certificate_invalid")
    # Three purchases take a 100.00 certificate to exactly 0.
    g3 = gc(S, 10000)
    for rid, price, paid, left, to_pay in (("G-4", 3333, 3333, 6667, 0), ("G-5", 3333, 3333, 3334, 0),
                                           ("G-6", 5000, 3334, 0, 1666)):
        expect("gc: %s" % rid, commit(S, rid, [line("toy", price)], gift_certificates=[g3]), 201,
               {"certificates": paid, "to_pay": to_pay,
                "certificates_paid": [{"code": g3, "amount": paid, "balance": left}]})
    check("gc: after three purchases: exactly 0", cert_balance(S, g3), 0)
    # Points pay first, then certificates: 200.00 − 50 points − certificate 100.00 = 50.00.
    p = register(S, "Pavel", "+79031110001")["id"]
    st, r, _ = S.call("POST", "/v1/members/%s/adjustments" % p, {"points": 80, "reason": "welcome"},
                      headers={"Idempotency-Key": "gc-adj"})
    check("gc: +80 points", st, 201)
    gp = gc(S, 10000)
    expect("gc: G-7 points then certificate", commit(S, "G-7", [line("toy", 20000)], member=p, redeem=50,
                                                     gift_certificates=[gp]), 201,
           {"points_redeemed": 50, "certificates": 10000, "to_pay": 5000,
            "certificates_paid": [{"code": gp, "amount": 10000, "balance": 0}]})
    # Refunds give the certificates' share of the refunded lines back.
    # G-8: 600.00 + 400.00, certificate 300.00 → shares 180.00 / 120.00; paid 420.00 / 280.00.
    gr = gc(S, 30000)
    expect("gc: G-8", commit(S, "G-8", [line("ga", 60000), line("gb", 40000)], gift_certificates=[gr]), 201,
           {"certificates": 30000, "to_pay": 70000})
    expect("gc: refund of line gb", ans(S.call("POST", "/v1/purchases/G-8/refunds",
                                               {"refund_id": "GR-1", "lines": [{"sku": "gb", "qty": 1}]})), 201,
           {"money_refund": 28000, "certificates_returned": [{"code": gr, "amount": 12000}]})
    check("gc: the certificate got 120.00 back", cert_balance(S, gr), 12000)
    expect("gc: refund of the rest", ans(S.call("POST", "/v1/purchases/G-8/refunds", {"refund_id": "GR-2"})), 201,
           {"money_refund": 42000, "certificates_returned": [{"code": gr, "amount": 18000}]})
    check("gc: the certificate is whole again", cert_balance(S, gr), 30000)
    # Expiry.
    st, c, _ = S.call("POST", "/v1/gift-certificates", {"amount": 5000, "expires_at": "2027-03-20T00:00:00Z"})
    check_fields("gc: issue with expires_at → 201", dict(c if isinstance(c, dict) else {}, status_code=st),
                 {"status_code": 201, "amount": 5000, "balance": 5000, "expires_at": "2027-03-20T00:00:00Z",
                  "source": "issued", "member": None})
    ge = c.get("code") if isinstance(c, dict) else None
    S.set_clock("2027-03-19T23:59:59Z")
    expect("gc: before its expiry it pays (quote)", quote(S, [line("toy", 1000)], gift_certificates=[ge]), 200,
           {"certificates": 1000, "to_pay": 0})
    S.set_clock("2027-03-20T00:00:01Z")
    check_error("gc: expired → 422", S.call("POST", "/v1/purchases", basket("G-9", [line("toy", 1000)],
                                                                             gift_certificates=[ge])),
                422, "certificate_invalid")
    no_purchase(S, "gc: G-9", "G-9")
    # Another member's: a threshold certificate (100 points → 50.00) belongs to its member.
    t1 = register(S, "Tanya", "+79031110002")["id"]
    t2 = register(S, "Tolya", "+79031110003")["id"]
    st, a = commit(S, "G-10", [line("big", 200000)], member=t1)  # 5% of 2,000.00 = 100 points
    certs = a.get("certificates_issued")
    tc = certs[0].get("code") if isinstance(certs, list) and len(certs) == 1 and isinstance(certs[0], dict) else None
    check("gc: G-10 gives Tanya a 50.00 certificate", (st, certs), (201, [{"code": tc, "amount": 5000, "points": 100}]))
    if tc:
        check_fields("gc: it is Tanya's", (S.call("GET", "/v1/gift-certificates/" + q(tc))[1]),
                     {"member": t1, "balance": 5000})
        check_error("gc: Tolya cannot use Tanya's → 422",
                    S.call("POST", "/v1/purchases", basket("G-11", [line("toy", 1000)], member=t2,
                                                          gift_certificates=[tc])), 422, "certificate_invalid")
        no_purchase(S, "gc: G-11", "G-11")
        expect("gc: Tanya can (quote)", quote(S, [line("toy", 1000)], member=t1, gift_certificates=[tc]), 200,
               {"certificates": 1000, "to_pay": 0})
    S.check_verify("certificates")


# ---------------------------------------------------------------- 5. two-phase purchases

def two_phase(S):
    S.set_clock("2027-03-15T10:00:00Z")
    h = register(S, "Hanna", "+79041110001")["id"]
    st, _, _ = S.call("POST", "/v1/members/%s/adjustments" % h, {"points": 1000, "reason": "seed"},
                      headers={"Idempotency-Key": "tp-seed"})
    check("tp: +1000 points", st, 201)
    coupon(S, "HC1", "percent", 10, max_uses=1)
    g = gc(S, 20000)
    # 1,000.00 − 10% coupon = 900.00; 300 points = 300.00 → 600.00; certificate 200.00 → 400.00.
    hold = basket("H-1", [line("lamp", 100000)], member=h, redeem=300, coupons=["HC1"], gift_certificates=[g], hold=True)
    st, a = ans(S.call("POST", "/v1/purchases", hold))
    expect("tp: hold H-1 → 201 held", (st, a), 201,
           {"status": "held", "hold_expires_at": "2027-03-15T10:30:00Z", "points_redeemed": 300,
            "certificates": 20000, "to_pay": 40000})
    earned = a.get("points_earned")
    check_true("tp: points_earned shown", isinstance(earned, int) and earned > 0, repr(earned))
    earned = earned if isinstance(earned, int) else 0
    check("tp: points taken at once, earned not credited", avail(S, h), {"available": 700, "pending": 0})
    check("tp: coupon use taken", coupon_uses(S, "HC1"), 1)
    check("tp: certificate amount taken", cert_balance(S, g), 0)
    expect("tp: another purchase cannot spend the held points", quote(S, [line("tv", 1000000)], member=h, redeem=1000),
           200, {"max_redeemable": 700, "points_redeemed": 700})
    check_error("tp: refunding a held purchase → 409",
                S.call("POST", "/v1/purchases/H-1/refunds", {"refund_id": "HR-1"}), 409, "conflict")
    S.set_clock("2027-03-15T10:05:00Z")
    st, c = ans(S.call("POST", "/v1/purchases/H-1/confirm"))
    expect("tp: confirm → 200 committed", (st, c), 200,
           {"status": "committed", "confirmed_at": "2027-03-15T10:05:00Z", "points_redeemed": 300,
            "points_earned": earned, "to_pay": 40000, "balance": {"available": 700 + earned, "pending": 0}})
    check_true("tp: confirm answer has tier", "tier" in c, repr(sorted(c)))
    S.set_clock("2027-03-15T10:06:00Z")
    check("tp: confirm again → 200 the same", ans(S.call("POST", "/v1/purchases/H-1/confirm")), (200, c))
    check_error("tp: cancel a confirmed hold → 409", S.call("POST", "/v1/purchases/H-1/cancel"), 409, "conflict")
    check("tp: balance after confirm", avail(S, h), {"available": 700 + earned, "pending": 0})
    check("tp: coupon still used once", coupon_uses(S, "HC1"), 1)
    # A confirmed hold's answer is stored again (by jansson, ASCII-only); repeating
    # the receipt still answers raw UTF-8, as every other answer is sent.
    milk = basket("H-U", [line("Молоко «3,2%»", 10000)], member=h, hold=True)
    cl = S.new_client()
    st, _, _ = cl.call("POST", "/v1/purchases", milk)
    check("tp: hold H-U → 201", st, 201)
    check("tp: confirm H-U → 200", S.call("POST", "/v1/purchases/H-U/confirm")[0], 200)
    st, again, _ = cl.call("POST", "/v1/purchases", milk)
    check("tp: repeat H-U after confirm → 200 committed",
          (st, (again or {}).get("status")), (200, "committed"))
    check_true("tp: its SKU in UTF-8, not \\u escapes",
               "Молоко «3,2%»".encode() in cl.last_raw and b"\\u" not in cl.last_raw,
               cl.last_raw[:300])
    # Cancel: points, coupon use and certificate amount come back.
    coupon(S, "HC2", "amount", 1000, max_uses=1)
    g2 = gc(S, 5000)
    b0 = avail(S, h)
    st, a2 = ans(S.call("POST", "/v1/purchases", basket("H-2", [line("lamp", 20000)], member=h, redeem=90,
                                                        coupons=["HC2"], gift_certificates=[g2], hold=True)))
    # 200.00 − 10.00 = 190.00; 90 points (cap 50% = 95) → 100.00; certificate 50.00 → 50.00.
    expect("tp: hold H-2", (st, a2), 201, {"status": "held", "points_redeemed": 90, "certificates": 5000,
                                           "to_pay": 5000})
    check("tp: H-2 took the points", avail(S, h), {"available": b0["available"] - 90, "pending": 0})
    check("tp: H-2 took the coupon and certificate", [coupon_uses(S, "HC2"), cert_balance(S, g2)], [1, 0])
    check_error("tp: refunding held H-2 → 409", S.call("POST", "/v1/purchases/H-2/refunds", {"refund_id": "HR-2"}),
                409, "conflict")
    st, x = ans(S.call("POST", "/v1/purchases/H-2/cancel"))
    expect("tp: cancel → 200", (st, x), 200,
           {"status": "cancelled", "points_returned": 90, "certificates_returned": [{"code": g2, "amount": 5000}],
            "balance": b0})
    check("tp: cancel again → 200 the same", ans(S.call("POST", "/v1/purchases/H-2/cancel")), (200, x))
    check("tp: points back", avail(S, h), b0)
    check("tp: coupon use and certificate back", [coupon_uses(S, "HC2"), cert_balance(S, g2)], [0, 5000])
    check_error("tp: confirm a cancelled hold → 409", S.call("POST", "/v1/purchases/H-2/confirm"), 409, "conflict")
    # One-step purchases have no confirm or cancel.
    expect("tp: one-step H-3", commit(S, "H-3", [line("cup", 10000)], member=h), 201, {"status": "committed"})
    check_error("tp: confirm a one-step purchase → 409", S.call("POST", "/v1/purchases/H-3/confirm"), 409, "conflict")
    check_error("tp: cancel a one-step purchase → 409", S.call("POST", "/v1/purchases/H-3/cancel"), 409, "conflict")
    # A hold not confirmed within 30 minutes is released by the jobs.
    b1 = avail(S, h)
    S.set_clock("2027-03-15T11:00:00Z")
    expect("tp: hold H-4", ans(S.call("POST", "/v1/purchases", basket("H-4", [line("cup", 10000)], member=h, redeem=50,
                                                                     gift_certificates=[g2], hold=True))), 201,
           {"status": "held", "hold_expires_at": "2027-03-15T11:30:00Z", "points_redeemed": 50, "certificates": 5000})
    S.set_clock("2027-03-15T11:29:59Z")
    jobs(S, "tp: jobs a second before the hold expires: nothing", {"holds_released": 0})
    S.set_clock("2027-03-15T11:30:00Z")
    jobs(S, "tp: jobs at hold_expires_at: one released", {"holds_released": 1})
    check_error("tp: confirm a released hold → 409", S.call("POST", "/v1/purchases/H-4/confirm"), 409, "conflict")
    check("tp: the released hold gave the points back", avail(S, h), b1)
    check("tp: and the certificate", cert_balance(S, g2), 5000)
    jobs(S, "tp: jobs again: nothing", {"holds_released": 0})
    S.check_verify("two-phase")


def payments_part():
    with_server(PAY, "coupons", coupons)
    with_server(CERTS, "certificates", certificates)
    with_server(PAY, "two-phase", two_phase)


def main():
    t = time.time()
    for part in (members_part, jobs_part, payments_part):
        kptest.scenario(part)
    print("# total %.1f s" % (time.time() - t), flush=True)
    kptest.summary()


if __name__ == "__main__":
    main()
