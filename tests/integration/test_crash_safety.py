#!/usr/bin/env python3
"""Crash safety of storage: kill -9 at random moments during heavy writes, during a snapshot install
and during compaction / defragmentation; after each restart the store opens and nothing
acknowledged is lost.

Every put of the set workload (harness.Writers: etcdctl put loops, one distinct key each) goes into
one history in the nemesis format (tests/nemesis/history.py): an add "key=value" with outcome ok
(acknowledged) or info (error or timeout: it may or may not have happened). After every restart, and
at the end, a linearizable `get cs/ --prefix` is recorded as a read_all of the "key=value" pairs
present. The nemesis set checker (checkers.check_set) must answer ok: every acknowledged add in
every read invoked after it completed, exactly once; nothing present that no writer tried (a wrong
value is such a thing); an info add present at most once.

The moments are drawn from a seed (printed; `--seed N` replays the schedule; the interleaving of
processes still varies from run to run). Heavy writes are the recorded etcdctl writers plus an
unrecorded outpost-bench put load (300-500/s of 256-byte values outside cs/).
  * heavy writes, one member (--snapshot-count=300, so the kills land around state flushes and
    raft log compaction too): 3 rounds of N more acknowledged puts, a random delay, kill -9,
    restart; the store must open and answer.
  * heavy writes, three members: kill -9 of the leader or a follower (by the seed) while writers
    go through every member, restart; then kill -9 of all three at once and restart; at the end
    `endpoint hashkv` is equal on all three.
  * snapshot install: a follower killed, the others take 4 MiB of 100 KiB values and more than
    --snapshot-count (100) + 5000 entries (their logs are compacted past it: only a snapshot
    brings it up to date); the follower is restarted, killed again a random delay after its log
    says it is receiving the snapshot (Outpost: --snapshot-rate-limit=2MiB, so the stream lasts
    seconds and the kill lands mid-receipt: checked with the log), restarted again: it installs
    the snapshot again and is killed again: Outpost at the swap (the moment the staged state is
    renamed into place, before Raft records the snapshot), etcd 0-0.3 s after its log says the
    snapshot is applied (or 3 s after the restart when it needs no second transfer); restarted,
    it must answer under its own member id (a crash at the swap
    once restarted an Outpost member under the leader's id), hashkv is equal on all three and a
    read through it holds every acknowledged put.
  * compaction: one member, 1 500 more revisions before each compaction; how long an
    acknowledged `etcdctl compact REV --physical` and `etcdctl defrag` take is measured first;
    then two compactions and a defrag are each killed 0.4-1.6 times that long after being issued
    (so some land before, some during, some after the server's work) and the member restarted
    at once; the compact revision is then the old or the new one (the new one if the compaction
    was acknowledged), a get below it answers "required revision has been compacted" once it is
    compacted and at it answers; the restart after the killed defrag gives the same hashkv
    (hash, compact revision, revision) as before it.
Run with --only NAME to run one part.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "nemesis"))
import harness  # noqa: E402
import checkers  # noqa: E402
import history  # noqa: E402

PREFIX = "cs/"
WRITERS = 4
SNAPSHOT_COUNT = 300
CLUSTER_ROUNDS = 1  # kills of one member (the leader or a follower) before the whole-cluster kill
REVS = 1500  # revisions made before each compaction
BIG_PUTS = 40  # x 100 KiB: the snapshot's bulk (Outpost streams it at 2 MiB/s: 2 s)
SMALL_PUTS = 5400  # > --snapshot-count (100) + the 5000 entries kept behind a snapshot
READER = 1000  # process id of the read_all records

COMPACTED = "required revision has been compacted"


class SetHistory:
    """The set workload's history: every Writers put as an add, read_alls recorded here."""

    def __init__(self) -> None:
        self.ops: list[history.Op] = []
        self.next_process = 0

    def add_writers(self, w: harness.Writers) -> None:
        base = self.next_process
        self.next_process += len(w.threads)
        for wi, key, value, invoke, complete, ok in w.history:
            self.ops.append(history.Op(process=base + wi, f="add", key="set",
                                       value=f"{key}={value}", invoke=invoke,
                                       complete=complete if ok else None,
                                       outcome="ok" if ok else "info"))

    def read_all(self, m: harness.Member) -> tuple[bool, int, str]:
        """A linearizable get of the whole set through m, recorded as a read_all when it answers.
        Returns (answered, number of elements, error)."""
        invoke = time.monotonic_ns()
        r = m.ctl("get", PREFIX, "--prefix", "-w", "json", "--consistency=l", timeout=60,
                  command_timeout="20s")
        complete = time.monotonic_ns()
        if not r.ok:
            return False, 0, r.describe()
        import base64
        import json
        kvs = json.loads(r.stdout).get("kvs", [])
        values = [base64.b64decode(kv["key"]).decode(errors="replace") + "=" +
                  base64.b64decode(kv.get("value", "")).decode(errors="replace") for kv in kvs]
        self.ops.append(history.Op(process=READER, f="read_all", key="set", values=values,
                                   invoke=invoke, complete=complete, outcome="ok"))
        return True, len(values), ""

    def verdict(self) -> checkers.Verdict:
        ops = sorted(self.ops, key=lambda op: op.invoke)
        return checkers.check_set(history.indexed(ops))

    def dump(self, path: str) -> None:
        history.dump(sorted(self.ops, key=lambda op: op.invoke), path)


class Load:
    """Background put load from outpost-bench (not recorded: heavy writes around the recorded
    set workload) at `rate` puts/s of 256-byte values over 5 000 keys outside cs/, for at most
    `seconds`. It rides out kills (its gRPC channels reconnect; errors are only counted). Killed
    by pid on stop()."""

    def __init__(self, bench: str, endpoints: list, rate: int = 500, seconds: int = 60):
        cmd = [bench, "--endpoints", ",".join(m.grpc_addr for m in endpoints), "--conns",
               str(len(endpoints)), "--clients", "8", "--timeout", f"{seconds}s", "put",
               "--total", "100000000", "--rate", str(rate), "--key-space-size", "5000",
               "--val-size", "256"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=harness._die_with_parent)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def main() -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--seed", type=int, default=None)
    pre.add_argument("--only", action="append", default=[])
    own, rest = pre.parse_known_args()
    args = harness.parse_args(__doc__.split("\n")[0], rest)
    seed = own.seed if own.seed is not None else random.SystemRandom().randrange(1, 2**31)
    runner = harness.Runner(args, f"crash safety: kill -9 during writes, snapshot install and "
                            f"compaction (seed {seed}; replay with --seed {seed})")
    check, eq, require = runner.check, runner.eq, runner.require
    outpost = args.server == "outpost"
    print(f"seed {seed}")

    def rng_for(part: str) -> random.Random:
        # One stream per part, so --only NAME replays the same schedule as a full run.
        return random.Random(f"{seed}/{part}")

    def start(m: harness.Member, what: str, timeout: float = 30) -> None:
        """Starts m and requires that it answers (health and a linearizable get)."""
        t0 = time.monotonic()
        try:
            m.start(timeout=timeout)
        except (RuntimeError, TimeoutError) as e:
            require(False, f"{what}: the store opens and answers", str(e))
        check(True, f"{what}: {m.name} opens and answers ({time.monotonic() - t0:.1f}s)")

    def start_all(ms: list, what: str, timeout: float = 30) -> None:
        t0 = time.monotonic()
        for m in ms:
            m.start(wait=False)
        for m in ms:
            try:
                m.wait_ready(timeout)
            except (RuntimeError, TimeoutError) as e:
                require(False, f"{what}: {m.name} opens and answers", str(e))
        check(True, f"{what}: {', '.join(m.name for m in ms)} open and answer "
              f"({time.monotonic() - t0:.1f}s)")

    def kill_all(ms: list) -> None:
        """SIGKILL to every member first, then reap: all die at once."""
        import signal
        for m in ms:
            if m.running():
                os.kill(m.pid, signal.SIGKILL)
        for m in ms:
            m.kill9()

    def read_all(h: SetHistory, m: harness.Member, what: str) -> None:
        ok, n, err = h.read_all(m)
        require(ok, f"{what}: linearizable get {PREFIX} --prefix through {m.name}", err)
        print(f"  {what}: read {n} elements through {m.name}")

    def judge(h: SetHistory, what: str) -> None:
        v = h.verdict()
        ok = check(v.verdict == checkers.OK, f"{what}: set checker verdict {v.verdict} "
                   f"{v.stats}", "\n".join(v.problems[:20]))
        if not ok:
            path = os.path.join(args.workdir, f"history-{runner.current}.jsonl")
            h.dump(path)
            print(f"       history written to {path}")
        check(v.stats.get("acknowledged", 0) > 0, f"{what}: acknowledged puts were made")

    def bench_bin() -> str:
        b = harness.bench_path(args)
        require(os.access(b, os.X_OK), f"outpost-bench at {b} (set OUTPOST_BENCH)", quiet=True)
        return b

    def bench(endpoints: list, *cmd: str, timeout: float = 90, clients: int = 8
              ) -> harness.Result:
        b = bench_bin()
        return harness.run([b, "--endpoints", ",".join(m.grpc_addr for m in endpoints),
                            "--conns", str(len(endpoints)), "--clients", str(clients),
                            "--timeout", f"{int(timeout - 5)}s", *cmd], timeout=timeout)

    # ------------------------------------------------------------------------------------------
    @runner.test
    def heavy_writes_single_member():
        rng = rng_for("single")
        h = SetHistory()
        m = harness.Member(args, name="hw1", extra_flags=[f"--snapshot-count={SNAPSHOT_COUNT}"])
        start(m, "first start")
        load = Load(bench_bin(), [m])
        w = harness.Writers(args, [m], prefix=f"{PREFIX}hw1", n=WRITERS,
                            command_timeout="2s").start()
        try:
            for rnd in range(1, 4):
                more, delay = rng.randint(5, 25), rng.uniform(0.0, 0.5)
                w.wait_more(more, timeout=40)
                time.sleep(delay)  # the random moment of the kill is the point
                acked = w.count()
                m.kill9()
                print(f"  round {rnd}: kill -9 {delay:.2f}s after {more} more acks "
                      f"({acked} acknowledged so far)")
                start(m, f"round {rnd}: restart after kill -9")
                read_all(h, m, f"round {rnd}")
        finally:
            load.stop()
            w.finish()
        h.add_writers(w)
        read_all(h, m, "final")
        judge(h, "one member, 3 kills")
        m.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def heavy_writes_cluster():
        rng = rng_for("cluster")
        h = SetHistory()
        c = harness.Cluster(args, prefix="hc", extra_flags=[f"--snapshot-count={SNAPSHOT_COUNT}"])
        c.start()
        c.wait_leader(timeout=15)
        load = Load(bench_bin(), c.members, rate=300)
        w = harness.Writers(args, lambda: c.running() or c.members, prefix=f"{PREFIX}hc",
                            n=WRITERS, command_timeout="2s").start()
        try:
            for rnd in range(1, CLUSTER_ROUNDS + 1):
                leader, term, _ = c.wait_leader(timeout=20)
                role = rng.choice(["leader", "follower"])
                victim = leader if role == "leader" else rng.choice(
                    [m for m in c if m is not leader])
                more, delay = rng.randint(5, 25), rng.uniform(0.0, 0.5)
                w.wait_more(more, timeout=40)
                time.sleep(delay)
                victim.kill9()
                print(f"  round {rnd}: kill -9 of the {role} {victim.name} (term {term}) "
                      f"{delay:.2f}s after {more} more acks")
                w.wait_more(rng.randint(2, 8), timeout=40)  # writes go on without it
                start(victim, f"round {rnd}: restart {victim.name}")
                read_all(h, rng.choice(c.members), f"round {rnd}")
            more, delay = rng.randint(5, 25), rng.uniform(0.0, 0.5)
            w.wait_more(more, timeout=40)
            time.sleep(delay)
            kill_all(c.members)
            print(f"  whole cluster: kill -9 of all three at once {delay:.2f}s after {more} "
                  f"more acks")
            start_all(c.members, "whole cluster restarted")
            leader, term, _ = c.wait_leader(timeout=20)
            read_all(h, rng.choice(c.members), "after the whole-cluster kill")
            w.wait_more(5, timeout=40)
        finally:
            load.stop()
            w.finish()
        h.add_writers(w)
        c.check_hashkv_equal(runner, "hashkv equal on all three", timeout=30)
        read_all(h, leader, "final")
        judge(h, f"three members, {CLUSTER_ROUNDS} single kill(s) and a whole-cluster kill")
        c.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def kill_during_snapshot_install():
        rng = rng_for("snapshot")
        h = SetHistory()
        flags = ["--snapshot-count=100"]
        if outpost:
            flags.append("--snapshot-rate-limit=2MiB")
        c = harness.Cluster(args, prefix="si", extra_flags=flags)
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        r = bench(c.members, "put", "--total", str(BIG_PUTS), "--key-space-size", str(BIG_PUTS),
                  "--sequential-keys", "--key-size", "16", "--val-size", str(100 * 1024))
        require(r.ok, f"{BIG_PUTS} puts of 100 KiB values through all three", r.describe())
        lagger = next(m for m in c if m is not leader)
        lagger_id = c.member_id(lagger)
        live = [m for m in c if m is not lagger]
        w = harness.Writers(args, live, prefix=f"{PREFIX}si", n=2, command_timeout="2s").start()
        try:
            w.wait_more(10, timeout=30)
            lagger.kill9()
            t0 = time.monotonic()
            r = bench(live, "put", "--total", str(SMALL_PUTS), "--key-space-size", "1000",
                      "--val-size", "64", clients=32)
            require(r.ok, f"{lagger.name} killed; {SMALL_PUTS} small puts through the others "
                    f"({time.monotonic() - t0:.1f}s): their logs are compacted past it",
                    r.describe())
            w.wait_more(10, timeout=30)
            receiving = "receiving snapshot" if outpost else "receiving database snapshot"
            installed = "installed snapshot" if outpost else "applied snapshot"
            lagger.start(wait=False)
            first_log = lagger.log_path

            def log_has(path: str, msg: str) -> bool:
                try:
                    with open(path, "rb") as f:
                        return f'"msg":"{msg}"'.encode() in f.read()
                except OSError:
                    return False
            try:
                harness.wait_for(lambda: log_has(first_log, receiving) or not lagger.running(),
                                 timeout=30, interval=0.01, what=f"\"{receiving}\" in the log")
            except TimeoutError as e:
                require(False, f"{lagger.name} restarted: its log says \"{receiving}\"",
                        f"{e}\n{lagger.log_tail()}")
            require(lagger.running(), f"{lagger.name} runs while receiving", lagger.log_tail())
            delay = rng.uniform(0.05, 1.0)
            time.sleep(delay)
            lagger.kill9()
            mid = not log_has(first_log, installed)
            staging = ""
            if outpost:
                staging = "; staging dir member/db.incoming " + (
                    "present" if os.path.exists(os.path.join(lagger.data_dir, "member",
                                                             "db.incoming")) else "absent")
            print(f"  {lagger.name}: kill -9 {delay:.2f}s after \"{receiving}\" "
                  f"({'before' if mid else 'after'} \"{installed}\"{staging})")
            if outpost:
                check(mid, f"the kill landed during the install (no \"{installed}\" before it)",
                      lagger.log_tail())
            # Restarted, it gets the snapshot again and is killed again: Outpost at the swap (the
            # moment member/db.incoming is renamed into place, polled every 2 ms: the received
            # state is live on disk, Raft has not recorded it yet), etcd 0-0.3 s after its log
            # says the snapshot is applied.
            lagger.start(wait=False)
            second_log = lagger.log_path
            incoming = os.path.join(lagger.data_dir, "member", "db.incoming")
            seen: list = []

            def swapped() -> bool:
                # Staging starts after "receiving snapshot" (the directory a kill left behind is
                # removed when the member opens its store: that is not the swap).
                if not seen and not log_has(second_log, receiving):
                    return False
                if os.path.exists(incoming):
                    seen.append(True)
                    return False
                return bool(seen)
            moment = cond = None
            if outpost:
                moment, cond = "the swap (member/db.incoming renamed into place)", swapped
            else:
                # etcd may have kept the received snapshot file and need no second transfer:
                # then the kill comes 3 s after the restart.
                restarted_at = time.monotonic()
                moment = f"\"{installed}\" (or 3 s after the restart)"
                cond = lambda: (log_has(second_log, installed)  # noqa: E731
                                or time.monotonic() - restarted_at > 3)
            try:
                harness.wait_for(lambda: cond() or not lagger.running(), timeout=60,
                                 interval=0.002, what=moment)
            except TimeoutError as e:
                require(False, f"{lagger.name} restarted after the kill mid-install: it reaches "
                        f"{moment}", f"{e}\n{lagger.log_tail()}")
            require(lagger.running(), f"{lagger.name} restarted after the kill mid-install: it "
                    f"runs until {moment}", lagger.log_tail())
            delay = 0.0 if outpost else rng.uniform(0.0, 0.3)
            time.sleep(delay)
            lagger.kill9()
            print(f"  {lagger.name}: kill -9 {delay:.2f}s after {moment} (\"{installed}\" "
                  f"{'logged' if log_has(second_log, installed) else 'not logged'} by then)")
            start(lagger, f"{lagger.name} restarted after the second kill", timeout=60)
            st = c.status(lagger)
            eq(st and st["member_id"], lagger_id, f"{lagger.name} restarted under its own member "
               f"id {lagger_id:x}", f"leader {leader.name} is {c.member_id(leader):x}\n"
               + lagger.log_tail(8))
        finally:
            w.finish()
        h.add_writers(w)
        c.check_hashkv_equal(runner, "hashkv equal on all three", timeout=60)
        read_all(h, lagger, f"through {lagger.name}")
        judge(h, "snapshot install killed")
        c.stop()

    # ------------------------------------------------------------------------------------------
    @runner.test
    def kill_during_compaction():
        rng = rng_for("compaction")
        h = SetHistory()
        m = harness.Member(args, name="cp1")
        start(m, "first start")

        def hashkv() -> tuple:
            got = harness.hashkv(m)
            require(got is not None, "endpoint hashkv answers", quiet=True)
            return got
        def more_revisions() -> None:
            r = bench([m], "put", "--total", str(REVS), "--key-space-size", "100",
                      "--val-size", "512")
            require(r.ok, f"{REVS} puts over 100 keys", r.describe(), quiet=True)

        def timed(*cmd: str) -> float:
            t0 = time.monotonic()
            r = m.ctl(*cmd, timeout=30, command_timeout="20s")
            require(r.ok, f"etcdctl {' '.join(cmd)}", r.describe())
            return time.monotonic() - t0
        # How long an acknowledged compaction of REVS revisions and a defrag take here, end to
        # end (etcdctl's start included): the kills are drawn around that.
        more_revisions()
        w = harness.Writers(args, [m], prefix=f"{PREFIX}cp0", n=2, command_timeout="2s").start()
        try:  # under the same load as the killed rounds
            w.wait_more(3, timeout=30)
            took = {"compact": timed("compact", str(hashkv()[2] - 1), "--physical")}
            took["defrag"] = timed("defrag")
        finally:
            w.finish()
        h.add_writers(w)
        print(f"  an acknowledged compaction of {REVS} revisions took {took['compact']:.3f}s, "
              f"a defrag {took['defrag']:.3f}s (etcdctl included)")
        for rnd, kind in enumerate(["compact", "defrag", "compact"], 1):
            if kind == "compact":
                more_revisions()
            w = harness.Writers(args, [m], prefix=f"{PREFIX}cp{rnd}", n=2,
                                command_timeout="2s").start()
            try:
                w.wait_more(rng.randint(3, 10), timeout=30)
                if kind == "defrag":
                    w.finish()  # a still state: hashkv before and after must match
                before = hashkv()
                _, old, rev = before
                new = rev - rng.randint(1, 20) if kind == "compact" else 0
                delay = rng.uniform(0.4, 1.6) * took[kind]
                cmd = ["compact", str(new), "--physical"] if kind == "compact" else ["defrag"]
                out: list = []

                def issue() -> None:
                    r = m.ctl(*cmd, timeout=15, command_timeout="2s")
                    out.extend([r, time.monotonic()])
                t = threading.Thread(target=issue, daemon=True)
                t.start()
                time.sleep(delay)
                m.kill9()
                killed_at = time.monotonic()
                killed_log = m.log_path
                # Restarted at once: the in-flight etcdctl calls end against the new process.
                start(m, f"round {rnd}: restart after kill -9 during {kind}")
                t.join(timeout=20)
            finally:
                w.finish()
            h.add_writers(w)
            acked = bool(out and out[0].ok)
            when = ("not acknowledged" if not acked else "acknowledged before the kill"
                    if out[1] < killed_at else "acknowledged after the restart (a retry)")
            applied = ""
            if outpost and kind == "compact":
                done = [r for r in harness.log_records(open(killed_log, errors="replace").read(),
                                                       "compacted key-value history")
                        if r.get("compact-revision") == new]
                applied = "; its log says it compacted" if done else "; not in its log"
            print(f"  round {rnd}: etcdctl {' '.join(cmd)} at revision {rev} (compacted at "
                  f"{old}), kill -9 {delay:.3f}s after issuing it; {when}{applied}")
            after = hashkv()
            now = after[1]
            if kind == "compact":
                want = {new} if acked else {old, new}
                check(now in want, f"round {rnd}: compact revision {now} is "
                      f"{'the new one' if acked else 'the old or the new one'} ({sorted(want)})")
                below = m.ctl("get", PREFIX, "--prefix", "--limit=1", f"--rev={new - 1}")
                at = m.ctl("get", PREFIX, "--prefix", "--limit=1", f"--rev={new}")
                check(at.ok, f"round {rnd}: a get at revision {new} answers", at.describe())
                if now == new:
                    check(not below.ok and COMPACTED in harness.error_message(below),
                          f"round {rnd}: a get at revision {new - 1} answers \"{COMPACTED}\"",
                          below.describe())
                else:
                    check(below.ok, f"round {rnd}: not compacted: a get at revision {new - 1} "
                          "answers", below.describe())
            else:
                eq(after, before, f"round {rnd}: hashkv (hash, compact revision, revision) "
                   "after the restart equals the one before the killed defrag")
            read_all(h, m, f"round {rnd}")
        read_all(h, m, "final")
        judge(h, "2 compactions and a defrag killed")
        m.stop()

    return runner.main(only=own.only or None)


if __name__ == "__main__":
    sys.exit(main())
