#!/usr/bin/env python3
"""Basic behaviour of one member through etcdctl: put/get/del, range options, output formats,
endpoint status, member list, and a clean restart that keeps every key and revision.

Checks are semantic (parsed JSON, decoded base64) rather than byte comparisons; the byte-for-byte
comparison with real etcd is test_differential.py.
"""

from __future__ import annotations

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pb  # noqa: E402


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str) -> str:
    return base64.b64decode(s).decode(errors="replace")


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "basic")
    check, eq, require = runner.check, runner.eq, runner.require
    state: dict = {}

    def member() -> harness.Member:
        if "m" not in state or not state["m"].running():
            state["m"] = harness.Member(args, name="basic1").start()
        return state["m"]

    def ctl_ok(m: harness.Member, *cmd, **kw) -> harness.Result:
        r = m.ctl(*cmd, **kw)
        require(r.ok, f"etcdctl {' '.join(cmd)} succeeds", r.describe(), quiet=True)
        return r

    def get_json(m: harness.Member, *cmd) -> dict:
        r = ctl_ok(m, "get", *cmd, "-w", "json")
        try:
            return json.loads(r.stdout)
        except ValueError:
            require(False, f"get {' '.join(cmd)} -w json prints JSON", r.describe())
            raise

    def keys_of(doc: dict) -> list[str]:
        return [unb64(kv["key"]) for kv in doc.get("kvs", [])]

    @runner.test
    def put_get_del():
        m = member()
        eq(ctl_ok(m, "put", "k1", "v1").stdout, "OK\n", "put k1 v1 prints OK")
        eq(ctl_ok(m, "get", "k1").stdout, "k1\nv1\n", "get k1 prints key and value")
        eq(ctl_ok(m, "put", "k1", "v2", "--prev-kv").stdout, "OK\nk1\nv1\n",
           "put --prev-kv prints the previous pair")
        doc = get_json(m, "k1")
        kv = doc["kvs"][0]
        eq(unb64(kv["value"]), "v2", "overwrite visible")
        eq((kv["create_revision"], kv["mod_revision"], kv["version"]), (2, 3, 2),
           "create_revision 2, mod_revision 3, version 2 after two puts")
        eq(doc["header"]["revision"], 3, "header revision 3")
        eq(ctl_ok(m, "del", "k1").stdout, "1\n", "del k1 deletes 1 key")
        eq(ctl_ok(m, "get", "k1").stdout, "", "k1 gone")
        eq(ctl_ok(m, "del", "k1").stdout, "0\n", "del of a missing key deletes 0")
        eq(get_json(m, "k1")["header"]["revision"], 4, "delete bumped the revision to 4")
        r = m.ctl("put", "", "v")
        check(r.rc != 0 and "etcdserver: key is not provided" in r.stderr,
              "put with an empty key fails: key is not provided", r.describe())

    @runner.test
    def range_options():
        m = member()
        data = [("r/a", "3"), ("r/b", "1"), ("r/c", "2"), ("r/b", "11"), ("r/d", "0"),
                ("r0", "x"), ("q", "y")]
        base = get_json(m, "nothing")["header"]["revision"]
        for k, v in data:
            ctl_ok(m, "put", k, v)
        rev = base + len(data)
        doc = get_json(m, "r/", "--prefix")
        eq(keys_of(doc), ["r/a", "r/b", "r/c", "r/d"], "--prefix r/ gives r/a..r/d in key order")
        eq(doc["count"], 4, "--prefix count 4")
        eq(doc["header"]["revision"], rev, f"header revision {rev}")
        eq(keys_of(get_json(m, "r/", "--from-key")), ["r/a", "r/b", "r/c", "r/d", "r0"],
           "--from-key r/ includes r0, excludes q")
        eq(keys_of(get_json(m, "r/b", "r/d")), ["r/b", "r/c"], "range [r/b, r/d)")
        doc = get_json(m, "r/", "--prefix", "--limit=2")
        eq((keys_of(doc), doc.get("more"), doc["count"]), (["r/a", "r/b"], True, 4),
           "--limit=2: two keys, more=true, count=4")
        doc = get_json(m, "r/b", f"--rev={base + 2}")
        eq(unb64(doc["kvs"][0]["value"]), "1", "--rev sees the old value of r/b")
        doc = get_json(m, "r/", "--prefix", "--sort-by=VALUE")
        eq(keys_of(doc), ["r/d", "r/b", "r/c", "r/a"], "--sort-by=VALUE ascending ('0' '11' '2' '3')")
        doc = get_json(m, "r/", "--prefix", "--sort-by=VALUE", "--order=DESCEND")
        eq(keys_of(doc), ["r/a", "r/c", "r/b", "r/d"], "--sort-by=VALUE --order=DESCEND")
        doc = get_json(m, "r/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND")
        eq(keys_of(doc), ["r/d", "r/b", "r/c", "r/a"], "--sort-by=MODIFY --order=DESCEND")
        doc = get_json(m, "r/", "--prefix", "--sort-by=CREATE", "--order=DESCEND")
        eq(keys_of(doc), ["r/d", "r/c", "r/b", "r/a"], "--sort-by=CREATE --order=DESCEND")
        doc = get_json(m, "r/", "--prefix", "--sort-by=VERSION", "--order=DESCEND", "--limit=1")
        eq(keys_of(doc), ["r/b"], "--sort-by=VERSION --order=DESCEND --limit=1 gives r/b")
        doc = get_json(m, "r/", "--prefix", "--order=DESCEND")
        eq(keys_of(doc), ["r/d", "r/c", "r/b", "r/a"], "--order=DESCEND alone sorts by key")
        eq(ctl_ok(m, "get", "r/", "--prefix", "--keys-only").stdout,
           "r/a\n\nr/b\n\nr/c\n\nr/d\n\n", "--keys-only prints keys only")
        doc = get_json(m, "r/", "--prefix", "--keys-only")
        check(all("value" not in kv for kv in doc["kvs"]), "--keys-only -w json has no values")
        eq(ctl_ok(m, "get", "r/", "--prefix", "--print-value-only").stdout, "3\n11\n2\n0\n",
           "--print-value-only prints values only")
        fields = ctl_ok(m, "get", "r/b", "-w", "fields").stdout.splitlines()
        for line in ('"Key" : "r/b"', '"Value" : "11"', '"Version" : 2', f'"Revision" : {rev}',
                     '"More" : false', '"Count" : 1', '"Lease" : 0'):
            check(line in fields, f"-w fields has {line}", "\n".join(fields))
        if args.raw_grpc:
            reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/Range",
                            pb.range_request("r/", "r0", count_only=True))
            eq(reply.code, 0, "count_only Range (raw gRPC) succeeds")
            fields = {n: v for n, _, v in pb.parse(reply.response)}
            eq(fields.get(4), 4, "count_only gives count 4")
            eq(fields.get(2), None, "count_only returns no kvs")
        else:
            runner.skip("count_only (etcdctl 3.4 has no --count-only; needs --raw-grpc)")

    @runner.test
    def status_and_members():
        m = member()
        r = ctl_ok(m, "endpoint", "status", "-w", "json")
        st = json.loads(r.stdout)
        eq(len(st), 1, "one endpoint in status")
        s = st[0]["Status"]
        eq(st[0]["Endpoint"], m.client_url, "status endpoint is the client URL")
        member_id = s["header"]["member_id"]
        check(member_id != 0, "member id non-zero")
        eq(s["leader"], member_id, "leader == member id (single member)")
        check(s.get("raftTerm", 0) > 0 and s["header"].get("raft_term", 0) > 0,
              "raft term > 0 (status and header)", r.stdout)
        check(s.get("raftIndex", 0) >= s["header"]["revision"] and
              s.get("raftAppliedIndex", 0) >= s["header"]["revision"],
              "raft index and applied index >= revision", r.stdout)
        check(s.get("version", "").startswith("3.4."), "status version is 3.4.x", r.stdout)
        check(s.get("dbSize", 0) > 0, "status db size > 0", r.stdout)
        rev = get_json(m, "x")["header"]["revision"]
        eq(s["header"]["revision"], rev, "status revision == current revision")
        # Table form.
        table = ctl_ok(m, "endpoint", "status", "-w", "table").stdout
        rows = [[c.strip() for c in line.strip("|").split("|")]
                for line in table.splitlines() if line.startswith("|")]
        eq(len(rows), 2, "status table: header + one row", table)
        row = dict(zip(rows[0], rows[1]))
        eq(row.get("ENDPOINT"), m.client_url, "table ENDPOINT")
        eq(row.get("ID"), f"{member_id:x}", "table ID is the member id in hex")
        eq(row.get("IS LEADER"), "true", "table IS LEADER true")
        eq(row.get("IS LEARNER"), "false", "table IS LEARNER false")
        check(row.get("RAFT TERM", "0").isdigit() and int(row["RAFT TERM"]) > 0, "table RAFT TERM > 0")
        # member list.
        table = ctl_ok(m, "member", "list", "-w", "table").stdout
        rows = [[c.strip() for c in line.strip("|").split("|")]
                for line in table.splitlines() if line.startswith("|")]
        eq(len(rows), 2, "member list table: header + one row", table)
        eq(rows[0], ["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
           "member list columns")
        eq(rows[1], [f"{member_id:x}", "started", m.name, m.peer_url, m.client_url, "false"],
           "member list row: id, started, name, peer and client URL, not a learner")
        ml = json.loads(ctl_ok(m, "member", "list", "-w", "json").stdout)
        eq([(x["ID"], x["name"], x["peerURLs"], x["clientURLs"]) for x in ml["members"]],
           [(member_id, m.name, [m.peer_url], [m.client_url])], "member list -w json")
        r = ctl_ok(m, "endpoint", "health")
        check(f"{m.client_url} is healthy" in r.stdout + r.stderr, "endpoint health: healthy",
              r.describe())

    @runner.test
    def restart_keeps_data():
        m = member()
        for i in range(20):
            ctl_ok(m, "put", f"persist/{i:02d}", f"value-{i}")
        ctl_ok(m, "put", "persist/05", "overwritten")
        ctl_ok(m, "del", "persist/07")
        compact_at = get_json(m, "x")["header"]["revision"] - 5
        ctl_ok(m, "compaction", str(compact_at))
        before = get_json(m, "", "--from-key")
        rc = m.stop()
        check(rc is not None and not m.running(), f"SIGTERM stopped the server (exit {rc})")
        m.start()
        after = get_json(m, "", "--from-key")
        eq(after["header"]["revision"], before["header"]["revision"], "revision kept over restart")
        eq(after.get("kvs"), before.get("kvs"),
           f"all {len(before.get('kvs', []))} keys kept with values, versions and revisions")
        r = m.ctl("get", "persist/01", f"--rev={compact_at - 1}")
        check(r.rc != 0 and "required revision has been compacted" in r.stderr,
              "compaction survives restart", r.describe())
        # compact_at falls inside the 20 first puts, before persist/05 was overwritten.
        doc = get_json(m, "persist/05", f"--rev={compact_at}")
        eq(unb64(doc["kvs"][0]["value"]), "value-5", "read at the compacted revision works")
        eq(unb64(get_json(m, "persist/05")["kvs"][0]["value"]), "overwritten",
           "latest value after restart")
        ctl_ok(m, "put", "persist/new", "n")
        eq(get_json(m, "persist/new")["kvs"][0]["mod_revision"], before["header"]["revision"] + 1,
           "the next put after restart gets revision + 1")
        # And a second restart, this time right after a write.
        ctl_ok(m, "put", "persist/last", "l")
        m.restart()
        eq(unb64(get_json(m, "persist/last")["kvs"][0]["value"]), "l",
           "write just before a second restart is kept")

    @runner.test
    def slow_apply_is_logged():
        if args.server != "outpost":
            return runner.skip("Outpost's flag spelling and log lines")
        # --warning-apply-duration=1ns: every applied entry is "too slow"; etcd's message and
        # fields, the key and the value's size but never the value. With --unsafe-no-fsync.
        with harness.Member(args, name="slow1", extra_flags=[
                "--warning-apply-duration=1ns", "--unsafe-no-fsync"]).start() as m:
            ctl_ok(m, "put", "slow/k", "secret-value-123")
            harness.wait_for(lambda: "slow/k" in open(m.log_path, errors="replace").read(), 10, 0.1, "the slow-apply line")
            line = next(ln for ln in open(m.log_path, errors="replace").read().splitlines() if "slow/k" in ln)
            doc = json.loads(line)
            eq((doc["level"], doc["msg"], doc["expected-duration"]),
               ("warn", "apply request took too long", "1ns"), "etcd's slow-apply warning", line)
            check(doc["request"].startswith('put:<key:"slow/k" value_size:16'),
                  "the request names the key and the value's size", line)
            check("secret-value-123" not in open(m.log_path, errors="replace").read(), "the value is not logged")
            check("--unsafe-no-fsync" in open(m.log_path, errors="replace").read(), "--unsafe-no-fsync is warned about")

    @runner.test
    def periodic_auto_compaction():
        if args.server != "outpost":
            return runner.skip("Outpost's log lines")
        # --auto-compaction-retention=2s: etcd's periodic compactor samples the revision every
        # 200 ms and compacts, every 2 s on the leader, to the revision of 2 s before.
        with harness.Member(args, name="ac1", extra_flags=[
                "--auto-compaction-mode=periodic", "--auto-compaction-retention=2s"]).start() as m:
            for i in range(5):
                ctl_ok(m, "put", f"ac/{i}", "v")

            def compacted() -> bool:
                r = m.ctl("get", "ac/0", "--rev=2")
                return r.rc != 0 and "required revision has been compacted" in r.stderr
            harness.wait_for(compacted, 30, 0.2, "an automatic compaction past revision 2")
            log = open(m.log_path, errors="replace").read()
            check("completed auto periodic compaction" in log,
                  "the member logged 'completed auto periodic compaction'", m.log_tail())
            eq(ctl_ok(m, "get", "ac/4", "--print-value-only").stdout, "v\n",
               "the latest values are kept")

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
