#!/usr/bin/env python3
"""Leader failure: kill -9 the leader under write load; a new leader within 3 election timeouts,
no acknowledged write lost, the killed member catches up after restart.

A 3-member cluster (heartbeat 100 ms, election 1000 ms). Writer threads run `etcdctl put` in a loop
on distinct keys against the two non-leader members (alternating between them) and record every
put that returned success ("OK", exit 0). With writes flowing, the test `kill -9`s the leader
(found via `endpoint status`) and measures, from the kill, the time until both survivors agree on a
new leader that is one of them: it must be at most 3 election timeouts. Writes must succeed again
through the new configuration. Then:
  * every acknowledged write is present, with its value, on each surviving member (linearizable
    and serializable reads), nothing no writer tried is there, and the keys hold revisions
    2..current exactly once each at version 1 (no entry lost or applied twice);
  * the killed member is restarted on its data dir; `endpoint hashkv` becomes equal on all three
    (polled), it holds every acknowledged write, and all three agree on one leader and term.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WRITERS = 3
ACKS_BEFORE_KILL = 60
ACKS_AFTER_ELECTION = 30


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "cluster: kill -9 the leader under writes")
    check, eq, require = runner.check, runner.eq, runner.require

    def dump(m: harness.Member, consistency: str) -> dict[str, str]:
        r = m.ctl("get", "lk/", "--prefix", "-w", "json", f"--consistency={consistency}",
                  timeout=60, command_timeout="30s")
        require(r.ok, f"{m.name}: get lk/ --prefix --consistency={consistency}", r.describe(),
                quiet=True)
        doc = json.loads(r.stdout)
        kvs = doc.get("kvs", [])
        # Every put was of a distinct key, so the keys present carry revisions 2..header revision
        # exactly once each, all at version 1: no put lost from the log, none applied twice (a
        # proposal retried across the leader change would show as version 2 / a gap).
        rev = doc["header"]["revision"]
        mods = sorted(kv["mod_revision"] for kv in kvs)
        check(mods == list(range(2, rev + 1)) and all(kv["version"] == 1 for kv in kvs),
              f"{m.name} ({consistency}): the {len(kvs)} keys hold revisions 2..{rev} once each, "
              "all at version 1", f"versions > 1: "
              f"{[base64.b64decode(kv['key']).decode() for kv in kvs if kv['version'] != 1][:10]}; "
              f"first revision gap near "
              f"{next((i + 2 for i, x in enumerate(mods) if x != i + 2), None)}")
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in kvs}

    def check_data(m: harness.Member, got: dict[str, str], acked: dict[str, str],
                   tried: dict[str, str], how: str) -> None:
        missing = sorted(k for k in acked if got.get(k) != acked[k])
        check(not missing, f"{m.name} ({how}): all {len(acked)} acknowledged writes present "
              "with their values", f"{len(missing)} missing or wrong, e.g. "
              f"{[(k, got.get(k), acked[k]) for k in missing[:10]]}")
        foreign = sorted(k for k in got if tried.get(k) != got[k])
        check(not foreign, f"{m.name} ({how}): no key or value that no writer tried",
              f"{[(k, got[k]) for k in foreign[:10]]}")

    @runner.test
    def kill9_leader_under_writes():
        c = harness.Cluster(args, prefix="lk")
        c.start()
        old_leader, old_term, sts = c.wait_leader(timeout=15)
        old_id = sts[old_leader.name]["member_id"]
        survivors = [m for m in c if m is not old_leader]
        print(f"  leader {old_leader.name} (id {old_id:x}) term {old_term}; writers on "
              f"{', '.join(m.name for m in survivors)}")

        writers = harness.Writers(args, survivors, prefix="lk", n=WRITERS).start()
        try:
            harness.wait_for(lambda: writers.count() >= ACKS_BEFORE_KILL, timeout=60,
                             what=f"{ACKS_BEFORE_KILL} acknowledged puts before the kill")
            acked_at_kill = writers.count()
            old_leader.kill9()
            killed_at = time.monotonic()
            print(f"  killed leader {old_leader.name} with SIGKILL after {acked_at_kill} acked "
                  "puts")

            found: list = []

            def new_leader_agreed() -> bool:
                got = c.stable_leader(survivors)
                if got:
                    found.append((time.monotonic(), got))
                return bool(got)
            try:
                harness.wait_for(new_leader_agreed, timeout=30, interval=0.02,
                                 what="a new leader agreed on by both survivors")
            except TimeoutError:
                sts_now = c.statuses(survivors)
                require(False, "a new leader agreed on by both survivors within 30 s",
                        harness.brief_statuses(sts_now))
            seen_at, (new_leader, new_term, new_sts) = found[-1]
            elapsed = seen_at - killed_at
            limit = 3 * c.election_ms / 1000
            print(f"  new leader {new_leader.name} term {new_term}, observed {elapsed:.2f}s after "
                  f"the kill")
            check(elapsed <= limit, f"new leader within 3 election timeouts ({limit:.1f}s) of the "
                  f"kill: {elapsed:.2f}s")
            check(new_term > old_term, f"new term {new_term} > old term {old_term}")
            check(new_sts[new_leader.name]["member_id"] != old_id,
                  "the new leader is not the killed one")

            target = writers.count() + ACKS_AFTER_ELECTION
            try:
                harness.wait_for(lambda: writers.count() >= target, timeout=30,
                                 what=f"{ACKS_AFTER_ELECTION} more acknowledged puts")
                ok = True
            except TimeoutError:
                ok = False
            check(ok, f"writes through the survivors succeed again after the election "
                  f"({ACKS_AFTER_ELECTION} more acks)",
                  writers.failures[-1][1].describe() if writers.failures else "")
        finally:
            writers.finish()
        acked, tried = dict(writers.acked), dict(writers.tried)
        print(f"  {len(acked)} acked, {len(tried)} tried, {len(writers.failures)} failed puts"
              + (f"; e.g. {writers.failures[0][1].stderr.strip().splitlines()[-1:]}"
                 if writers.failures else ""))

        for m in survivors:
            check_data(m, dump(m, "l"), acked, tried, "linearizable")
            check_data(m, dump(m, "s"), acked, tried, "serializable")

        old_leader.start(timeout=30)
        print(f"  restarted {old_leader.name}")
        c.check_hashkv_equal(runner, "endpoint hashkv equal on all three after the restart",
                             timeout=30)
        check_data(old_leader, dump(old_leader, "s"), acked, tried,
                   "restarted, serializable")
        try:
            leader, term, _ = c.wait_leader(timeout=10)
            check(True, f"all three agree on leader {leader.name}, term {term}")
        except TimeoutError:
            check(False, "all three agree on one leader and term",
                  harness.brief_statuses(c.statuses(c.members)))
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
