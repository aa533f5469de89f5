#!/usr/bin/env python3
"""`kopilka import members` (docs/import.md): load examples/members.csv into a fresh
database made by `kopilka init`, serve it and check over HTTP that every member,
balance, tier, card and consent is there; that `kopilka verify` passes; that a second
identical import changes nothing; and that every kind of bad row is refused with its
line number and leaves the database exactly as it was.

Run from the repo root: `python3 tests/api/test_import.py` (KOPILKA_BIN selects the
binary). Ends with kptest's "N passed, M failed" line.
"""

import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
from kptest import check, check_fields, check_true  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "examples", "cosmetics-chain.json")) as f:
    PROGRAM = json.load(f)
EXAMPLE = os.path.join(ROOT, "examples", "members.csv")
HEADER = ("external_id,phone,email,name,birthday,consent_personal_data,consent_email,"
          "consent_sms,consent_push,points,points_expire_at,tier,lifetime_spend")
NO_CONSENTS = {"personal_data": True, "email": False, "sms": False, "push": False}

# What examples/members.csv must become: (external_id, member fields, balance fields).
EXPECTED = [
    ("crm-1001", {"phone": "+79001112233", "email": "anna@example.com", "name": "Anna Petrova",
                  "birthday": "1990-05-17", "tier": "Silver",
                  "consents": {"personal_data": True, "email": True, "sms": True, "push": False}},
     {"available": 1250, "pending": 0, "tier": "Silver",
      "expiring": [{"points": 1250, "expires_at": "2027-07-01T00:00:00Z"}]}),
    ("crm-1002", {"phone": "+79012223344", "email": None, "name": "Boris Ivanov", "tier": "Base",
                  "consents": {"personal_data": True, "email": False, "sms": True, "push": False}},
     {"available": 0, "expiring": []}),
    ("crm-1003", {"name": 'Olga "Olya" Smirnova', "tier": "Base"}, {"available": 340}),
    ("crm-1004", {"phone": None, "tier": "Gold",
                  "consents": {"personal_data": True, "email": True, "sms": False, "push": True}},
     {"available": 5000, "expiring": [{"points": 5000, "expires_at": "2027-12-31T23:59:59Z"}]}),
    ("crm-1005", {"name": "Ivanova, Elena", "birthday": "1979-02-28", "consents": NO_CONSENTS},
     {"available": 75}),
    ("crm-1006", {"phone": "+442079460958", "tier": "Platinum"},
     {"available": 12000, "expiring": [{"points": 12000, "expires_at": "2028-01-15T09:00:00Z"}]}),
    ("crm-1007", {"name": "Мария Кузнецова", "birthday": "2001-07-04"}, {"available": 0}),
    ("crm-1008", {"tier": "Silver"}, {"available": 990}),
    ("crm-1009", {"tier": "Base"},
     {"available": 10, "expiring": [{"points": 10, "expires_at": "2027-03-02T00:00:00Z"}]}),
    ("crm-1010", {"phone": None, "email": None, "name": None, "birthday": None,
                  "consents": NO_CONSENTS, "tier": "Base"}, {"available": 0}),
]


def run(*argv):
    p = subprocess.run([kptest.BIN] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def import_text(db, text, tmp):
    path = os.path.join(tmp, "in.csv")
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())
    return run("import", "members", "--db", db, path)


def dump(db):
    """Everything an import writes, as comparable lists."""
    out = {}
    for table in ("members", "cards", "lots", "transfers", "consent_log", "idempotency"):
        out[table] = kptest.db_query(db, "SELECT * FROM %s ORDER BY 1, 2" % table)
    return out


def luhn_ok(card):
    total = 0
    for i, ch in enumerate(reversed(card)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(card) == 13 and total % 10 == 0


def first_import(db, tmp):
    rc, out, err = run("import", "members", "--db", db, EXAMPLE)
    check("first import: exit status", (rc, err), (0, ""))
    check("first import: report", json.loads(out or "null"),
          {"rows": 10, "created": 10, "unchanged": 0, "points_loaded": 19665})
    rc, out, _ = run("verify", "--db", db)
    check_true("verify after the import", rc == 0 and out.startswith("ok: 10 members"), out)
    before = dump(db)
    rc, out, err = run("import", "members", "--db", db, EXAMPLE)
    check("second import: exit status", (rc, err), (0, ""))
    check("second import: report", json.loads(out or "null"),
          {"rows": 10, "created": 0, "unchanged": 10, "points_loaded": 0})
    check_true("second import changes nothing", dump(db) == before, "the database changed")
    # key id 0 (no API key: the importer) is stored as NULL
    check("consent log: 4 rows per member, no key", [r[-1] for r in before["consent_log"]], [None] * 40)


# ---------------------------------------------------------------- bad files

GOOD = ("n-1,+7 910 000-00-01,,Good One,,1,0,0,0,100,,,\n"
        "n-2,+7 910 000-00-02,,Good Two,,1,0,0,0,200,,,\n")


def bad_cases(card_taken):
    """(name, file text, the start of the expected error after 'kopilka: import: ')."""
    rows = HEADER + "\n" + GOOD  # lines 1–3
    return [
        ("unknown column", HEADER + ",shoe_size\n" + GOOD, "line 1: header: unknown column 'shoe_size'"),
        ("no external_id column", "phone,consent_personal_data\n+79100000003,1\n",
         "line 1: header: column 'external_id' is required"),
        ("column twice", "external_id,consent_personal_data,external_id\n", "line 1: header: column 'external_id' appears twice"),
        ("bad phone", rows + "n-3,12345,,,,1,0,0,0,0,,,\n", "line 4: phone: not a phone number"),
        ("no consent", rows + "n-3,,,,,0,0,0,0,0,,,\n", "line 4: consent_personal_data: must be 1 or true"),
        ("consent missing", rows + "n-3,,,,,,0,0,0,0,,,\n", "line 4: consent_personal_data: is required"),
        ("bad consent flag", rows + "n-3,,,,,1,yes,0,0,0,,,\n", "line 4: consent_email: must be 1, 0, true or false"),
        ("negative points", rows + "n-3,,,,,1,0,0,0,-5,,,\n", "line 4: points: must be a whole number"),
        ("fractional points", rows + "n-3,,,,,1,0,0,0,1.5,,,\n", "line 4: points: must be a whole number"),
        ("bad birthday", rows + "n-3,,,,1990-02-30,1,0,0,0,0,,,\n", "line 4: birthday: not a date"),
        ("unknown tier", rows + "n-3,,,,,1,0,0,0,0,,Diamond,\n", "line 4: tier: 'Diamond' is not a level"),
        ("bad email", rows + "n-3,,nobody.example.com,,,1,0,0,0,0,,,\n", "line 4: email: not an email address"),
        ("bad spend", rows + "n-3,,,,,1,0,0,0,0,,,12k\n", "line 4: lifetime_spend: must be a whole number"),
        ("bad expiry", rows + "n-3,,,,,1,0,0,0,5,next year,,\n", "line 4: points_expire_at: not a date"),
        ("past expiry", rows + "n-3,,,,,1,0,0,0,5,2020-01-01,,\n", "line 4: points_expire_at: already past"),
        ("ragged row", rows + "n-3,,,,,1,0,0,0\n", "line 4: row: 9 fields, but the header has 13"),
        ("quote in a field", rows + 'n-3,,,Ann "A",,1,0,0,0,0,,,\n', "line 4: name: quote inside an unquoted field"),
        ("unclosed quote", rows + 'n-3,,,"Ann\n,,1,0,0,0,0,,,\n', "line 4: name: quoted field not closed"),
        ("empty external_id", rows + ",,,,,1,0,0,0,0,,,\n", "line 4: external_id: is required"),
        ("empty line inside", HEADER + "\nn-1,,,,,1,0,0,0,0,,,\n\nn-2,,,,,1,0,0,0,0,,,\n", "line 3: row: empty line"),
        ("not UTF-8", rows.encode() + b"n-3,,,Ann\xff,,1,0,0,0,0,,,\n", "line 4: name: not UTF-8"),
        ("external_id twice in the file", rows + "n-1,,,,,1,0,0,0,0,,,\n", "line 4: external_id: n-1 is also on line 2"),
        ("phone twice in the file", rows + "n-3,89100000001,,,,1,0,0,0,0,,,\n",
         "line 4: phone: +79100000001 is also on line 2"),
        ("phone of an imported member", rows + "n-3,+79001112233,,,,1,0,0,0,0,,,\n",
         "line 4: phone +79001112233: already registered to member 1"),
        ("external_id imported with other data", rows + "crm-1001,,,,,1,0,0,0,0,,,\n",
         "line 4: external_id crm-1001: already imported with other data"),
        ("card check digit", HEADER + ",card\n" + GOOD.replace("\n", ",\n") + "n-3,,,,,1,0,0,0,0,,,,2000000000000\n",
         "line 4: card: not a card number"),
        ("card taken", HEADER + ",card\n" + GOOD.replace("\n", ",\n") + "n-3,,,,,1,0,0,0,0,,,,%s\n" % card_taken,
         "line 4: card %s: already issued to member 1" % card_taken),
        ("header only", HEADER + "\n", "line 2: row: the file has a header but no rows"),
        ("empty file", "", "line 1: header: the file is empty"),
    ]


def bad_rows(db, tmp):
    card = kptest.db_query(db, "SELECT card FROM members WHERE id = 1")[0][0]
    before = dump(db)
    for name, text, want in bad_cases(card):
        rc, out, err = import_text(db, text, tmp)
        got = err.strip()
        check_true("bad file (%s): refused" % name,
                   rc == 1 and out == "" and got.startswith("kopilka: import: " + want),
                   "exit %d, stdout %r, stderr %r, expected %r" % (rc, out, got, want))
    check_true("bad files change nothing", dump(db) == before, "the database changed")
    # 50 good rows, then a bad last row: nothing of the 50 is loaded.
    good = "".join("m-%d,+7 911 000-%02d-%02d,,,,1,0,0,0,%d,,,\n" % (i, i // 100, i % 100, i + 1)
                   for i in range(50))
    rc, _, err = import_text(db, HEADER + "\n" + good + "m-50,,,,,1,0,0,0,x,,,", tmp)
    check("bad last row: exit status", rc, 1)
    check_true("bad last row: names line 52", "line 52: points:" in err, err)
    check_true("bad last row loads nothing", dump(db) == before, "the database changed")
    for argv in (["import", "members", EXAMPLE], ["import", "cards", "--db", db, EXAMPLE],
                 ["import", "members", "--db", db]):
        rc, _, err = run(*argv)
        check("usage error %s: exit 2" % " ".join(argv[:2]), rc, 2)


# ---------------------------------------------------------------- over HTTP

def serve(tmp):
    """A kptest.Server on the imported database: kptest makes its own temporary
    directory, so hand it ours for the moment it is made."""
    real = kptest.tempfile.mkdtemp
    kptest.tempfile.mkdtemp = lambda prefix=None: tmp
    try:
        return kptest.Server(PROGRAM, name="imported")
    finally:
        kptest.tempfile.mkdtemp = real


def over_http(S):
    now = datetime.datetime.now(datetime.timezone.utc)
    for ext, member_fields, balance_fields in EXPECTED:
        st, m, _ = S.call("GET", "/v1/members?external_id=" + ext)
        if not check("%s: found by external_id" % ext, st, 200):
            continue
        check_fields("%s: member" % ext, m, dict(member_fields, external_id=ext))
        check_true("%s: card and referral code" % ext,
                   luhn_ok(m["card"]) and len(m["referral_code"]) == 8, m)
        st, by_card, _ = S.call("GET", "/v1/members?card=" + m["card"])
        check("%s: found by card" % ext, (st, by_card and by_card["id"]), (200, m["id"]))
        st, b, _ = S.call("GET", "/v1/members/%s/balance" % m["id"])
        check_fields("%s: balance" % ext, b, balance_fields)
        st, h, _ = S.call("GET", "/v1/members/%s/history" % m["id"])
        want = [{"kind": "transfer", "points": balance_fields["available"], "ref": "import",
                 "account": "available"}] if balance_fields["available"] else []
        check("%s: history" % ext, [{k: e.get(k) for k in ("kind", "points", "ref", "account")}
                                    for e in h["items"]], want)
        st, x, _ = S.call("GET", "/v1/members/%s/export" % m["id"])
        granted = {e.get("consent"): e.get("granted") for e in (x or {}).get("consent_history", [])}
        check("%s: consent log" % ext, (st, sorted(granted)), (200, ["email", "personal_data", "push", "sms"]))
        check("%s: cards" % ext, [c.get("card") for c in (x or {}).get("cards", [])], [m["card"]])
    # crm-1003 has no expiry in the file: the program's 180 days from the import.
    st, m, _ = S.call("GET", "/v1/members?external_id=crm-1003")
    st, b, _ = S.call("GET", "/v1/members/%s/balance" % m["id"])
    at = datetime.datetime.strptime(b["expiring"][0]["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    days = (at.replace(tzinfo=datetime.timezone.utc) - now).total_seconds() / 86400
    check_true("crm-1003: expires in the program's 180 days", 179.9 < days < 180.1, b)


def main():
    tmp = tempfile.mkdtemp(prefix="kpimport-")
    db = kptest.new_db(os.path.join(tmp, "k.db"))  # a path, or a PostgreSQL URI
    program = os.path.join(tmp, "program.json")
    with open(program, "w") as f:
        json.dump(PROGRAM, f)  # as kptest.Server writes it: serve finds the same version
    rc, _, err = run("init", "--db", db, "--program", program)
    check("init", rc, 0)
    kptest.scenario(lambda: first_import(db, tmp), "first import and re-run")
    kptest.scenario(lambda: bad_rows(db, tmp), "bad rows")
    S = serve(tmp)
    try:
        kptest.scenario(lambda: over_http(S), "members over HTTP")
        S.check_verify("import")
    finally:
        S.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    kptest.summary()


if __name__ == "__main__":
    main()
