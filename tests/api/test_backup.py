#!/usr/bin/env python3
"""`kopilka backup`: an online backup while purchases flow, and a restore.

A server takes purchases from a client thread without pause. Meanwhile
`kopilka backup --db FILE --to FILE` copies the database. Checked:

- the backup exits 0 while the server keeps answering 201s (it is not stopped);
- `kopilka verify --db BACKUP` is green;
- the restore (docs/api.md, "kopilka backup"): stop the server, copy the
  backup over the database file (removing its -wal and -shm), start the
  server: every member and every purchase acknowledged before the backup
  began is there with the same answer (a repeat answers 200 with it), every
  purchase acknowledged after the backup ended is not (404), each balance
  is the sum of its history, and verify is green;
- bad calls: the database itself as --to, a missing database, no --to.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kptest  # noqa: E402
import kpproc  # noqa: E402
from kptest import check, check_true  # noqa: E402

PROGRAM = {"name": "Backup", "currency": "RUB", "point_value": 100,
           "earn": {"percent": 5}, "burn": {"max_percent": 50}}


def purchase(rid, member, redeem=0):
    return {"receipt_id": rid, "member": member, "redeem_points": redeem,
            "lines": [{"sku": "s-%s" % rid, "qty": 2, "price": 123400}]}


def backup(db, to):
    p = subprocess.run([kptest.BIN, "backup", "--db", db, "--to", to], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def main():
    tmp = tempfile.mkdtemp(prefix="kpbackup-")
    prog = os.path.join(tmp, "program.json")
    kpproc.write_program(prog, PROGRAM)
    db = os.path.join(tmp, "k.db")
    proc = kpproc.Proc(db, prog, name="backup")
    proc.start()
    members = []
    for i in range(3):
        st, m, _ = proc.call("POST", "/v1/members", {"phone": "+7 903 000-00-%02d" % i,
                                                      "consents": {"personal_data": True}})
        check("register member %d" % i, st, 201)
        members.append(m)
    acked = []  # (receipt, answer, time acknowledged)
    for i in range(30):
        body = purchase("pre-%d" % i, members[i % 3]["id"], 10 if i >= 3 else 0)
        st, js, _ = proc.call("POST", "/v1/purchases", body)
        check("purchase pre-%d" % i, st, 201)
        acked.append((body, js, time.monotonic()))

    lock = threading.Lock()
    stop = threading.Event()

    def flow():
        c = proc.new_client()
        n = 0
        while not stop.is_set():
            body = purchase("flow-%d" % n, members[n % 3]["id"], 5)
            st, js, _ = c.call("POST", "/v1/purchases", body)
            if st == 201:
                with lock:
                    acked.append((body, js, time.monotonic()))
            n += 1
        c.close()

    t = threading.Thread(target=flow)
    t.start()
    time.sleep(0.3)
    bak = os.path.join(tmp, "backup.db")
    began = time.monotonic()
    rc, out = backup(db, bak)
    ended = time.monotonic()
    time.sleep(0.3)
    stop.set()
    t.join()
    check_true("backup while serving exits 0", rc == 0 and out.startswith("ok"), "exit %d: %s" % (rc, out))
    with lock:
        during = [a for a in acked if began <= a[2] <= ended]
        after = [a for a in acked if a[2] > ended]
        before = [a for a in acked if a[2] < began]
    print("# backup took %.0f ms; purchases acknowledged: %d before, %d during, %d after"
          % ((ended - began) * 1000, len(before), len(during), len(after)), flush=True)
    check_true("the server kept committing after the backup", after, "no purchase after it")
    proc.check_verify("the backup", db=bak)
    check_true("the backup is one file (no -wal left)", not os.path.exists(bak + "-wal"),
               "found %s-wal" % bak)

    # Restore: stop, copy the backup over the database, start.
    proc.stop("the backup")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    shutil.copyfile(bak, db)
    proc.start()
    for m in members:
        st, js, _ = proc.call("GET", "/v1/members/%s" % m["id"])
        check("restored member %s" % m["id"], (st, js.get("card") if isinstance(js, dict) else None),
              (200, m["card"]))
        st, bal, _ = proc.call("GET", "/v1/members/%s/balance" % m["id"])
        total, _ = kpproc.history_sum(proc.call, m["id"])
        check("restored member %s: balance = Σ history" % m["id"],
              (st, bal["available"] + bal["pending"] if isinstance(bal, dict) else None), (200, total))
    for body, answer, _ in before:
        st, js, _ = proc.call("POST", "/v1/purchases", body)
        check("restored %s answers 200 with its answer" % body["receipt_id"], (st, js), (200, answer))
    missing = [b["receipt_id"] for b, _, _ in after
               if proc.call("GET", "/v1/purchases/%s" % b["receipt_id"])[0] != 404]
    check("purchases after the backup are not in it", missing, [])
    proc.check_verify("the restore")
    st, _, _ = proc.call("POST", "/v1/purchases", purchase("post-restore", members[0]["id"]))
    check("a purchase after the restore", st, 201)
    proc.stop("the restore")

    # Bad calls.
    rc, out = backup(db, db)
    check_true("backup onto the database itself is refused", rc == 1 and "itself" in out,
               "exit %d: %s" % (rc, out))
    rc, out = backup(os.path.join(tmp, "none.db"), os.path.join(tmp, "x.db"))
    check_true("backup of a missing database is refused", rc == 1 and "no such database" in out,
               "exit %d: %s" % (rc, out))
    p = subprocess.run([kptest.BIN, "backup", "--db", db], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    check("backup without --to is a usage error", p.returncode, 2)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    kptest.scenario(main, "backup")
    kptest.summary()
