#!/usr/bin/env python3
"""Safe reconfiguration: a learner nobody can reach never hurts availability; with a voter down,
adding a voter is refused (strict reconfig check, on by default).

learner_with_bad_peer_url_keeps_the_cluster_available
    A 3-member cluster under two writers that read each acknowledged put back (linearizable)
    through another voter. A learner is added whose peer URL nobody listens on (never started);
    every write and read keeps succeeding, also after a voter follower is killed (the learner
    is not counted: 2 of 3 voters are a quorum); the learner is removed again (with that voter
    still down) and writes go on. Then the same with a wrong peer URL: a voter's client URL (a
    gRPC server, not a raft peer), added and removed with every write and read succeeding. The
    killed voter comes back and catches up.
one_voter_down_refuses_a_voter
    After a voter add/remove round trip (the new voter never started) shows the cluster accepts
    a voter with everybody up, a voter follower is killed (kill -9). `member add --peer-urls=...` (a voter) is then refused with one
    of etcd's strict-reconfig errors; etcd 3.4.23 answers Unavailable "etcdserver: unhealthy
    cluster" (the leader is not connected to every voter); the member list is unchanged and
    writes still succeed. Adding a *learner* in the same state: Outpost accepts it (it does not
    change the quorum) and the learner, started, catches up; etcd 3.4.23 refuses it with the same
    Unavailable "etcdserver: unhealthy cluster" (its check does not tell learners apart), which
    is what is checked when the server is etcd.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

UNHEALTHY = ("etcdserver: unhealthy cluster", "Unavailable")
NOT_ENOUGH_STARTED = ("etcdserver: re-configuration failed due to not enough started members",
                      "FailedPrecondition")


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "membership: safe reconfiguration")
    check, eq, require = runner.check, runner.eq, runner.require
    outpost = args.server == "outpost"

    def names(ml) -> list:
        return ml and sorted((x.name, x.is_learner) for x in ml)

    def writes_ok(w: harness.Writers, what: str, more: int = 15) -> None:
        """`more` further acknowledged puts (each read back), and no failure at all so far."""
        try:
            w.wait_more(more, timeout=30)
            ok = True
        except TimeoutError:
            ok = False
        check(ok and w.failure_count() == 0, f"every write and read succeeds: {what} "
              f"({w.count()} puts, {w.reads} reads so far)", w.first_failure())

    # ------------------------------------------------------------------------------------------
    @runner.test
    def learner_with_bad_peer_url_keeps_the_cluster_available():
        c = harness.Cluster(args, prefix="sb")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        voters = list(c.members)
        down = next(m for m in voters if m is not leader)
        up = [m for m in voters if m is not down]
        before = names(c.member_list(leader))
        w = harness.Writers(args, up, prefix="sb", n=2, read_back=True).start()
        try:
            writes_ok(w, "before any change", 10)
            dead_url = f"http://127.0.0.1:{harness.free_port()}"
            bad, r = c.add_member("sb-unreachable", learner=True, peer_url=dead_url,
                                  start=False, via=leader)
            require(bad is not None, f"member add --learner --peer-urls={dead_url} (nobody "
                    "listens there)", r.describe())
            eq(names(c.member_list(leader)), sorted(before + [("", True)]),
               "member list: the unstarted learner added")
            writes_ok(w, "unreachable learner registered")
            down.kill9()
            print(f"  killed voter {down.name}")
            writes_ok(w, f"unreachable learner registered, voter {down.name} down")
            r = c.remove_member(bad, via=leader)
            eq((r.rc, "removed from cluster" in r.stdout), (0, True),
               f"member remove of the unreachable learner (with {down.name} down)",
               r.describe())
            eq(names(c.member_list(leader)), before, "member list back to the 3 voters")
            writes_ok(w, "unreachable learner removed")

            down.start(timeout=30)
            print(f"  restarted {down.name}")
            # A wrong peer URL: something listens there, but it is no raft peer.
            wrong_url = up[1].client_url
            wrong, r = c.add_member("sb-wrong", learner=True, peer_url=wrong_url, start=False,
                                    via=leader)
            require(wrong is not None, f"member add --learner --peer-urls={wrong_url} (a "
                    "client URL)", r.describe())
            writes_ok(w, "learner registered at a client URL")
            r = c.remove_member(wrong, via=leader)
            eq((r.rc, "removed from cluster" in r.stdout), (0, True),
               "member remove of the wrongly addressed learner", r.describe())
            writes_ok(w, "wrongly addressed learner removed")
        finally:
            w.finish()
        eq(names(c.member_list(leader)), before, "member list: the 3 voters")
        c.check_hashkv_equal(
            runner, f"{down.name} caught up: hashkv equal on all three",
            voters, timeout=30)
        c.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def one_voter_down_refuses_a_voter():
        c = harness.Cluster(args, prefix="sd")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        # Control: with everybody up, adding a voter is accepted (etcd and Outpost: once the
        # peers have been connected for 5 s; retried until then), so the refusal below is due
        # to the member that is down. The probe never runs and is removed again.
        probe, r = c.add_member("sd-probe", learner=False, start=False, via=leader)
        require(probe is not None, "control: member add of a voter with every voter up",
                r.describe())
        r = c.remove_member(probe, via=leader)
        require(r.ok, "control: member remove of that (never started) voter", r.describe())
        before = names(c.member_list(leader))

        down = next(m for m in c if m is not leader)
        up = [m for m in c if m is not down]
        down.kill9()
        print(f"  killed voter {down.name}")
        voter, r = c.add_member("sd-voter", learner=False, start=False, via=leader,
                                retry_unhealthy=0)
        got = (harness.error_message(r), harness.error_code(r))
        print(f"  voter add answered rc={r.rc} {got}")
        check(voter is None and got in (UNHEALTHY, NOT_ENOUGH_STARTED),
              "member add of a voter with a voter down: refused with etcd's strict-reconfig "
              "error (etcd 3.4.23: Unavailable \"etcdserver: unhealthy cluster\")",
              r.describe())
        if not outpost:
            eq(got, UNHEALTHY, "etcd: exactly Unavailable \"etcdserver: unhealthy cluster\"")
        eq(names(c.member_list(leader)), before, "member list unchanged")
        for i, m in enumerate(up):
            r = m.ctl("put", f"sd/after-refusal/{i}", "x")
            eq((r.rc, r.stdout), (0, "OK\n"), f"put through {m.name} after the refusal",
               r.describe())

        learner, r = c.add_member("sd-learner", learner=True, start=False, via=leader,
                                  retry_unhealthy=0)
        if outpost:
            require(learner is not None, "outpost: member add --learner with a voter down is "
                    "accepted (a learner does not change the quorum)", r.describe())
            learner.start(timeout=60)
            try:
                c.wait_in_sync(learner, timeout=30)
                check(True, "the learner added with a voter down started and caught up")
            except TimeoutError as e:
                check(False, "the learner added with a voter down caught up", str(e))
        else:
            eq((learner is None, harness.error_message(r), harness.error_code(r)),
               (True,) + UNHEALTHY, "etcd 3.4.23 refuses the learner too (Unavailable "
               "\"etcdserver: unhealthy cluster\"; Outpost accepts it)", r.describe())
        r = up[0].ctl("put", "sd/end", "x")
        eq((r.rc, r.stdout), (0, "OK\n"), "writes still succeed", r.describe())
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
