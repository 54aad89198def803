#!/usr/bin/env python3
"""Space quota and alarms on one member, side by side with a real etcd 3.4.23 (differential).

The same session runs against a single real etcd and a single member of the server under test,
both started with --quota-backend-bytes=1 MiB:
  * 100 KB values are put until a put is refused: the refusal is etcd's
    (`Error: etcdserver: mvcc: database space exceeded`, gRPC ResourceExhausted);
  * `alarm list` shows `memberID:<id> alarm:NOSPACE`, `endpoint status` lists it under errors,
    /health answers 503 {"health":"false"};
  * while NOSPACE is active: puts, txns with a put and lease grants are refused with etcd's text,
    a serializable and a linearizable get and a delete are served;
  * the alarm survives a restart of the member;
  * delete half the keys, compact, `defrag` (etcd's "Finished defragmenting etcd member[URL]"),
    dbSize drops below the quota; a put is still refused until `alarm disarm` (which prints the
    disarmed alarm); then writes are accepted, `alarm list` is empty, /health is 200
    {"health":"true"}; every key written before and not deleted still holds its value.
A 3-member cluster of the server under test (quota 1 MiB):
  * `move-leader` to a named follower: etcd's "Leadership transferred from X to Y", and the
    cluster then agrees on that leader; an unknown target: `etcdserver: bad leader transferee`;
    MoveLeader sent to a follower: `etcdserver: not leader` (FailedPrecondition, outpost-raw-grpc);
  * Maintenance.Hash answers the same hash on the three members once they applied the same writes
    (outpost-raw-grpc);
  * NOSPACE raised by the member a client writes through is seen by every member: a put through
    any member is refused; `defrag` on all endpoints prints one etcd line per member; after
    delete + compact + defrag + disarm writes are accepted everywhere;
  * /health: 200 {"health":"true"} on all, 503 {"health":"false"} on the survivor once two members
    are killed (no quorum), 200 again on all after they restart.
Both transcripts of the single-member session (etcdctl's stdout, its "Error:" line, its gRPC code, HTTP status and body) must
be equal after masking member ids, URLs and the number of puts that fit (the two stores do not
grow alike); the checks above are also made on the server under test alone.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pb  # noqa: E402

QUOTA = 1 << 20
VALUE = "v" * 100_000
MAX_PUTS = 40


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # not listening (yet)
        return 0, str(e)


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "quota and alarms (differential against etcd 3.4.23)")
    check, eq, require = runner.check, runner.eq, runner.require

    def session(kind: str) -> tuple[list[str], dict]:
        """Runs the session on a fresh member of `kind`; returns the masked transcript and facts
        for the checks made on the server under test."""
        m = harness.Member(args, name=f"q{kind[0]}", kind=kind,
                           extra_flags=[f"--quota-backend-bytes={QUOTA}"])
        m.start()
        t: list[str] = []
        facts: dict = {}

        def mask(text: str) -> str:
            text = text.replace(m.client_url, "<url>")
            if facts.get("id"):
                text = text.replace(str(facts["id"]), "<id>").replace(f"{facts['id']:x}", "<id>")
            return re.sub(r"lease [0-9a-f]{16} granted", "lease <lease> granted", text)

        def ctl(*cmd: str, stdin=None) -> harness.Result:
            r = m.ctl(*cmd, stdin=stdin)
            line = f"$ {' '.join(c if len(c) < 40 else c[:10] + '...' for c in cmd)} -> rc {r.rc}"
            if r.stdout.strip():
                line += f" | out {r.stdout.strip()!r}"
            if harness.error_message(r):
                line += f" | err {harness.error_message(r)!r} code {harness.error_code(r)!r}"
            t.append(mask(line))
            return r

        def status() -> dict:
            r = m.ctl("endpoint", "status", "-w", "json")
            require(r.ok, f"{kind}: endpoint status", r.describe(), quiet=True)
            return json.loads(r.stdout)[0]["Status"]

        def health(what: str) -> tuple[int, str]:
            code, body = http_get(m.client_url + "/health")
            t.append(f"GET /health ({what}) -> {code} {body!r}")
            return code, body

        facts["id"] = status()["header"]["member_id"]
        health("fresh")
        # -- fill past the quota
        written = []
        refused = None
        for i in range(MAX_PUTS):
            r = m.ctl("put", f"k{i:03d}", VALUE)
            if not r.ok:
                refused = r
                break
            written.append(f"k{i:03d}")
        facts["written"] = len(written)
        require(refused is not None, f"{kind}: a put is refused within {MAX_PUTS} puts of 100 KB")
        t.append(f"put past the quota -> err {harness.error_message(refused)!r} "
                 f"code {harness.error_code(refused)!r}")
        facts["refused"] = refused
        facts["alarm_list"] = ctl("alarm", "list")
        st = status()
        facts["status_errors"] = st.get("errors")
        t.append(mask(f"status errors {st.get('errors')}"))
        facts["health_nospace"] = health("NOSPACE")
        # -- refused and served while NOSPACE is active
        facts["put2"] = ctl("put", "another", "x")
        ctl("txn", stdin='value("k000") = "none"\n\nget t1\n\nput t1 x\n\n')
        ctl("txn", stdin='value("k000") = "none"\n\nget t1\n\ndel nothing\n\n')
        facts["grant"] = ctl("lease", "grant", "60")
        facts["get_s"] = m.ctl("get", written[0], "--consistency=s", "--print-value-only")
        t.append(f"get -s -> rc {facts['get_s'].rc} len {len(facts['get_s'].stdout)}")
        facts["get_l"] = m.ctl("get", written[1], "--print-value-only")
        t.append(f"get -l -> rc {facts['get_l'].rc} len {len(facts['get_l'].stdout)}")
        # -- the alarm survives a restart
        m.restart()
        facts["alarm_after_restart"] = ctl("alarm", "list")
        # -- make room: delete half, compact, defrag
        deleted = written[: len(written) // 2]
        for k in deleted:
            facts.setdefault("dels", []).append(m.ctl("del", k).ok)
        t.append(f"deleted half -> all ok {all(facts['dels'])}")
        rev = status()["header"]["revision"]
        r = m.ctl("compact", str(rev))
        t.append(f"compact -> rc {r.rc} out {r.stdout.strip().replace(str(rev), '<rev>')!r}")
        before = status()["dbSize"]
        facts["defrag"] = ctl("defrag")
        st = status()
        facts["sizes"] = (before, st["dbSize"], st["dbSizeInUse"])
        t.append(f"dbSize after defrag below the quota: {st['dbSize'] < QUOTA}")
        facts["put_before_disarm"] = ctl("put", "another", "x")
        facts["disarm"] = ctl("alarm", "disarm")
        facts["list_after_disarm"] = ctl("alarm", "list")
        facts["put_after_disarm"] = ctl("put", "another", "x")
        ctl("txn", stdin='value("k000") = "none"\n\nget t1\n\nput t1 x\n\n')
        ctl("lease", "grant", "60")
        facts["health_after"] = health("after disarm")
        # -- nothing lost
        kept = written[len(written) // 2:]
        r = m.ctl("get", "k", "--prefix", "-w", "json")
        got = {}
        if r.ok:
            import base64
            for kv in json.loads(r.stdout).get("kvs", []):
                got[base64.b64decode(kv["key"]).decode()] = base64.b64decode(kv["value"]).decode()
        # Every acknowledged key not deleted holds its value. The put refused with NOSPACE may be
        # there too: etcd (and Outpost) apply a request that passed the quota check before
        # proposing and answer NOSPACE when the store crossed the quota while applying it.
        facts["kept_ok"] = (all(got.get(k) == VALUE for k in kept)
                            and all(v == VALUE for v in got.values()))
        t.append(f"the keys not deleted all hold their value: {facts['kept_ok']}")
        m.stop()
        return t, facts

    @runner.test
    def quota_nospace_disarm_differential():
        ours, f = session(args.server)
        ref, _ = session("etcd")
        nospace = "etcdserver: mvcc: database space exceeded"
        eq(harness.error_message(f["refused"]), nospace, "a put past the quota: etcd's error")
        eq(harness.error_code(f["refused"]), "ResourceExhausted", "... with code ResourceExhausted")
        eq(f["alarm_list"].stdout.strip(), f"memberID:{f['id']} alarm:NOSPACE",
           "alarm list shows NOSPACE raised by the member")
        eq(f["status_errors"], [f"memberID:{f['id']} alarm:NOSPACE "],
           "endpoint status lists the alarm under errors")
        eq(f["health_nospace"], (503, '{"health":"false"}\n'), "/health is false with NOSPACE")
        eq(harness.error_message(f["put2"]), nospace, "puts refused while NOSPACE is active")
        eq(harness.error_message(f["grant"]), f"failed to grant lease ({nospace})",
           "lease grants refused while NOSPACE is active")
        check(f["get_s"].ok and len(f["get_s"].stdout) > len(VALUE), "serializable reads served")
        check(f["get_l"].ok and len(f["get_l"].stdout) > len(VALUE), "linearizable reads served")
        eq(f["alarm_after_restart"].stdout.strip(), f"memberID:{f['id']} alarm:NOSPACE",
           "the alarm survives a restart")
        check(all(f["dels"]), "deletes served while NOSPACE is active")
        check(bool(re.fullmatch(r"Finished defragmenting etcd member\[http://127\.0\.0\.1:\d+\]",
                                f["defrag"].stdout.strip())),
              "defrag prints etcd's line", f["defrag"].stdout)
        before, after, in_use = f["sizes"]
        check(after < before and after < QUOTA and 0 < in_use <= after,
              f"defrag shrinks dbSize below the quota ({before} -> {after}, in use {in_use})")
        eq(harness.error_message(f["put_before_disarm"]), nospace,
           "a put is still refused before the alarm is disarmed")
        eq(f["disarm"].stdout.strip(), f"memberID:{f['id']} alarm:NOSPACE",
           "alarm disarm prints the disarmed alarm")
        eq(f["list_after_disarm"].stdout.strip(), "", "alarm list is empty after disarm")
        check(f["put_after_disarm"].ok, "writes accepted after disarm",
              f["put_after_disarm"].describe())
        eq(f["health_after"], (200, '{"health":"true"}'), "/health is true again")
        check(f["kept_ok"], f"nothing lost: the {f['written'] - f['written'] // 2} keys kept "
              "hold their values")
        diff = [f"  {a!r}\n  {b!r}" for a, b in zip(ours, ref) if a != b]
        check(not diff and len(ours) == len(ref),
              f"transcript equal to etcd 3.4.23's ({len(ours)} lines)",
              "\n".join(diff) + f"\nours:\n  " + "\n  ".join(ours) + "\netcd:\n  " + "\n  ".join(ref))

    @runner.test
    def cluster_move_leader_hash_nospace_health():
        c = harness.Cluster(args, prefix="qa", extra_flags=[f"--quota-backend-bytes={QUOTA}"])
        c.start()
        all_eps = ",".join(m.client_url for m in c)

        def ctl_all(*cmd: str) -> harness.Result:
            return harness.etcdctl(args, all_eps, *cmd)

        leader, _, sts = c.wait_leader()
        ids = {m.name: sts[m.name]["member_id"] for m in c}
        for m in c:
            eq(http_get(m.client_url + "/health"), (200, '{"health":"true"}'),
               f"{m.name}: /health true in a healthy cluster")

        # -- move-leader
        target = next(m for m in c if m is not leader)
        r = ctl_all("move-leader", f"{ids[target.name]:x}")
        eq(r.stdout.strip(), f"Leadership transferred from {ids[leader.name]:x} to "
           f"{ids[target.name]:x}", "move-leader prints etcd's line", r.describe())
        new_leader, _, _ = c.wait_leader()
        eq(new_leader.name, target.name, "the named member leads after move-leader")
        r = ctl_all("move-leader", "abcdef")
        eq(harness.error_message(r), "etcdserver: bad leader transferee",
           "move-leader to an unknown member: etcd's error", r.describe())
        if args.raw_grpc:
            follower = next(m for m in c if m is not new_leader)
            reply = pb.call(args.raw_grpc, follower.grpc_addr, "/etcdserverpb.Maintenance/MoveLeader",
                            pb.field_varint(1, ids[leader.name]))
            eq((reply.code, reply.message), (9, "etcdserver: not leader"),
               "MoveLeader on a follower: FailedPrecondition etcdserver: not leader")
            for i in range(5):
                require(c[i % 3].ctl("put", f"h{i}", "x").ok, "put", quiet=True)

            def hashes() -> set:
                out = set()
                for m in c:
                    rep = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.Maintenance/Hash", b"")
                    h = [v for n, _, v in pb.parse(rep.response) if n == 2] if rep.code == 0 else []
                    out.add(h[0] if h else None)
                return out
            got: list = []
            harness.wait_for(lambda: got.append(hashes()) or (len(got[-1]) == 1 and None not in got[-1]),
                             10, 0.2, "equal hashes")
            check(len(got[-1]) == 1 and None not in got[-1],
                  f"Maintenance.Hash equal on the three members ({got[-1]})")
        else:
            runner.skip("MoveLeader on a follower and Hash (no --raw-grpc)")

        # -- NOSPACE across the cluster
        via = next(m for m in c if m is not new_leader)
        written = []
        refused = None
        for i in range(MAX_PUTS):
            r = via.ctl("put", f"k{i:03d}", VALUE)
            if not r.ok:
                refused = r
                break
            written.append(f"k{i:03d}")
        require(refused is not None, "a put through a follower is refused past the quota")
        eq(harness.error_message(refused), "etcdserver: mvcc: database space exceeded",
           "... with etcd's error")
        for m in c:
            r = m.ctl("alarm", "list")
            eq(r.stdout.strip(), f"memberID:{ids[via.name]} alarm:NOSPACE",
               f"{m.name}: alarm list shows the NOSPACE raised by {via.name}")
            r = m.ctl("put", "small", "x")
            eq(harness.error_message(r), "etcdserver: mvcc: database space exceeded",
               f"{m.name}: puts refused while NOSPACE is active")
            eq(http_get(m.client_url + "/health")[0], 503, f"{m.name}: /health 503 with NOSPACE")
        for k in written:
            require(via.ctl("del", k).ok, f"del {k}", quiet=True)
        rev = c.status(via)["revision"]
        require(via.ctl("compact", str(rev)).ok, "compact", quiet=True)
        r = ctl_all("defrag")
        eq(sorted(r.stdout.strip().splitlines()),
           sorted(f"Finished defragmenting etcd member[{m.client_url}]" for m in c),
           "defrag on every endpoint prints etcd's line per member", r.describe())
        r = via.ctl("alarm", "disarm")
        require(r.ok, "alarm disarm", r.describe())
        for m in c:
            check(m.ctl("put", f"after-{m.name}", "x").ok, f"{m.name}: writes accepted after disarm")

        # -- /health and quorum
        survivor = new_leader
        others = [m for m in c if m is not survivor]
        for m in others:
            m.kill9()
        eq(http_get(survivor.client_url + "/health"), (503, '{"health":"false"}\n'),
           "/health false on the survivor without a quorum")
        beyond_34 = args.server != "etcd"  # etcd 3.4 has no /livez, /readyz (3.5.11+ has)
        if beyond_34:
            eq(http_get(survivor.client_url + "/readyz"),
               (503, "[-]linearizable_read failed: reason withheld\nreadyz check failed\n"),
               "/readyz fails its linearizable_read check without a quorum (etcd 3.6's text)")
            eq(http_get(survivor.client_url + "/livez"), (200, "ok"), "/livez ok without a quorum")
        for m in others:
            m.start(wait=False)
        ok_all: list = []

        def healthy() -> bool:
            ok_all.append([http_get(m.client_url + "/health")[0] for m in c])
            return all(code == 200 for code in ok_all[-1])
        try:
            harness.wait_for(healthy, 30, 0.2, "every member healthy")
        except TimeoutError:
            pass
        check(bool(ok_all) and all(code == 200 for code in ok_all[-1]),
              "/health true on every member after the restart", repr(ok_all[-1:]))
        if beyond_34:
            eq(http_get(survivor.client_url + "/readyz"), (200, "ok"), "/readyz ok (beyond etcd 3.4)")
            eq(http_get(survivor.client_url + "/livez"), (200, "ok"), "/livez ok (beyond etcd 3.4)")
        else:
            runner.skip("/livez and /readyz: etcd 3.4 has none")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
