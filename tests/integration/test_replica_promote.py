#!/usr/bin/env python3
"""Promotion modes (issue 11): `--replica-promote when-caught-up` promotes itself only after
the hold; `--replica-promote never` (a read-only replica) refuses promotion whoever asks.
Outpost only.

3 voters (heartbeat 100 ms, election 1000 ms).

auto_promotion_only_after_the_hold
    A learner started with `--replica-promote=when-caught-up --replica-promote-after-s=4`
    (after `member add --learner`): `member list` polled every 0.1 s shows it a learner for at
    least 4 s after its process started, then a voter within 4 + 10 s; afterwards every member
    lists it as a voter, `endpoint status` on it says isLearner false, its GET /replica says role
    "voter", and a put through it succeeds.
read_only_learner_refuses_promotion
    A learner started with `--replica-promote=never --replica-writes=forward`, in sync:
    `etcdctl member promote ID` through a voter fails with an error containing "read-only
    replica" (not the in-sync refusal); through the learner itself (forwarded) too; again after
    more than the hold; `member list` still shows it a learner, and its GET /replica says
    promote "never".
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402

HOLD_S = 4


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: promotion modes")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    def learner_flag(c: harness.Cluster, name: str, via: harness.Member):
        ml = c.member_list(via, timeout=5)
        row = next((x for x in ml or [] if x.name == name), None)
        return None if row is None else row.is_learner

    @runner.test
    def auto_promotion_only_after_the_hold():
        c = ru.fast_cluster(args, "pa")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        m, r = ru.add_replica(c, "pa4", ["--replica-promote=when-caught-up",
                                         f"--replica-promote-after-s={HOLD_S}"], start=False)
        require(m is not None, "member add pa4 --learner", r.describe())
        started = time.monotonic()
        m.start(wait=False)
        seen_learner_at = None
        promoted_at = None
        while time.monotonic() - started < HOLD_S + 10:
            if not m.running():
                break
            flag = learner_flag(c, "pa4", leader)
            now = time.monotonic() - started
            if flag is True:
                seen_learner_at = now
            elif flag is False:
                promoted_at = now
                break
            time.sleep(0.1)
        require(m.running(), "the learner runs", m.log_tail(20))
        print(f"  last seen a learner {seen_learner_at} s after start; a voter at "
              f"{promoted_at} s")
        check(promoted_at is not None, f"promoted by itself within {HOLD_S} + 10 s",
              m.log_tail(20))
        check(promoted_at is None or promoted_at >= HOLD_S, f"not before the hold: "
              f"{promoted_at} s >= {HOLD_S} s after its process started")
        check(seen_learner_at is not None and seen_learner_at >= HOLD_S * 0.75,
              f"listed as a learner until late in the hold ({seen_learner_at} s)")
        if promoted_at is None:
            return
        m.is_learner = False
        for v in c.running():
            eq(learner_flag(c, "pa4", v), False, f"{v.name}: member list shows pa4 a voter")
        st = c.status(m)
        check(st is not None and not st["raw"].get("isLearner"),
              "endpoint status on pa4: isLearner false", str(st and st["raw"]))
        rs = ru.replica_status(m) or {}
        eq(rs.get("role"), "voter", "GET /replica on pa4: role voter", str(rs))
        r = m.ctl("put", "pa-promoted", "yes")
        eq((r.rc, r.stdout), (0, "OK\n"), "put through pa4", r.describe())
        c.stop()

    @runner.test
    def read_only_learner_refuses_promotion():
        c = ru.fast_cluster(args, "pn")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        m, r = ru.add_replica(c, "pn4", ["--replica-promote=never", "--replica-writes=forward",
                                         f"--replica-promote-after-s={HOLD_S}"])
        require(m is not None, "member add pn4 --learner, started with --replica-promote=never",
                r.describe())
        c.wait_in_sync(m, timeout=30)
        started = time.monotonic()
        mid = c.member_id(m)
        for via, what in ((leader, "through the leader"),
                          (next(v for v in c.voters() if v is not leader), "through a follower"),
                          (m, "through the learner itself (forwarded)")):
            r = via.ctl("member", "promote", f"{mid:x}", command_timeout="10s", timeout=30)
            msg = harness.error_message(r)
            check(r.rc != 0 and "read-only replica" in msg,
                  f"member promote {what}: refused with an error containing 'read-only "
                  f"replica' ({msg!r})", r.describe())
        # Past the hold, still refused (never means never).
        harness.wait_for(lambda: time.monotonic() - started > HOLD_S + 1, HOLD_S + 2, 0.1)
        r = c.promote(m, via=leader)
        check(r.rc != 0 and "read-only replica" in harness.error_message(r),
              f"member promote after {HOLD_S + 1} s: still refused", r.describe())
        for v in c.voters():
            eq(learner_flag(c, "pn4", v), True, f"{v.name}: member list still shows pn4 a "
               "learner")
        rs = ru.replica_status(m) or {}
        eq((rs.get("role"), rs.get("promote")), ("learner", "never"),
           "GET /replica on pn4: role learner, promote never", str(rs))
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
