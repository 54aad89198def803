#!/usr/bin/env python3
"""Standby failover (issue 11, `--replica-promote standby`, `--replica-failover-after-s 2`): when a
voter has been unreachable from the leader for failover-after-s, the leader promotes the standby,
then removes the lost voter, one change at a time. Outpost only.

Every member runs with heartbeat 100 ms, election 1000 ms and `--replica-failover-after-s=2`; the
standby (added with `member add --learner`) with `--replica-promote=standby`.

standby_replaces_a_killed_voter
    3 voters + standby, writers through the voters. `kill -9` of a follower: within
    failover-after-s + 2 election timeouts (+ 0.5 s of polling slack) `member list` (polled on
    the leader every 0.1 s) shows 3 voters, the former standby among them, the lost voter gone,
    no learner, and never the lost voter gone while the standby is a learner. The leader's
    "applied conf change" log lines after the kill are exactly: promote standby (4 voters, 0
    learners), then remove the lost voter (3 voters); "standby failover: promoted standby" is
    logged between the two, "removed lost voter" after the second, once each (so the removal
    was proposed only once the promotion was applied); every acknowledged put is on the
    survivors and on the promoted standby.
second_kill_during_failover_one_change_at_a_time
    5 voters + standby. Two followers are killed 0.3 s apart (the second before the first
    failover completes). Over every member's log there is exactly one "promoted standby" and
    one "removed lost voter" line, in that order; the leader applied exactly two conf changes
    (promote the standby: 6 voters; remove one of the killed: 5 voters), the second proposed
    after the first was applied (member-list polling is too slow to see the 10 ms between
    them, so the log decides); once the list is stable (no change for failover +
    2 s), it holds the 3 survivors and the promoted standby as voters plus exactly one of the two
    killed voters (no standby is left to replace it: removing it too would lower the fault
    tolerance), no learner. Every acknowledged put is there.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402

FAILOVER_S = 2
PROMOTED = "standby failover: promoted standby"
REMOVED = "standby failover: removed lost voter"


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: standby failover")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    def state(c: harness.Cluster, via: harness.Member):
        """frozenset of (name or hex id, is learner) from `member list`, or None."""
        ml = c.member_list(via, timeout=5)
        if ml is None:
            return None
        return frozenset((x.name or x.hex_id, x.is_learner) for x in ml)

    def one_change(a: frozenset, b: frozenset) -> bool:
        """b is a with one member promoted, or one member removed (or added)."""
        an, bn = {n for n, _ in a}, {n for n, _ in b}
        if an == bn:
            return len(a - b) == 1  # one member's learner flag changed
        return len(an ^ bn) == 1 and {(n, l) for n, l in a if n in bn} == \
            {(n, l) for n, l in b if n in an}

    def conf_changes(m: harness.ClusterMember, since: float, names: dict) -> list[tuple]:
        """(ts, type, member name, voters, learners) of m's "applied conf change" log lines at
        or after wall-clock time `since`."""
        out = []
        for rec in harness.log_records(m.log_text(), "applied conf change"):
            ts = harness.log_ts(rec)
            if ts >= since:
                mid = int(str(rec.get("member-id", "0")), 16)
                out.append((ts, rec.get("type"), names.get(mid, f"{mid:x}"), rec.get("voters"),
                            rec.get("learners")))
        return out

    def check_sequence(leader: harness.ClusterMember, since: float, names: dict, want: list,
                       what: str) -> None:
        """The leader applied exactly the conf changes `want` [(type, name, voters, learners)]
        after `since`, in that order; each failover step was logged after the change before it
        was applied (so no two were in flight at once)."""
        got = conf_changes(leader, since, names)
        eq([g[1:] for g in got], want, f"{what}: the leader applied exactly these conf changes, "
           "in order (one change at a time, promotion first)", str(got))
        ups = [t for t, _, _ in ru.log_msgs([leader], PROMOTED) if t >= since]
        rms = [t for t, _, _ in ru.log_msgs([leader], REMOVED) if t >= since]
        if len(got) == 2 and ups and rms:
            check(got[0][0] <= ups[0] <= got[1][0] <= rms[0],
                  f"{what}: promote applied, then 'promoted standby' logged, then the removal "
                  "applied, then 'removed lost voter' logged (the removal proposed only after "
                  "the promotion was applied)", f"promote applied {got[0][0]:.3f}, logged "
                  f"{ups[0]:.3f}; remove applied {got[1][0]:.3f}, logged {rms[0]:.3f}")

    def fmt(s) -> str:
        return "{" + ", ".join(f"{n}{'(L)' if l else ''}" for n, l in sorted(s)) + "}" \
            if s is not None else "None"

    def setup(prefix: str, size: int) -> tuple[harness.Cluster, harness.ClusterMember]:
        c = ru.fast_cluster(args, prefix, size=size,
                            extra_flags=[f"--replica-failover-after-s={FAILOVER_S}"])
        c.start()
        c.wait_leader(timeout=20)
        sb, r = ru.add_replica(c, f"{prefix}sb", ["--replica-promote=standby"])
        require(sb is not None, f"member add {prefix}sb --learner, started with "
                "--replica-promote=standby", r.describe())
        c.wait_in_sync(sb, timeout=30)
        rs = ru.replica_status(sb) or {}
        eq((rs.get("role"), rs.get("promote")), ("learner", "standby"),
           "GET /replica on the standby: role learner, promote standby", str(rs))
        return c, sb

    def watch_states(c: harness.Cluster, leader: harness.Member, until, timeout: float
                     ) -> list[tuple[float, frozenset]]:
        """Poll member list until until(state) holds or timeout; distinct states with times."""
        seen: list[tuple[float, frozenset]] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = state(c, leader)
            if s is not None and (not seen or seen[-1][1] != s):
                seen.append((time.monotonic(), s))
                if until(s):
                    break
            time.sleep(0.1)
        return seen

    def check_acked(members, w: harness.Writers) -> None:
        for m in members:
            got, _ = harness.dump_kvs(m, w.prefix + "/", "l")
            if got is None:
                check(False, f"{m.name}: get {w.prefix}/ --prefix")
                continue
            missing = sorted(k for k, v in w.acked.items() if got.get(k, (None,))[0] != v)
            check(not missing, f"{m.name}: all {len(w.acked)} acknowledged puts present",
                  f"{len(missing)} missing, e.g. {missing[:5]}")

    @runner.test
    def standby_replaces_a_killed_voter():
        c, sb = setup("sf", 3)
        leader, _, _ = c.wait_leader(c.voters(), timeout=15)
        victim = next(m for m in c.voters() if m is not leader)
        survivors = [m for m in c.voters() if m is not victim]
        before = state(c, leader)
        names = {c.member_id(m): m.name for m in c.members}
        w = harness.Writers(args, survivors, prefix="sf", n=2).start()
        try:
            w.wait_count(10, timeout=30)
            victim.kill9()
            killed = time.monotonic()
            killed_wall = time.time()
            print(f"  killed voter {victim.name} (the leader is {leader.name})")
            want = frozenset({(m.name, False) for m in survivors} | {(sb.name, False)})
            bound = FAILOVER_S + 2 * c.election_ms / 1000 + 0.5
            seen = watch_states(c, leader, lambda s: s == want, bound + 10)
            done = seen[-1][0] - killed if seen and seen[-1][1] == want else None
            w.wait_more(10, timeout=30)
        finally:
            w.finish()
        print("  member list states: " + " -> ".join(
            f"{fmt(s)}@{t - killed:+.1f}s" for t, s in [(killed, before)] +
            [x for x in seen if x[1] != before]))
        check(done is not None, f"member list becomes {fmt(want)}",
              f"last {fmt(seen[-1][1]) if seen else None}")
        check(done is not None and done <= bound, f"within failover-after-s + 2 election "
              f"timeouts (+0.5 s): {done if done is None else round(done, 2)} s <= {bound} s")
        states = [before] + [s for _, s in seen if s != before]
        early = [fmt(s) for s in states if (sb.name, True) in s and
                 victim.name not in {n for n, _ in s}]
        check(not early, "member list never showed the lost voter gone while the standby was "
              "still a learner", "; ".join(early))
        check_sequence(leader, killed_wall, names,
                       [("promote", sb.name, 4, 0), ("remove", victim.name, 3, 0)],
                       f"kill of {victim.name}")
        ups = ru.log_msgs(c.members, PROMOTED)
        rms = ru.log_msgs(c.members, REMOVED)
        eq((len(ups), len(rms)), (1, 1), f"one {PROMOTED!r} and one {REMOVED!r} log line")
        check(bool(ups and rms) and ups[0][0] <= rms[0][0], "promoted logged before removed",
              f"{[(t, n, r.get('msg')) for t, n, r in ups + rms]}")
        print(f"  {len(w.acked)} puts acknowledged, {len(w.failures)} failed")
        sb.is_learner = False
        check_acked(survivors + [sb], w)
        c.stop()

    @runner.test
    def second_kill_during_failover_one_change_at_a_time():
        c, sb = setup("sd", 5)
        leader, _, _ = c.wait_leader(c.voters(), timeout=15)
        followers = [m for m in c.voters() if m is not leader]
        v1, v2 = followers[0], followers[1]
        survivors = [m for m in c.voters() if m not in (v1, v2)]
        before = state(c, leader)
        names = {c.member_id(m): m.name for m in c.members}
        w = harness.Writers(args, survivors, prefix="sd", n=2).start()
        try:
            w.wait_count(10, timeout=30)
            v1.kill9()
            killed = time.monotonic()
            killed_wall = time.time()
            harness.wait_for(lambda: time.monotonic() - killed >= 0.3, 1, 0.02)
            v2.kill9()
            print(f"  killed voters {v1.name} and {v2.name} 0.3 s apart (leader {leader.name})")
            seen: list[tuple[float, frozenset]] = []
            quiet_for = FAILOVER_S + 2
            deadline = time.monotonic() + FAILOVER_S * 2 + 20
            while time.monotonic() < deadline:
                s = state(c, leader)
                if s is not None and (not seen or seen[-1][1] != s):
                    seen.append((time.monotonic(), s))
                last_change = seen[-1][0] if seen else killed
                if time.monotonic() - killed > FAILOVER_S and \
                        time.monotonic() - last_change > quiet_for and \
                        (sb.name, False) in (seen[-1][1] if seen else before):
                    break
                time.sleep(0.1)
            w.wait_more(5, timeout=30)
        finally:
            w.finish()
        states = [before] + [s for _, s in seen if s != before][:50]
        print("  member list states: " + " -> ".join(fmt(s) for s in states))
        bad = [f"{fmt(a)} -> {fmt(b)}" for a, b in zip(states, states[1:])
               if not one_change(a, b)]
        if bad:  # polling can miss a state between two quick changes: the log decides
            print(f"  (member-list polling saw several changes at once: {'; '.join(bad)})")
        got = conf_changes(leader, killed_wall, names)
        removed = next((g[2] for g in got if g[1] == "remove"), None)
        check(removed in (v1.name, v2.name), f"the removed voter is one of the killed ({removed})",
              str(got))
        check_sequence(leader, killed_wall, names,
                       [("promote", sb.name, 6, 0), ("remove", removed, 5, 0)],
                       f"kills of {v1.name} and {v2.name}")
        ups = ru.log_msgs(c.members, PROMOTED)
        rms = ru.log_msgs(c.members, REMOVED)
        eq((len(ups), len(rms)), (1, 1), f"exactly one {PROMOTED!r} and one {REMOVED!r} "
           "over every member's log", f"{[(t, n, r) for t, n, r in ups + rms]}")
        check(bool(ups and rms) and ups[0][0] <= rms[0][0], "promoted logged before removed")
        final = states[-1]
        names = {n for n, _ in final}
        eq(sorted(n for n, lr in final if lr), [], "no learner left")
        check({m.name for m in survivors} | {sb.name} <= names,
              "the 3 survivors and the promoted standby are listed", fmt(final))
        eq(len(names & {v1.name, v2.name}), 1, "exactly one of the two killed voters removed "
           "(one standby, one replacement)", fmt(final))
        print(f"  {len(w.acked)} puts acknowledged, {len(w.failures)} failed")
        sb.is_learner = False
        check_acked(survivors + [sb], w)
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
