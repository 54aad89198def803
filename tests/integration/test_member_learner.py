#!/usr/bin/env python3
"""Membership: learners (add, refuse early promotion, catch up, promote), max learners, removing a
learner, MemberUpdate of peer URLs, removing the leader; all through etcdctl 3.4's `member`
commands on a 3-member cluster (heartbeat 100 ms, election 1000 ms).

learner_added_under_write_load_is_promoted_once_in_sync
    Two writers put through the voters all along. `member add ml4 --peer-urls=URL --learner`
    prints ETCD_NAME, the 4-member ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE="existing";
    `member list -w table` on every voter shows it unstarted with IS LEARNER true. Promoting it
    before it runs is refused with etcd's FailedPrecondition "etcdserver: can only promote a
    learner member which is in sync with leader" and changes nothing. Started with those
    values, the learner refuses `put` (Unavailable "etcdserver: rpc not supported for learner"),
    answers `endpoint status` (isLearner true, the voters' leader) and `get --consistency=s`
    (with the data written before it joined). Outpost only (etcd 3.4 refuses every stream on a
    learner): a watch on the learner sees a put made on a voter, and a 3 s lease kept alive only
    through the learner lives 6 s, then expires with its key. It is promoted once in sync
    (polling `member promote` while only the in-sync refusal comes back); then IS LEARNER is false
    everywhere, it takes writes, holds every acknowledged put, and hashkv is equal on all four.
max_learners_and_removing_a_learner_keeps_quorum
    With one learner, a second `member add --learner` is refused with etcd's FailedPrecondition
    "etcdserver: too many learner members in cluster" (max learners 1, etcd's default and
    Outpost's --max-learners default) and the member list is unchanged. With the learner stopped
    and one voter killed, writes still succeed (2 of 3 voters: the learner is not counted).
    Removing the learner keeps the quorum: with that voter still down writes succeed, the
    member list holds the 3 voters; the voter comes back and catches up.
member_update_moves_a_peer_url
    `member update ID --peer-urls=NEW` on a follower: every member lists the new URL; the
    follower restarted listening on NEW only; with the other follower killed, writes through
    the leader still commit (they need the moved follower's acknowledgement at NEW) and hashkv
    of leader and moved follower agree.
removing_the_leader
    `member remove LEADER-ID` through a follower under writes: acknowledged; the two others
    agree on a new leader, the list has two members, writes go on, every acknowledged put is
    there; the removed member's process exits on its own. Outpost only: leadership is handed
    over before the leader leaves, so the survivors agree on the new leader within half an
    election timeout of the acknowledgement, at term + 1 (etcd 3.4 does not hand over: its
    followers wait for an election timeout, 0.85-1.4 s seen, and it is only printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NOT_IN_SYNC = "etcdserver: can only promote a learner member which is in sync with leader"
NOT_FOR_LEARNER = "etcdserver: rpc not supported for learner"
TOO_MANY_LEARNERS = "etcdserver: too many learner members in cluster"


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "membership: learners, promote, update, remove")
    check, eq, require = runner.check, runner.eq, runner.require
    outpost = args.server == "outpost"

    def refused(r: harness.Result, message: str, code: str, what: str) -> None:
        eq((r.rc, harness.error_message(r), harness.error_code(r)), (1, message, code), what,
           r.describe())

    def table(c: harness.Cluster, via: harness.Member) -> dict[str, dict]:
        rows = c.member_list_table(via)
        require(rows is not None, f"member list -w table through {via.name}", quiet=True)
        return {row["id"]: row for row in rows}

    def check_acked(m: harness.Member, w: harness.Writers, how: str = "serializable") -> None:
        got, _ = harness.dump_kvs(m, w.prefix + "/", "s" if how == "serializable" else "l")
        require(got is not None, f"{m.name}: get {w.prefix}/ --prefix", quiet=True)
        missing = sorted(k for k, v in w.acked.items() if got.get(k, (None,))[0] != v)
        check(not missing, f"{m.name} ({how}): all {len(w.acked)} acknowledged puts present",
              f"{len(missing)} missing, e.g. {missing[:5]}")

    def wait_puts_ok(c: harness.Cluster, via: list, n: int, what: str, timeout: float = 20):
        """n puts through `via` (rotating) each succeed on first try."""
        bad = []
        for i in range(n):
            m = via[i % len(via)]
            r = m.ctl("put", f"q/{what}/{i}", "x", command_timeout="5s")
            if not r.ok:
                bad.append(r)
        check(not bad, f"{n} puts through {', '.join(m.name for m in via)} succeed: {what}",
              bad[0].describe() if bad else "")

    def keepalive_through_learner(learner: harness.ClusterMember, voter: harness.Member) -> None:
        """Outpost only: a lease kept alive only through the learner outlives its TTL (the learner
        forwards keep-alives to the leader); once they stop it expires and its key goes."""
        r = voter.ctl("lease", "grant", "3")
        require(r.ok and r.stdout.startswith("lease "), "lease grant 3 on a voter", r.describe())
        lease = r.stdout.split()[1]
        r = voter.ctl("put", "--lease=" + lease, "ml-leased", "v")
        require(r.ok, "put ml-leased with the lease", r.describe())
        ka = subprocess.Popen([args.etcdctl, f"--endpoints={learner.endpoint}", "lease",
                               "keep-alive", lease], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=harness.etcdctl_env(), text=True)
        try:
            # Twice the TTL, with keep-alives only through the learner.
            end = time.monotonic() + 6
            alive = True
            while time.monotonic() < end and alive:
                g = voter.ctl("get", "ml-leased", "--print-value-only")
                alive = g.ok and g.stdout == "v\n"
                time.sleep(0.25)
            check(alive and ka.poll() is None,
                  "outpost: a 3 s lease kept alive through the learner lives 6 s, key kept",
                  g.describe())
        finally:
            ka.kill()
            ka.wait(timeout=10)
        try:
            harness.wait_for(lambda: voter.ctl("get", "ml-leased", "--print-value-only").stdout
                             == "", 3 + 2 + 1, 0.1)
            check(True, "the lease expires once the learner's keep-alives stop; its key goes")
        except TimeoutError:
            check(False, "the lease expires once the learner's keep-alives stop (TTL + 2 s)")

    # ------------------------------------------------------------------------------------------
    @runner.test
    def learner_added_under_write_load_is_promoted_once_in_sync():
        c = harness.Cluster(args, prefix="ml")
        c.start()
        leader, term, sts = c.wait_leader(timeout=15)
        voters = list(c.members)
        rows = table(c, leader)
        eq(sorted(r["is_learner"] for r in rows.values()), ["false"] * 3,
           "member list -w table: 3 members, IS LEARNER false")
        w = harness.Writers(args, voters, prefix="ml", n=2).start()
        try:
            w.wait_count(20, timeout=30)
            learner, r = c.add_member("ml4", learner=True, start=False)
            require(learner is not None, "member add ml4 --learner (under write load)",
                    r.describe())
            lid = learner.member_id
            env = learner.added_env
            eq(env.get("ETCD_NAME"), "ml4", "member add prints ETCD_NAME=\"ml4\"", r.stdout)
            want = {f"{m.name}={m.advertised_peer_url}" for m in voters + [learner]}
            eq(set(env.get("ETCD_INITIAL_CLUSTER", "").split(",")), want,
               "ETCD_INITIAL_CLUSTER lists the 3 voters and ml4 with their peer URLs", r.stdout)
            eq(env.get("ETCD_INITIAL_ADVERTISE_PEER_URLS"), learner.advertised_peer_url,
               "ETCD_INITIAL_ADVERTISE_PEER_URLS is the given peer URL")
            eq(env.get("ETCD_INITIAL_CLUSTER_STATE"), "existing",
               "ETCD_INITIAL_CLUSTER_STATE=\"existing\"")
            for m in voters:
                row = table(c, m).get(f"{lid:x}")
                eq(row and (row["status"], row["name"], row["peer_addrs"], row["is_learner"]),
                   ("unstarted", "", [learner.advertised_peer_url], "true"),
                   f"{m.name}: member list -w table shows ml4 unstarted, IS LEARNER true")
            ml = c.member_list()
            eq(ml and sorted((x.name, x.is_learner) for x in ml),
               [("", True), ("ml1", False), ("ml2", False), ("ml3", False)],
               "member list -w json: isLearner only on the new member")

            # Not running yet: nothing to be in sync with.
            r = c.promote(learner, via=voters[1])
            refused(r, NOT_IN_SYNC, "FailedPrecondition",
                    "promote before the learner runs: refused, not in sync")
            eq(table(c, leader).get(f"{lid:x}", {}).get("is_learner"), "true",
               "after the refused promotion it is still a learner")

            learner.start(timeout=60)
            print(f"  learner ml4 ({lid:x}) started with --initial-cluster-state=existing")
            r = learner.ctl("put", "ml-learner-put", "x")
            refused(r, NOT_FOR_LEARNER, "Unavailable", "put on the learner refused")
            seen: dict = {}

            def learner_status() -> bool:
                seen["st"] = c.status(learner)
                return bool(seen["st"] and seen["st"]["leader"])
            try:  # a learner just started may not know the leader yet: poll
                harness.wait_for(learner_status, 15, 0.1, "the learner to know the leader")
            except TimeoutError:
                pass
            st = seen.get("st")
            check(st is not None and st["raw"].get("isLearner") is True
                  and st["leader"] == sts[leader.name]["leader"],
                  "endpoint status on the learner: isLearner true, the voters' leader",
                  f"last status {st and st['raw']}")
            first = sorted(w.acked)[0]
            got = {}

            def learner_has_first() -> bool:
                g = learner.ctl("get", first, "--consistency=s", "--print-value-only")
                got["r"] = g
                return g.ok and g.stdout == w.acked[first] + "\n"
            try:
                harness.wait_for(learner_has_first, 30, 0.1, "the learner to catch up")
                check(True, f"get --consistency=s on the learner answers {first} (written "
                      "before it joined)")
            except TimeoutError:
                check(False, f"get --consistency=s on the learner answers {first}",
                      got["r"].describe() if got else "")

            if outpost:
                watch_on_learner(learner, leader)
                keepalive_through_learner(learner, leader)
            else:
                runner.skip("watch on the learner (outpost only: etcd 3.4 refuses streams on "
                            "learners)")

            # Promote once in sync: poll, only the in-sync refusal may come back.
            refusals = 0
            deadline = time.monotonic() + 60
            while True:
                r = c.promote(learner)
                if r.ok or harness.error_message(r) != NOT_IN_SYNC or \
                        time.monotonic() > deadline:
                    break
                refusals += 1
                time.sleep(0.2)
            require(r.ok and "promoted in cluster" in r.stdout, f"member promote {lid:x} "
                    f"succeeds once in sync, under write load ({refusals} in-sync refusals "
                    "before)", r.describe())
            w.wait_more(10, timeout=30)
        finally:
            w.finish()
        print(f"  {len(w.acked)} puts acknowledged, {len(w.failures)} failed")
        check(not w.failures, "no put failed while the learner joined and was promoted",
              w.first_failure())
        for m in c.members:
            row = table(c, m).get(f"{lid:x}")
            eq(row and (row["status"], row["name"], row["is_learner"]),
               ("started", "ml4", "false"),
               f"{m.name}: member list -w table shows ml4 started, IS LEARNER false")
        st = c.status(learner)
        check(st is not None and not st["raw"].get("isLearner"),
              "endpoint status on ml4: isLearner false")
        r = learner.ctl("put", "ml-promoted", "yes")
        eq((r.rc, r.stdout), (0, "OK\n"), "put through the promoted member", r.describe())
        c.check_hashkv_equal(runner, "hashkv equal on all four", timeout=30)
        check_acked(learner, w)
        c.stop()

    def watch_on_learner(learner: harness.ClusterMember, voter: harness.Member) -> None:
        """Outpost only: `etcdctl watch` on the learner sees a put made on a voter."""
        cmd = [args.etcdctl, f"--endpoints={learner.endpoint}", "watch", "ml-watched"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=harness.etcdctl_env(), text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        try:
            seen = False
            deadline = time.monotonic() + 15
            n = 0
            while time.monotonic() < deadline and not seen:
                # The watch may not be registered yet when the first put lands: keep putting.
                voter.ctl("put", "ml-watched", f"w{n}")
                n += 1
                try:
                    harness.wait_for(lambda: "ml-watched\n" in "".join(lines)
                                     or proc.poll() is not None, 1.0, 0.05)
                except TimeoutError:
                    pass
                seen = "PUT\nml-watched\n" in "".join(lines)
                if proc.poll() is not None:
                    break
            check(seen, "outpost: watch on the learner sees a put made on a voter",
                  f"watch output {''.join(lines)!r}; stderr "
                  f"{proc.stderr.read() if proc.poll() is not None else ''!r}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)

    # ------------------------------------------------------------------------------------------
    @runner.test
    def max_learners_and_removing_a_learner_keeps_quorum():
        c = harness.Cluster(args, prefix="mq")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        voters = list(c.members)
        learner, r = c.add_member("mq4", learner=True)
        require(learner is not None, "member add mq4 --learner, started", r.describe())
        c.wait_in_sync(learner, timeout=30)
        second, r = c.add_member("mq5", learner=True, start=False, retry_unhealthy=0)
        check(second is None, "a second learner is refused (max learners 1)")
        refused(r, TOO_MANY_LEARNERS, "FailedPrecondition", "second learner: etcd's message")
        ml = c.member_list()
        eq(ml and sorted((x.name, x.is_learner) for x in ml),
           [("mq1", False), ("mq2", False), ("mq3", False), ("mq4", True)],
           "member list unchanged: 3 voters and the learner")

        # The learner is not counted: learner stopped and one voter down leaves 2 of 3 voters.
        down = next(m for m in voters if m is not leader)
        up = [m for m in voters if m is not down]
        learner.stop()
        down.kill9()
        print(f"  stopped learner mq4 and killed voter {down.name}")
        wait_puts_ok(c, up, 6, "learner stopped, one voter down")

        r = c.remove_member(learner, via=leader)
        eq((r.rc, "removed from cluster" in r.stdout), (0, True),
           "member remove of the (stopped) learner with a voter down", r.describe())
        ml = c.member_list(leader)
        eq(ml and sorted((x.name, x.is_learner) for x in ml),
           [(m.name, False) for m in sorted(voters, key=lambda m: m.name)],
           "member list: the 3 voters, no learner")
        wait_puts_ok(c, up, 6, "learner removed, voter still down (quorum 2 of 3 unchanged)")
        down.start(timeout=30)
        c.check_hashkv_equal(runner, f"{down.name} restarted and caught up", voters, timeout=30)
        c.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def member_update_moves_a_peer_url():
        c = harness.Cluster(args, prefix="mu")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        moved, other = [m for m in c if m is not leader]
        new_port = harness.free_port()
        new_url = f"http://127.0.0.1:{new_port}"
        r = c.update_peer_urls(moved, [new_url], via=leader)
        eq((r.rc, "updated in cluster" in r.stdout), (0, True),
           f"member update {c.member_id(moved):x} --peer-urls={new_url}", r.describe())
        for m in c:
            ml = c.member_list(m)
            got = next((x.peer_urls for x in ml or [] if x.name == moved.name), None)
            eq(got, [new_url], f"{m.name}: member list shows {moved.name} at the new URL")
        moved.stop()
        moved.peer_port = new_port
        moved.advertised_peer_url = new_url
        moved.start(timeout=30)
        print(f"  {moved.name} restarted listening on {new_url} only")
        other.kill9()
        print(f"  killed {other.name}: commits now need {moved.name} at its new URL")
        wait_puts_ok(c, [leader], 5, f"through {leader.name} with {other.name} down")
        c.check_hashkv_equal(
            runner, f"hashkv equal on {leader.name} and {moved.name}",
            [leader, moved], timeout=20)
        c.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def removing_the_leader():
        c = harness.Cluster(args, prefix="mr")
        c.start()
        leader, term, sts = c.wait_leader(timeout=15)
        survivors = [m for m in c if m is not leader]
        w = harness.Writers(args, survivors, prefix="mr", n=2).start()
        try:
            w.wait_count(20, timeout=30)
            r = c.remove_member(leader, via=survivors[0])
            acked_at = time.monotonic()
            require(r.ok and "removed from cluster" in r.stdout,
                    f"member remove {leader.name} (the leader) through {survivors[0].name}",
                    r.describe())
            found: list = []

            def agreed() -> bool:
                got = c.stable_leader(survivors)
                if got:
                    found.append((time.monotonic(), got))
                return bool(got)
            try:
                harness.wait_for(agreed, 15, 0.02, "a new leader among the survivors")
            except TimeoutError:
                require(False, "the survivors agree on a new leader",
                        harness.brief_statuses(c.statuses(survivors)))
            seen_at, (new_leader, new_term, _) = found[0]
            gap = seen_at - acked_at
            print(f"  new leader {new_leader.name} term {new_term} (was {leader.name} term "
                  f"{term}) seen {gap:.2f}s after the removal was acknowledged")
            limit = c.election_ms / 2000
            if outpost:
                check(gap <= limit, f"outpost: leadership handed over, no election gap: new "
                      f"leader agreed {gap:.2f}s after the removal (<= {limit:.1f}s)")
                eq(new_term, term + 1, "outpost: one term change (the hand-over), no election")
            else:
                runner.skip(f"no-election-gap check (outpost only; etcd 3.4 took {gap:.2f}s)")
            w.wait_more(20, timeout=30)
        finally:
            w.finish()
        check(leader.exited_by_itself is True, f"the removed leader's process exited on its "
              f"own (exit status {leader.proc.returncode})")
        ml = c.member_list(survivors[0])
        eq(ml and sorted(x.name for x in ml), sorted(m.name for m in survivors),
           "member list: the two survivors")
        print(f"  {len(w.acked)} puts acknowledged, {len(w.failures)} failed (around the "
              "leader's removal)")
        for m in survivors:
            check_acked(m, w, "linearizable")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
