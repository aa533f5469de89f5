#!/usr/bin/env python3
"""Disk full: writes answer 503, nothing partial is stored, reads keep working,
and writes resume when space returns.

The database lives on a small tmpfs (8 MiB, mounted here; the suite must run as
root, as CI does). After a few purchases a filler file takes every free byte.
Then purchases are sent until one fails, and checked:

- a write that cannot be stored answers 503 `unavailable` with Retry-After,
  and so do the next ones while the disk stays full;
- reads keep working: a balance, a quote, a committed purchase answer 200;
- nothing partial: each refused receipt is 404, verify is green;
- once the filler is deleted, purchases succeed again (the writer recovers
  without a restart), the refused receipts can be committed, verify is green,
  and the server stops cleanly.

Without permission to mount, the suite says so and checks nothing else.
"""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
import kpproc  # noqa: E402
from kptest import check, check_error, check_true  # noqa: E402

PROGRAM = {"name": "Disk", "currency": "RUB", "point_value": 100,
           "earn": {"percent": 5}, "burn": {"max_percent": 50}}


def purchase(rid, member, price=150000):
    return {"receipt_id": rid, "member": member,
            "lines": [{"sku": "sku-%s" % rid, "category": "c" * 100, "qty": 1, "price": price}]}


def fill(path):
    """Write until the file system is full; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            while True:
                try:
                    f.write(chunk)
                    n += size
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return n


def scenario(mnt, logs):
    prog = os.path.join(logs, "program.json")
    kpproc.write_program(prog, PROGRAM)
    proc = kpproc.Proc(os.path.join(mnt, "k.db"), prog, name="diskfull", log_dir=logs)
    proc.start()
    st, m, _ = proc.call("POST", "/v1/members", {"phone": "+7 902 000-00-01",
                                                  "consents": {"personal_data": True}})
    check("register a member", st, 201)
    mid = m["id"]
    for i in range(3):
        st, _, _ = proc.call("POST", "/v1/purchases", purchase("before-%d" % i, mid))
        check("purchase before-%d" % i, st, 201)
    filler = os.path.join(mnt, "filler")
    print("# filler: %d bytes" % fill(filler), flush=True)

    # Writes until one fails: earlier ones may still fit in pages SQLite holds.
    refused, stored = [], []
    for i in range(3000):
        rid = "full-%d" % i
        ans = proc.call("POST", "/v1/purchases", purchase(rid, mid))
        if ans[0] == 201:
            stored.append(rid)
            continue
        check_error("a purchase on a full disk", ans, 503, "unavailable")
        check_true("503 has Retry-After", ans[2].get("retry-after"), "headers %s" % ans[2])
        refused.append(rid)
        break
    print("# %d purchases fitted before the first 503" % len(stored), flush=True)
    check_true("a purchase was refused", refused, "3000 purchases fitted in 8 MiB")
    for i in range(5):
        rid = "full-more-%d" % i
        ans = proc.call("POST", "/v1/purchases", purchase(rid, mid))
        check_error("purchase %s while the disk stays full" % rid, ans, 503, "unavailable")
        refused.append(rid)
    # A registration is a much smaller write than a purchase, and it may still fit:
    # once the checkpointer has copied the whole WAL into the database, SQLite starts
    # the WAL again from its beginning, in space its file already has. Either way
    # nothing partial: 503 and no such member, or 201 and the member whole.
    st_full, ev, _ = proc.call("POST", "/v1/members", {"phone": "+7 902 000-00-02",
                                                        "consents": {"personal_data": True}})
    check_true("registering a member while full: 503, or stored", st_full in (503, 201),
               st_full)
    if st_full == 503:
        check_error("registering a member while full: 503 unavailable", (st_full, ev, {}),
                    503, "unavailable")
    looked = proc.call("GET", "/v1/members?phone=%2B79020000002")
    check("the member registered while full exists exactly when 201 was answered",
          (looked[0], (looked[1] or {}).get("id") if looked[0] == 200 else None),
          (200, (ev or {}).get("id")) if st_full == 201 else (404, None))

    # Reads keep working.
    st, bal, _ = proc.call("GET", "/v1/members/%s/balance" % mid)
    check("balance while full", st, 200)
    st, q, _ = proc.call("POST", "/v1/purchases/quote", {"member": mid, "lines": [
        {"sku": "q", "qty": 1, "price": 1000}]})
    check("quote while full", st, 200)
    st, p, _ = proc.call("GET", "/v1/purchases/before-0")
    check("a committed purchase while full", st, 200)
    for rid in stored[-3:]:
        check("GET %s (committed) while full" % rid, proc.call("GET", "/v1/purchases/%s" % rid)[0], 200)
    for rid in refused:
        check("GET %s (refused) while full" % rid, proc.call("GET", "/v1/purchases/%s" % rid)[0], 404)
    total, _ = kpproc.history_sum(proc.call, mid)
    check("balance = Σ history while full", bal["available"] + bal["pending"], total)

    # Space returns: writes resume without a restart.
    os.unlink(filler)
    deadline = time.time() + 5
    st = None
    while time.time() < deadline:
        st, _, _ = proc.call("POST", "/v1/purchases", purchase("after-0", mid))
        if st == 201:
            break
        time.sleep(0.1)
    check("a purchase once space returns", st, 201)
    for i in range(1, 6):
        st, _, _ = proc.call("POST", "/v1/purchases", purchase("after-%d" % i, mid))
        check("purchase after-%d" % i, st, 201)
    for rid in refused:
        st, _, _ = proc.call("POST", "/v1/purchases", purchase(rid, mid))
        check("the refused %s commits now" % rid, st, 201)
    st, _, _ = proc.call("POST", "/v1/members", {"phone": "+7 902 000-00-02",
                                                  "consents": {"personal_data": True}})
    # 409: the phone is taken, when the registration while full was stored.
    check("registering a member after", st, 201 if st_full == 503 else 409)
    st, bal, _ = proc.call("GET", "/v1/members/%s/balance" % mid)
    total, _ = kpproc.history_sum(proc.call, mid)
    check("balance = Σ history after", (st, bal["available"] + bal["pending"]), (200, total))
    proc.check_verify("the disk was full")
    proc.stop()
    proc.check_verify("the stop")


def main():
    logs = tempfile.mkdtemp(prefix="kpdisk-")
    mnt = os.path.join(logs, "mnt")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        print("# cannot mount a tmpfs (%s): this suite needs root; nothing checked"
              % r.stderr.decode().strip(), flush=True)
        return
    try:
        scenario(mnt, logs)
    finally:
        subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    kptest.scenario(main, "diskfull")
    kptest.summary()
