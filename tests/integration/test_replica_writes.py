#!/usr/bin/env python3
"""Forwarded writes on a learner (issue 11, `--replica-writes forward`): etcdctl pointed only at
the learner behaves as against a voter, and each write is applied once across a leader kill.
Outpost only.

Two fresh, identical clusters (3 voters, heartbeat 100 ms, election 1000 ms, plus one learner
started with `--replica-writes=forward --replica-read-policy=linearizable`).

session_on_the_learner_equals_session_on_a_voter
    One etcdctl session (~40 commands: put/get/del with --prev-kv, --rev, -w json, txns that
    succeed, fail and are refused, leases granted/attached/kept alive/listed/revoked, unknown
    leases, compaction and its errors, alarm list, a forwarded `member list`) runs against the
    learner of cluster A and against a voter of cluster B. The transcripts (stdout, the server's
    "Error:" line, exit status) must be identical after masking only lease ids (by order of
    grant; `lease list`, in no order of its own, sorted by grant), the header's cluster/member
    ids and raft term, and a lease's remaining seconds;
    revisions are compared as they are. The learner's forwarded_calls_sent (and the leader's
    forwarded_calls_answered) grow by at least the number of write commands (so the learner did
    forward them), and a serializable get on the learner right after each forwarded put sees it
    (applied locally before the answer) - that is part of the transcript.
each_write_applied_once_across_a_leader_kill
    Cluster A: 3 writers put unique keys (fw/<w>/<seq> = v-<w>-<seq>) only through the learner;
    after 30 acknowledgements the leader is killed (-9); once the survivors have a new leader and
    30 more puts were acknowledged, the writers stop. On a surviving voter (linearizable) and on
    the learner: every acknowledged put is present with its value and version 1, every key
    present was attempted and has version 1 (no write applied twice, e.g. by a re-forward).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402

REPLICA_FLAGS = ["--replica-writes=forward", "--replica-read-policy=linearizable"]

# (etcdctl arguments, stdin, is a write). LEASE<n> is replaced by the n-th granted lease id (hex).
SESSION = [
    (["put", "fk1", "v1"], None, True),
    (["get", "fk1", "--consistency=s"], None, False),
    (["put", "fk2", "v2", "--prev-kv"], None, True),
    (["get", "fk2", "--consistency=s", "--print-value-only"], None, False),
    (["put", "fk2", "v2b", "--prev-kv"], None, True),
    (["-w", "json", "put", "fk3", "v3"], None, True),
    (["get", "fk", "--prefix"], None, False),
    (["-w", "json", "get", "fk", "--prefix", "--consistency=s"], None, False),
    (["get", "fk2", "--rev=3"], None, False),
    (["del", "fk2", "--prev-kv"], None, True),
    (["del", "fk-none"], None, True),
    (["put", "fk9", "--ignore-value"], None, True),
    (["txn"], 'value("fk1") = "v1"\n\nput fk4 v4\nput fk5 v5\n\nput fk6 v6\n\n', True),
    (["txn"], 'value("fk1") = "nope"\n\nput fk6 v6\n\nget fk1\nput fk7 v7\n\n', True),
    (["-w", "json", "txn"], 'mod("fk4") > "0"\n\nget fk4\ndel fk5\n\n\n', True),
    (["txn"], '\nput fk8 a\nput fk8 b\n\n\n', True),
    (["get", "fk", "--prefix", "--consistency=s"], None, False),
    (["lease", "grant", "100"], None, True),
    (["put", "fl1", "x", "--lease=LEASE1"], None, True),
    (["lease", "grant", "50"], None, True),
    (["put", "fl2", "y", "--lease=LEASE2"], None, True),
    (["lease", "timetolive", "LEASE1", "--keys"], None, True),
    (["lease", "list"], None, True),
    (["lease", "keep-alive", "--once", "LEASE1"], None, False),
    (["lease", "revoke", "LEASE1"], None, True),
    (["get", "fl", "--prefix"], None, False),
    (["get", "fl", "--prefix", "--consistency=s"], None, False),
    (["lease", "timetolive", "LEASE1"], None, True),
    (["put", "fl3", "z", "--lease=4d2"], None, True),
    (["lease", "revoke", "4d2"], None, True),
    (["lease", "revoke", "LEASE2"], None, True),
    (["compact", "5"], None, True),
    (["get", "fk1", "--rev=3"], None, False),
    (["compact", "3"], None, True),
    (["compact", "1000"], None, True),
    (["del", "fk", "--prefix"], None, True),
    (["alarm", "list"], None, True),
    (["put", "fk-last", "end"], None, True),
    (["-w", "json", "get", "", "--prefix", "--keys-only"], None, False),
    (["get", "fk-last", "--consistency=s", "-w", "json"], None, False),
]


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: forwarded writes on a learner")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    def cluster(prefix: str) -> tuple[harness.Cluster, harness.ClusterMember]:
        c = ru.fast_cluster(args, prefix)
        c.start()
        c.wait_leader(timeout=15)
        learner, r = ru.add_replica(c, f"{prefix}4", REPLICA_FLAGS)
        require(learner is not None, f"cluster {prefix}: member add {prefix}4 --learner, "
                f"started with {' '.join(REPLICA_FLAGS)}", r.describe())
        c.wait_in_sync(learner, timeout=30)
        return c, learner

    def run_session(m: harness.Member) -> tuple[list[str], list[str]]:
        """(masked transcript lines, raw transcript lines)."""
        leases: list[str] = []
        raw, masked = [], []
        for cmd, stdin, _ in SESSION:
            cmd = [re.sub(r"LEASE(\d)", lambda g: leases[int(g.group(1)) - 1]
                          if len(leases) >= int(g.group(1)) else "0", a) for a in cmd]
            r = m.ctl(*cmd, stdin=stdin, command_timeout="10s")
            if cmd[:2] == ["lease", "list"] and r.ok:  # in no particular order (etcd: a map)
                head, *ids = r.stdout.splitlines()
                r.stdout = "\n".join([head] + sorted(ids, key=lambda x: leases.index(x)
                                                      if x in leases else len(leases))) + "\n"
            got = re.match(r"lease ([0-9a-f]+) granted with TTL", r.stdout)
            if cmd[:2] == ["lease", "grant"] and got:
                leases.append(got.group(1))
            text = (f"$ etcdctl {' '.join(cmd)}\n{r.stdout}"
                    f"[rc={r.rc}] {harness.error_message(r)}\n")
            raw.append(text)
            for n, lid in enumerate(leases, 1):
                text = text.replace(lid, f"<lease{n}>").replace(str(int(lid, 16)),
                                                                 f"<lease{n}>")
            text = re.sub(r'"(cluster_id|member_id|raft_term)":\d+', r'"\1":<masked>', text)
            text = re.sub(r"remaining\(\d+s\)", "remaining(<n>s)", text)
            masked.append(text)
        return masked, raw

    def write(name: str, lines: list[str]) -> str:
        path = os.path.join(args.workdir, name)
        with open(path, "w") as f:
            f.write("".join(lines))
        return path

    @runner.test
    def session_on_the_learner_equals_session_on_a_voter():
        ca, learner = cluster("fa")
        leader_a, _, _ = ca.wait_leader(ca.voters(), timeout=15)
        before_l, before_ld = ru.counters(learner), ru.counters(leader_a)
        got, got_raw = run_session(learner)
        after_l, after_ld = ru.counters(learner), ru.counters(leader_a)
        n_writes = sum(1 for _, _, w in SESSION if w)
        r = learner.ctl("member", "list", "-w", "json")
        try:
            n_members = len(json.loads(r.stdout).get("members", [])) if r.ok else None
        except ValueError:
            n_members = None
        eq(n_members, 4, "member list through the learner (forwarded): 4 members",
           r.describe())
        ca.stop()

        cb, _ = cluster("fb")
        voter = cb.voters()[1]
        want, want_raw = run_session(voter)
        cb.stop()
        pa = write("transcript.learner.txt", got)
        pb = write("transcript.voter.txt", want)
        write("transcript.learner.raw.txt", got_raw)
        write("transcript.voter.raw.txt", want_raw)
        diffs = [f"--- voter\n{w}+++ learner\n{g}" for w, g in zip(want, got) if w != g]
        check(not diffs, f"the {len(SESSION)}-command session gives the same transcript on the "
              f"learner as on a voter ({pa}, {pb})", "\n".join(diffs[:6]))
        refusals = [g for g in got if "not supported for learner" in g]
        check(not refusals, "no command refused with 'rpc not supported for learner'",
              "\n".join(refusals[:3]))
        sent = ru.delta(before_l, after_l)["forwarded_calls_sent"]
        answered = ru.delta(before_ld, after_ld)["forwarded_calls_answered"]
        check(sent is not None and sent >= n_writes, f"the learner's forwarded_calls_sent grew "
              f"by >= {n_writes} write commands: {sent}")
        check(answered is not None and answered >= n_writes, f"the leader's "
              f"forwarded_calls_answered grew by >= {n_writes}: {answered}")

    @runner.test
    def each_write_applied_once_across_a_leader_kill():
        c, learner = cluster("fk")
        leader, _, _ = c.wait_leader(c.voters(), timeout=15)
        w = harness.Writers(args, [learner], prefix="fw", n=3, command_timeout="5s").start()
        try:
            w.wait_count(30, timeout=60)
            leader.kill9()
            killed_at = time.monotonic()
            print(f"  killed the leader {leader.name} after {w.count()} acknowledged puts")
            survivors = [m for m in c.voters() if m is not leader]
            new_leader, _, _ = c.wait_leader(survivors, timeout=20)
            print(f"  new leader {new_leader.name} after {time.monotonic() - killed_at:.1f} s")
            w.wait_more(30, timeout=60)
        finally:
            w.finish()
        print(f"  {len(w.acked)} puts acknowledged, {len(w.failures)} failed, "
              f"{len(w.tried)} attempted, all through the learner")
        for m, how in ((survivors[0], "l"), (learner, "s")):
            if how == "s":
                try:
                    c.wait_in_sync(learner, timeout=30)
                except TimeoutError as e:
                    check(False, "the learner catches up with the new leader", str(e))
            got, _ = harness.dump_kvs(m, "fw/", how)
            require(got is not None, f"{m.name}: get fw/ --prefix", quiet=True)
            missing = sorted(k for k, v in w.acked.items() if got.get(k, (None,))[0] != v)
            check(not missing, f"{m.name}: every acknowledged put present with its value "
                  f"({len(w.acked)})", f"{len(missing)} missing, e.g. {missing[:5]}")
            twice = sorted(k for k, v in got.items() if v[3] != 1)
            check(not twice, f"{m.name}: every key has version 1 (no put applied twice; "
                  f"{len(got)} keys)", f"e.g. {[(k, got[k]) for k in twice[:5]]}")
            unknown = sorted(k for k, v in got.items() if w.tried.get(k) != v[0])
            check(not unknown, f"{m.name}: every key present was attempted with that value",
                  f"e.g. {unknown[:5]}")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
