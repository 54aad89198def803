#!/usr/bin/env python3
"""A 3-member cluster: membership, replication, one leader, equal state on every member.

Three members are bootstrapped together (fresh data dirs, one token, free loopback ports,
heartbeat 100 ms, election 1000 ms) and then:
  * `member list -w table` on every member lists the 3 members with their names, peer URLs and
    client URLs (members publish their client URLs shortly after start: polled);
  * a put on member 1 is read on members 2 and 3 with `--consistency=l` (at once) and
    `--consistency=s` (serializable may lag: polled);
  * `endpoint status -w json` on all three: exactly one leader, every member names it, every member
    reports the same raft term, and the leader's member id is one of the three;
  * writes go through every member (followers forward them), every member sees all of them, and
    `endpoint hashkv` becomes equal on all three (polled).
"""

from __future__ import annotations

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WRITES_PER_MEMBER = 20


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "cluster basic: 3 members")
    check, eq, require = runner.check, runner.eq, runner.require

    def get_json(m: harness.Member, *cmd: str) -> dict:
        r = m.ctl("get", *cmd, "-w", "json")
        require(r.ok, f"{m.name}: etcdctl get {' '.join(cmd)} succeeds", r.describe(), quiet=True)
        return json.loads(r.stdout)

    def values(doc: dict) -> dict[str, str]:
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in doc.get("kvs", [])}

    @runner.test
    def three_members_replicate():
        c = harness.Cluster(args, prefix="basic")
        c.start()
        m1, m2, m3 = c.members
        print(f"  members: " + ", ".join(f"{m.name} client {m.client_url} peer {m.peer_url}"
                                          for m in c))

        # -- member list: names, peer URLs, client URLs of everyone, on everyone (polled: a
        #    member's name and client URLs appear once it has published them through raft).
        want = {m.name: ([m.advertised_peer_url], [m.client_url]) for m in c}
        last: dict = {}

        def lists_complete() -> bool:
            for m in c:
                rows = c.member_list_table(m)
                last[m.name] = rows
                if rows is None:
                    return False
                got = {r.get("name"): (r.get("peer_addrs"), r.get("client_addrs")) for r in rows}
                if got != want or len(rows) != 3:
                    return False
            return True
        try:
            harness.wait_for(lists_complete, timeout=15, interval=0.1,
                             what="member list complete on every member")
            complete = True
        except TimeoutError:
            complete = False
        check(complete, "member list -w table on every member: 3 members with names, peer and "
              "client URLs", f"want {want}\nlast {last}")
        for m in c:
            rows = last.get(m.name) or []
            check(all(r.get("status") == "started" and r.get("is_learner") == "false"
                      and len(r.get("id", "")) > 0 for r in rows) and len(rows) == 3,
                  f"{m.name}: every row is started, not a learner, with an id", f"{rows}")
        ids = [{r["name"]: r["id"] for r in (last.get(m.name) or [])} for m in c]
        check(all(x == ids[0] for x in ids), "every member lists the same member ids", f"{ids}")

        # -- put on m1, read on m2/m3 linearizable (immediately) and serializable (polled)
        r = m1.ctl("put", "cb/one", "v-one")
        require(r.ok and r.stdout == "OK\n", f"put cb/one on {m1.name}", r.describe())
        for m in (m2, m3):
            r = m.ctl("get", "cb/one", "--consistency=l")
            eq((r.rc, r.stdout), (0, "cb/one\nv-one\n"),
               f"{m.name}: linearizable get sees the put made on {m1.name}", r.describe())
            seen: list = []

            def serializable_sees(m=m) -> bool:
                r = m.ctl("get", "cb/one", "--consistency=s")
                seen.append(r)
                return r.ok and r.stdout == "cb/one\nv-one\n"
            try:
                harness.wait_for(serializable_sees, timeout=10, interval=0.05)
                ok = True
            except TimeoutError:
                ok = False
            check(ok, f"{m.name}: serializable get sees the put (polled)",
                  seen[-1].describe() if seen else "")

        # -- endpoint status: one leader, the same for all, same term
        try:
            leader, term, sts = c.wait_leader(timeout=10)
            ok = True
        except TimeoutError:
            ok, sts = False, c.statuses(c.members)
        check(ok, "endpoint status -w json on all three: one leader named by every member, one "
              "raft term", harness.brief_statuses(sts))
        if ok:
            print(f"  leader {leader.name} (id {sts[leader.name]['member_id']:x}), term {term}")
            member_ids = [s["member_id"] for s in sts.values()]
            eq(len(set(member_ids)), 3, "three distinct member ids")
            eq(sum(1 for s in sts.values() if s["member_id"] == s["leader"]), 1,
               "exactly one member reports itself as the leader")
            check(all(s["header_term"] == term for s in sts.values()),
                  "response header raft_term equals the status raft term on every member",
                  f"{[(k, s['header_term']) for k, s in sts.items()]}")
            # the member list ids (hex) are the status member ids
            listed = set(int(x, 16) for x in ids[0].values()) if ids[0] else set()
            eq(listed, set(member_ids), "member list ids are the endpoint status member ids")

        # -- writes through every member
        acked: dict[str, str] = {"cb/one": "v-one"}
        for m in c:
            failed = None
            for i in range(WRITES_PER_MEMBER):
                k, v = f"cb/{m.name}/{i:03d}", f"{m.name}-{i}"
                r = m.ctl("put", k, v)
                if not (r.ok and r.stdout == "OK\n"):
                    failed = r
                    break
                acked[k] = v
            check(failed is None, f"{WRITES_PER_MEMBER} puts through {m.name} succeed",
                  failed.describe() if failed else "")
        for m in c:
            got = values(get_json(m, "cb/", "--prefix", "--consistency=l"))
            eq(got, acked, f"{m.name}: linearizable get --prefix returns all "
                           f"{len(acked)} writes made through the three members")

        try:
            hashes = c.wait_hashkv_equal(timeout=15)
            check(True, f"endpoint hashkv equal on all three: {next(iter(hashes.values()))} "
                        "(hash, compact revision, revision)")
        except TimeoutError as e:
            check(False, "endpoint hashkv equal on all three", str(e))
        # the revision is the same everywhere and counts every write exactly once
        revs = {m.name: get_json(m, "cb/one", "--consistency=s")["header"]["revision"] for m in c}
        eq(set(revs.values()), {1 + len(acked)},
           f"every member at revision 1 + {len(acked)} writes", f"{revs}")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
