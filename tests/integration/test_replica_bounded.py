#!/usr/bin/env python3
"""Bounded-staleness reads on a learner (issue 11, `--replica-read-policy bounded
--replica-max-lag-ms 300`): local while within the bound, read index once the lag exceeds it.
Outpost only.

3 voters (heartbeat 100 ms, election 1000 ms) and one learner, every peer link through proxy.py.

within_the_bound_reads_are_local
    Idle and caught up (GET /replica lag_ms below the bound): 300 default (linearizable) Ranges
    on the learner move neither its read_index_rounds_sent nor the leader's
    read_index_requests_answered.
held_back_reads_fall_back_to_read_index
    The traffic to the learner is held in its proxy (buffered, connections up); a put on a voter
    (hb=v1, was v0). The learner's /replica lag_ms climbs past 300 and its serializable read
    still says v0 (local data is stale). A default get on the learner now sends a read index
    round (read_index_rounds_sent moves while the get is pending; it has not answered v0); once
    the proxy releases, the get answers v1.
held_back_reads_time_out_never_stale
    Held again, hb=v2 put: one linearizable Range on the learner (outpost-raw-grpc, not retried)
    fails with "etcdserver: request timed out" after about the request timeout (7 s), never
    answering v1; released, it reads v2.
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import proxy  # noqa: E402
import replica_util as ru  # noqa: E402

MAX_LAG_MS = 300
TIMED_OUT = "etcdserver: request timed out"


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: bounded-staleness reads on a learner")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    @runner.test
    def bounded_reads():
        net = proxy.PeerNetwork()
        try:
            run(net)
        finally:
            net.close()

    def get_async(m: harness.Member, key: str) -> tuple[threading.Thread, dict]:
        out: dict = {}

        def go() -> None:
            t0 = time.monotonic()
            out["r"] = m.ctl("get", key, "--print-value-only", command_timeout="30s",
                             timeout=60)
            out["t"] = time.monotonic() - t0
        t = threading.Thread(target=go, daemon=True)
        t.start()
        return t, out

    def run(net: proxy.PeerNetwork) -> None:
        c = ru.fast_cluster(args, "rb", net=net)
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        learner, r = ru.add_replica(c, "rb4", ["--replica-read-policy=bounded",
                                               f"--replica-max-lag-ms={MAX_LAG_MS}"], net=net)
        require(learner is not None, "member add rb4 --learner, started with "
                f"--replica-read-policy=bounded --replica-max-lag-ms={MAX_LAG_MS}", r.describe())
        r = leader.ctl("put", "hb", "v0")
        require(r.ok, "put hb=v0", r.describe(), quiet=True)
        c.wait_in_sync(learner, timeout=30)
        pxy = net.proxies[learner.name]

        print("-- within_the_bound_reads_are_local")
        st = ru.replica_status(learner) or {}
        eq((st.get("role"), st.get("read_policy")), ("learner", "bounded"),
           "GET /replica: role learner, read_policy bounded", str(st))
        try:
            ru.wait_status(learner, lambda s: 0 <= s.get("lag_ms", -1) < MAX_LAG_MS, 5,
                           "lag_ms below the bound")
        except TimeoutError as e:
            check(False, "lag_ms below the bound while idle", str(e))
        lb, ldb = ru.counters(learner), ru.counters(leader)
        if os.access(ru.bench_path(args), os.X_OK):
            doc, r = ru.bench(args, learner.grpc_addr, "range", "hb", "--consistency", "l",
                              "--total", "300", clients=4)
            ok = doc is not None and doc.get("completed") == 300 and doc.get("errors") == 0
        else:  # etcdctl, slower
            rs = [learner.ctl("get", "hb") for _ in range(60)]
            ok = all(x.ok for x in rs)
            r = next((x for x in rs if not x.ok), rs[-1])
        require(ok, "default (linearizable) Ranges on the learner succeed", r.describe())
        dl = ru.delta(lb, ru.counters(learner))["read_index_rounds_sent"]
        dld = ru.delta(ldb, ru.counters(leader))["read_index_requests_answered"]
        eq((dl, dld), (0, 0), "within the bound: no read index round sent (learner), none "
           "answered (leader)")

        print("-- held_back_reads_fall_back_to_read_index")
        pxy.hold()
        print(f"  holding the traffic to {learner.name}")
        released = False
        try:
            r = leader.ctl("put", "hb", "v1")
            require(r.ok, "put hb=v1 on the leader", r.describe())
            held_at = time.monotonic()
            try:
                ru.wait_status(learner, lambda s: s.get("lag_ms", 0) > MAX_LAG_MS, 10,
                               "lag_ms past the bound")
                check(True, f"held back: the learner's lag_ms passes {MAX_LAG_MS}")
            except TimeoutError as e:
                check(False, f"held back: the learner's lag_ms passes {MAX_LAG_MS}", str(e))
                # without GET /replica: at least the bound plus a heartbeat, by the clock
                harness.wait_for(lambda: time.monotonic() - held_at > MAX_LAG_MS / 500, 2, 0.05)
            s = learner.ctl("get", "hb", "--consistency=s", "--print-value-only")
            eq(s.stdout, "v0\n", "its local (serializable) data is stale: v0", s.describe())
            before = ru.counters(learner).get("read_index_rounds_sent")
            t, out = get_async(learner, "hb")
            try:
                ru.wait_status(learner, lambda st: isinstance(before, int) and st.get(
                    "counters", {}).get("read_index_rounds_sent", 0) > before, 5,
                    "read_index_rounds_sent to move")
                check(True, "a default get past the bound sends a read index round "
                      "(read_index_rounds_sent moved)")
            except TimeoutError as e:
                check(False, "a default get past the bound sends a read index round", str(e))
            check("r" not in out, "while held, the get has not answered (no stale v0)",
                  out["r"].describe() if "r" in out else "")
            pxy.release()
            released = True
            t.join(timeout=60)
            gr = out.get("r")
            eq(gr and (gr.rc, gr.stdout), (0, "v1\n"), "released: the get answers v1 (fresh)",
               gr.describe() if gr else "")
        finally:
            if not released:
                pxy.release()

        print("-- held_back_reads_time_out_never_stale")
        c.wait_in_sync(learner, timeout=30)
        pxy.hold()
        released = False
        try:
            r = leader.ctl("put", "hb", "v2")
            require(r.ok, "put hb=v2 on the leader", r.describe())
            held_at = time.monotonic()
            try:
                ru.wait_status(learner, lambda s: s.get("lag_ms", 0) > MAX_LAG_MS, 10,
                               "lag_ms past the bound")
            except TimeoutError:
                harness.wait_for(lambda: time.monotonic() - held_at > MAX_LAG_MS / 500, 2, 0.05)
            err, value, took, detail = ru.one_range(args, learner, "hb", timeout_s=30)
            expect = ru.request_timeout_s(c.election_ms)
            eq((err, value), (TIMED_OUT, None),
               f"held: a linearizable Range fails with {TIMED_OUT!r}, never answers v1", detail)
            check(expect - 2.5 <= took <= expect + 3,
                  f"after about the request timeout ({expect:.0f} s): {took:.1f} s")
        finally:
            if not released:
                pxy.release()
        try:
            harness.wait_for(lambda: learner.ctl("get", "hb", "--print-value-only").stdout
                             == "v2\n", 20, 0.1)
            check(True, "released: the learner reads v2")
        except TimeoutError:
            check(False, "released: the learner reads v2")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
