#!/usr/bin/env python3
"""Linearizable reads on a learner (issue 11, `--replica-read-policy linearizable`): a history
check, no peer traffic for serializable reads, batched read index behind a delayed link, and a
clear timeout when the leader cannot be reached. Outpost only.

3 voters (heartbeat 100 ms, election 1000 ms) and one learner started with
`--replica-read-policy linearizable`, every peer link through proxy.py, the learner's links
delayed 25 ms each way (its "region").

history_of_linearizable_reads_on_the_learner
    2 writer threads put hw/<w> = 1, 2, 3, ... through the voters (etcdctl), each followed at once
    by a serializable and a (linearizable) read of hw/ on the learner; 2 more reader threads
    read hw/ on the learner in a loop; ~8 s, the learner's links delayed 150 ms for this part.
    Every read, by start and end time, must see for each key at least the highest value
    acknowledged before it started, and nothing never written (a write not started before the
    read ended). Control: the same check over serializable reads on the learner (right after
    each put) must find stale ones, so a learner answering "linearizable" reads locally would
    fail.
serializable_reads_send_no_peer_messages
    1 000 serializable Ranges on the learner (outpost-bench, 16 clients): the learner's
    read_index_rounds_sent / forwarded_calls_sent and the leader's read_index_requests_answered /
    forwarded_calls_answered (GET /replica counters) do not move.
linearizable_reads_are_batched
    One linearizable read on the learner takes at least one round trip of the 25 ms link (50 ms:
    the read index is really asked). 1 000 concurrent linearizable Ranges (1 000 clients): all
    succeed, the leader's read_index_requests_answered grows by at most 20 (O(batches), not
    1 000), the learner's read_index_rounds_sent too, and the whole run takes less than 1 s
    beyond 1 000 serializable reads at the same concurrency (unbatched, one round trip each, it
    could not).
leader_unreachable_linearizable_times_out_serializable_answers
    The learner isolated from every voter (proxy): one linearizable Range (outpost-raw-grpc: etcdctl
    retries this Unavailable answer until its own timeout) fails with "etcdserver: request timed
    out" after about the request timeout (5 s + 2 elections: 7 s; not at once, not stale data);
    a serializable get answers meanwhile with the last value it has.
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

DELAY_MS = 25
HISTORY_DELAY_MS = 150
TIMED_OUT = "etcdserver: request timed out"


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: linearizable reads on a learner")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()
    state: dict = {}
    steps: list = []

    def step(fn):
        """The parts share one cluster (the runner kills every process after each test): each
        runs in turn inside one test; a failed require() ends only its part."""
        steps.append(fn)
        return fn

    def setup() -> tuple[harness.Cluster, harness.ClusterMember, proxy.PeerNetwork]:
        if "c" in state:
            return state["c"], state["learner"], state["net"]
        net = proxy.PeerNetwork()
        c = ru.fast_cluster(args, "rr", net=net)
        c.start()
        c.wait_leader(timeout=15)
        learner, r = ru.add_replica(c, "rr4", ["--replica-read-policy=linearizable"], net=net)
        require(learner is not None, "member add rr4 --learner, started with "
                "--replica-read-policy=linearizable", r.describe())
        c.wait_in_sync(learner, timeout=30)
        net.set_delay(learner.name, DELAY_MS)
        state.update(c=c, learner=learner, net=net)
        return c, learner, net

    def leader_of(c: harness.Cluster) -> harness.ClusterMember:
        leader, _, _ = c.wait_leader(c.voters(), timeout=15)
        return leader

    # ------------------------------------------------------------------------------------------
    @step
    def history_of_linearizable_reads_on_the_learner():
        c, learner, net = setup()
        voters = c.voters()
        duration = 8.0
        net.set_delay(learner.name, HISTORY_DELAY_MS)  # so that a local read would be stale
        lock = threading.Lock()
        writes: dict[int, list] = {0: [], 1: []}   # per writer: (seq, start, ack or None)
        reads: list = []   # (start, end, {writer: seq}, how, ok, detail)
        stop = threading.Event()

        def parse(out: str) -> dict[int, int]:
            lines = out.splitlines()
            got = {}
            for k, v in zip(lines[0::2], lines[1::2]):
                got[int(k.split("/")[1])] = int(v)
            return got

        def read(how: str) -> None:
            t0 = time.monotonic()
            r = learner.ctl("get", "hw/", "--prefix", f"--consistency={how}",
                            command_timeout="10s")
            t1 = time.monotonic()
            try:
                got = parse(r.stdout) if r.ok else {}
            except ValueError:
                got, r = {}, harness.Result(r.args, r.stdout, r.stderr + " (unparsable)", 1)
            with lock:
                reads.append((t0, t1, got, how, r.ok, r.describe() if not r.ok else ""))

        def writer(w: int) -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                t0 = time.monotonic()
                with lock:
                    writes[w].append([seq, t0, None])
                r = voters[(w + seq) % len(voters)].ctl("put", f"hw/{w}", str(seq),
                                                        command_timeout="5s")
                if r.ok:
                    with lock:
                        writes[w][-1][2] = time.monotonic()
                read("s")
                read("l")

        def reader() -> None:
            while not stop.is_set():
                read("l")

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in (0, 1)]
        threads += [threading.Thread(target=reader, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(duration)  # the load's length; the checks below read the recorded history
        stop.set()
        for t in threads:
            t.join(timeout=30)
        net.set_delay(learner.name, DELAY_MS)

        def violations(how: str) -> tuple[int, int, list]:
            n, bad = 0, []
            for t0, t1, got, h, ok, detail in reads:
                if h != how:
                    continue
                if not ok:
                    bad.append(f"read [{t0:.3f},{t1:.3f}] failed: {detail}")
                    continue
                n += 1
                for w, ws in writes.items():
                    floor = max((s for s, _, ack in ws if ack is not None and ack < t0),
                                default=0)
                    ceil = max((s for s, start, _ in ws if start < t1), default=0)
                    seen = got.get(w, 0)
                    if seen < floor:
                        bad.append(f"read [{t0:.3f},{t1:.3f}] saw hw/{w}={seen}, but {floor} "
                                   f"was acknowledged before it started (stale)")
                    elif seen > ceil:
                        bad.append(f"read [{t0:.3f},{t1:.3f}] saw hw/{w}={seen}, never written "
                                   f"before it ended (max started {ceil})")
            return n, len(bad), bad

        acked = sum(1 for ws in writes.values() for _, _, a in ws if a is not None)
        n, nbad, bad = violations("l")
        print(f"  {acked} puts acknowledged; {n} linearizable reads on the learner checked")
        check(acked >= 15 and n >= 30, "enough history: >= 15 acknowledged puts and >= 30 "
              "linearizable reads", f"{acked} puts, {n} reads; {bad[:3]}")
        check(n > 0 and nbad == 0, "every linearizable read on the learner saw every put "
              "acknowledged before it started (and nothing unwritten)", "\n".join(bad[:10]))
        ns, nsbad, _ = violations("s")
        check(nsbad > 0, f"control: the same check finds stale serializable reads on the "
              f"learner ({nsbad} of {ns}; allowed for them): it would catch a stale read")

    # ------------------------------------------------------------------------------------------
    @step
    def serializable_reads_send_no_peer_messages():
        c, learner, _ = setup()
        leader = leader_of(c)
        require(os.access(ru.bench_path(args), os.X_OK), f"outpost-bench at "
                f"{ru.bench_path(args)}", quiet=True)
        lb, ldb = ru.counters(learner), ru.counters(leader)
        require(bool(lb) and bool(ldb), "GET /replica counters on the learner and the leader",
                f"learner {ru.replica_status(learner)}, leader {ru.replica_status(leader)}")
        doc, r = ru.bench(args, learner.grpc_addr, "range", "hw/0", "--consistency", "s",
                          "--total", "1000", clients=16, conns=2)
        require(doc is not None and doc.get("completed") == 1000 and doc.get("errors") == 0,
                "1000 serializable Ranges on the learner succeed", r.describe())
        la, lda = ru.counters(learner), ru.counters(leader)
        dl = ru.delta(lb, la, ru.READ_INDEX_KEYS + ru.FORWARD_KEYS)
        dld = ru.delta(ldb, lda, ru.READ_INDEX_KEYS + ru.FORWARD_KEYS)
        eq((dl["read_index_rounds_sent"], dl["forwarded_calls_sent"]), (0, 0),
           "learner: read_index_rounds_sent and forwarded_calls_sent unchanged", f"{dl}")
        eq((dld["read_index_requests_answered"], dld["forwarded_calls_answered"]), (0, 0),
           "leader: read_index_requests_answered and forwarded_calls_answered unchanged",
           f"{dld}")
        print(f"  peer_messages_sent moved by {ru.delta(lb, la)['peer_messages_sent']} on the "
              f"learner (heartbeat answers) during {doc.get('seconds')} s")

    # ------------------------------------------------------------------------------------------
    @step
    def linearizable_reads_are_batched():
        c, learner, _ = setup()
        leader = leader_of(c)
        require(os.access(ru.bench_path(args), os.X_OK), "outpost-bench", quiet=True)
        r = leader.ctl("put", "hb", "x")
        require(r.ok, "put hb", r.describe(), quiet=True)
        doc, r = ru.bench(args, learner.grpc_addr, "range", "hb", "--consistency", "l",
                          "--total", "5", clients=1)
        require(doc is not None and doc.get("completed") == 5, "5 linearizable Ranges on the "
                "learner, one at a time", r.describe())
        rtt = 2 * DELAY_MS / 1000
        check(doc["fastest"] >= rtt * 0.9, f"each takes at least one round trip of the delayed "
              f"link ({rtt * 1000:.0f} ms): fastest {doc['fastest'] * 1000:.1f} ms", str(doc))

        sdoc, r = ru.bench(args, learner.grpc_addr, "range", "hb", "--consistency", "s",
                           "--total", "1000", clients=1000, conns=10)
        require(sdoc is not None and sdoc.get("completed") == 1000, "1000 concurrent "
                "serializable Ranges (baseline)", r.describe())
        lb, ldb = ru.counters(learner), ru.counters(leader)
        doc, r = ru.bench(args, learner.grpc_addr, "range", "hb", "--consistency", "l",
                          "--total", "1000", clients=1000, conns=10)
        la, lda = ru.counters(learner), ru.counters(leader)
        require(doc is not None, "outpost-bench ran", r.describe())
        eq((doc.get("completed"), doc.get("errors")), (1000, 0),
           "1000 concurrent linearizable Ranges on the learner all succeed", r.describe())
        rounds = ru.delta(lb, la)["read_index_rounds_sent"]
        answered = ru.delta(ldb, lda)["read_index_requests_answered"]
        print(f"  1000 linearizable reads: {doc.get('seconds'):.3f} s (serializable baseline "
              f"{sdoc.get('seconds'):.3f} s), p50 {doc.get('p50', 0) * 1000:.1f} ms, p99 "
              f"{doc.get('p99', 0) * 1000:.1f} ms; learner rounds sent {rounds}, leader read "
              f"index requests answered {answered}")
        check(answered is not None and 1 <= answered <= 20, "the leader answered between 1 and "
              f"20 read index requests for them (O(batches)): {answered}")
        check(rounds is not None and 1 <= rounds <= 20, "the learner sent between 1 and 20 "
              f"read index rounds: {rounds}")
        check(doc["seconds"] <= sdoc["seconds"] + 1.0, "they took at most 1 s more than 1000 "
              f"serializable reads ({doc['seconds']:.3f} s vs {sdoc['seconds']:.3f} s)")

    # ------------------------------------------------------------------------------------------
    @step
    def leader_unreachable_linearizable_times_out_serializable_answers():
        c, learner, net = setup()
        leader = leader_of(c)
        r = leader.ctl("put", "hu", "before")
        require(r.ok, "put hu=before", r.describe(), quiet=True)
        try:
            harness.wait_for(lambda: learner.ctl("get", "hu", "--consistency=s",
                                                 "--print-value-only").stdout == "before\n",
                             10, 0.05)
        except TimeoutError:
            require(False, "the learner has hu=before")
        net.isolate(learner.name)
        print(f"  isolated {learner.name} from every voter")
        try:
            r = leader.ctl("put", "hu", "after")
            require(r.ok, "put hu=after on the voters while the learner is cut off",
                    r.describe())
            expect = ru.request_timeout_s(c.election_ms)
            out: dict = {}

            def linearizable() -> None:
                out["r"] = ru.one_range(args, learner, "hu", timeout_s=30)
            t = threading.Thread(target=linearizable, daemon=True)
            t.start()
            s = learner.ctl("get", "hu", "--consistency=s", "--print-value-only")
            eq((s.rc, s.stdout), (0, "before\n"),
               "a serializable get on the cut-off learner answers (its last value)", s.describe())
            t.join(timeout=90)
            require("r" in out, "the linearizable Range returned", quiet=True)
            err, value, took, detail = out["r"]
            eq((err, value), (TIMED_OUT, None),
               f"a linearizable Range fails with {TIMED_OUT!r} (never stale data)", detail)
            check(expect - 2.5 <= took <= expect + 3,
                  f"after about the request timeout ({expect:.0f} s): {took:.1f} s")
        finally:
            net.heal()
        try:
            harness.wait_for(lambda: learner.ctl("get", "hu", "--print-value-only",
                                                 command_timeout="10s").stdout == "after\n",
                             30, 0.2)
            check(True, "healed: a linearizable get on the learner sees hu=after")
        except TimeoutError:
            check(False, "healed: a linearizable get on the learner sees hu=after")

    @runner.test
    def learner_with_linearizable_reads():
        for fn in steps:
            print(f"-- {fn.__name__}")
            started = time.monotonic()
            try:
                fn()
            except harness.CheckFailed:
                pass
            print(f"   ({time.monotonic() - started:.1f}s)")

    try:
        return runner.main()
    finally:
        if "net" in state:
            state["net"].close()


if __name__ == "__main__":
    sys.exit(main())
