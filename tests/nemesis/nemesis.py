"""The nemesis driver (issue 15): a cluster, clients, faults from a seed, then every checker.

    tests/nemesis/run --seed S --time 60 --faults all [--voters 3|5] [--learners 0-2]

What one run does:
  1. starts `--voters` members on loopback with a TCP proxy (tests/integration/proxy.py) in front
     of every peer port, `--snapshot-count` small so that snapshots happen, and `--learners`
     learners added with `member add --learner` (Outpost: replica read policy "linearizable" and
     forwarded writes, so the clients use them like voters; etcd: not given to the clients, as
     etcd 3.4 learners refuse linearizable requests). With the diskfull fault one voter's data
     dir is a small tmpfs;
  2. runs outpost-nemesis-client (tests/nemesis/client.cc) against every client endpoint: the
     register, set, watch and lease workloads, writing the history (history.py's format);
  3. meanwhile injects faults (faults.py) on a schedule drawn from the seed: a quiet gap of 1-3 s,
     one fault held 2-5 s, healed; until 5 s before the end. Every fault is a "nemesis" record
     in the history (process -1, phase start / end) and a line in the schedule;
  4. heals everything, restarts what is down (a member that stopped without being killed is a
     crash, reported), waits for a leader, lets the client do its final reads (the reference
     event list from revision 1, the final range, the set's read_all, each watcher's watch_end);
  5. checks: registers linearizable (linearizability.py), set, watches, revisions, the final
     range against the reference, revision order, leases (checkers.py); every member's
     `endpoint hashkv` equal; no member crashed.
Prints a summary table; exits 0 when every verdict is ok, 1 otherwise. On failure (or with
--keep) the history, the reference, the final range, the schedule, the client's and the servers'
logs go to a folder (printed), which `python3 tests/nemesis/check.py` can replay.

Only the Python 3 standard library is used, plus tests/integration/{harness,proxy}.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import check  # noqa: E402
import faults  # noqa: E402
import harness  # noqa: E402
import history  # noqa: E402
import linearizability  # noqa: E402
import proxy  # noqa: E402


def _default(path_parts: list[str]) -> str:
    for build in ("build", "build-release", "build-debug"):
        p = os.path.join(ROOT, build, *path_parts)
        if os.access(p, os.X_OK):
            return p
    return ""


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="tests/nemesis/run",
        description="Start a cluster, run the nemesis clients under faults from a seed, check "
                    "the history.")
    ap.add_argument("--seed", type=int, default=None, help="schedule seed (default: random)")
    ap.add_argument("--time", type=float, default=60, help="workload seconds (default 60)")
    ap.add_argument("--faults", default="all",
                    help=f"'all', 'none' or a comma list of: {', '.join(faults.ALL)}")
    ap.add_argument("--voters", type=int, default=3, choices=[3, 5])
    ap.add_argument("--learners", type=int, default=1, choices=[0, 1, 2])
    ap.add_argument("--snapshot-count", type=int, default=300,
                    help="--snapshot-count of every member (default 300: snapshots happen)")
    ap.add_argument("--register-clients", type=int, default=4)
    ap.add_argument("--registers", type=int, default=3,
                    help="register keys (more keys: shorter per-key histories to check)")
    ap.add_argument("--set-clients", type=int, default=2)
    ap.add_argument("--watchers", type=int, default=2)
    ap.add_argument("--lease-clients", type=int, default=2)
    ap.add_argument("--min-gap", type=float, default=1.0, help="quiet seconds between faults (min)")
    ap.add_argument("--max-gap", type=float, default=3.0)
    ap.add_argument("--min-hold", type=float, default=2.0, help="seconds a fault is held (min)")
    ap.add_argument("--max-hold", type=float, default=5.0)
    ap.add_argument("--check-timeout", type=float, default=120,
                    help="linearizability search budget in seconds")
    ap.add_argument("--server", choices=["outpost", "etcd"], default="outpost")
    ap.add_argument("--outpost", default=_default(["outpost"]))
    ap.add_argument("--client", default=_default(["tests", "nemesis", "outpost-nemesis-client"]),
                    help="outpost-nemesis-client binary")
    ap.add_argument("--etcd", default=harness.DEFAULT_ETCD)
    ap.add_argument("--etcdctl", default=harness.DEFAULT_ETCDCTL)
    ap.add_argument("--workdir", default="", help="data dirs and logs (default: a temp dir)")
    ap.add_argument("--failure-dir", default="",
                    help="where a failed run's history and logs go (default: "
                         "./nemesis-failures/seed-S-TIME)")
    ap.add_argument("--keep", action="store_true", help="save the folder even when all is ok")
    o = ap.parse_args(argv)
    if o.seed is None:
        o.seed = random.SystemRandom().randrange(1, 2**31)
    names = faults.ALL if o.faults == "all" else (
        () if o.faults == "none" else tuple(x.strip() for x in o.faults.split(",") if x.strip()))
    bad = [n for n in names if n not in faults.FAULTS]
    if bad:
        ap.error(f"unknown fault(s) {', '.join(bad)}; known: {', '.join(faults.ALL)}")
    o.fault_names = names
    if not o.client or not os.access(o.client, os.X_OK):
        ap.error("outpost-nemesis-client not found: build it (target outpost-nemesis-client) "
                 "or give --client")
    hargv = ["--server", o.server, "--etcd", o.etcd, "--etcdctl", o.etcdctl]
    if o.outpost:
        hargv += ["--outpost", o.outpost]
    if o.workdir:
        hargv += ["--workdir", o.workdir]
    o.h = harness.parse_args("nemesis", hargv)
    return o


class Nemesis:
    """The cluster under test and what the faults need from it (faults.py calls these)."""

    def __init__(self, o: argparse.Namespace):
        self.o = o
        self.args = o.h
        self.rng = random.Random(o.seed)
        self.network = proxy.PeerNetwork()
        self.snapshot_count = o.snapshot_count
        self.cluster = harness.Cluster(self.args, prefix="n", size=o.voters,
                                       extra_flags=[f"--snapshot-count={o.snapshot_count}"],
                                       peer_network=self.network)
        self.t0 = time.monotonic()
        self.deadline = self.t0
        self.schedule: list[dict] = []          # what was done, for the summary and the folder
        self.records: list[dict] = []           # nemesis records for the history
        self.counts: dict[str, int] = {}
        self.expected_down: set[str] = set()
        self.maybe_down: set[str] = set()
        self.paused: set[str] = set()
        self.removed: list = []
        self.crashes: list[str] = []
        self.problems: list[str] = []
        self.snapshot_victims: list[str] = []
        self.tmpfs_member = None
        self.tmpfs_mount: Optional[str] = None
        self.added = 0
        self.current: Optional[str] = None

    # -- what faults.py uses
    def note(self, text: str) -> None:
        t = time.monotonic() - self.t0
        print(f"  [{t:6.1f}s] {text}", flush=True)
        self.schedule.append({"t": round(t, 2), "fault": self.current, "what": text})

    def voters_all(self) -> list:
        return [m for m in self.cluster.members if not m.is_learner]

    def running_voters(self) -> list:
        return [m for m in self.cluster.running() if not m.is_learner]

    def leader(self):
        """The member that says it is the leader (asked quickly; paused members skipped)."""
        for m in self.running_voters():
            if m.name in self.paused:
                continue
            r = m.ctl("endpoint", "status", "-w", "json", timeout=4, command_timeout="1s")
            if not r.ok:
                continue
            try:
                st = json.loads(r.stdout)[0]["Status"]
                lid = int(st.get("leader", 0))
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            if not lid:
                continue
            for x in self.cluster.members:
                if x.member_id is None and x.running() and x.name not in self.paused:
                    try:
                        self.cluster.member_id(x)
                    except RuntimeError:
                        pass
                if x.member_id == lid and x.running():
                    return x
        return None

    def raft_index(self, m) -> Optional[int]:
        st = self.cluster.status(m, timeout=4)
        return st["raft_index"] if st else None

    def fault_budget(self, seconds: float) -> float:
        return max(0.5, min(seconds, self.deadline - time.monotonic()))

    def new_member_name(self) -> str:
        self.added += 1
        return f"n{self.o.voters + self.added}"

    def expect_down(self, m) -> None:
        self.expected_down.add(m.name)

    def expect_maybe_down(self, m) -> None:
        self.maybe_down.add(m.name)

    def unexpect_down(self, m) -> None:
        self.expected_down.discard(m.name)
        self.maybe_down.discard(m.name)

    def restart(self, members) -> None:
        members = [m for m in members if m in self.cluster.members]
        for m in members:
            if not m.running():
                m.start(wait=False)
        for m in members:
            try:
                m.wait_ready(60)
            except (RuntimeError, TimeoutError) as e:
                self.problems.append(f"{m.name} did not come back after a restart: "
                                     f"{str(e).splitlines()[0]}")
                self.note(f"{m.name} did not come back: {str(e).splitlines()[0]}")
            self.expected_down.discard(m.name)

    def find_crashes(self) -> None:
        """A member that stopped without being killed (or removed) crashed: report, restart."""
        for m in list(self.cluster.members):
            if m.proc is None or m.running() or m.name in self.expected_down:
                continue
            if m.name in self.maybe_down:
                continue
            rc = m.proc.returncode
            self.crashes.append(f"{m.name} exited with {rc} (log {m.log_path})")
            self.note(f"CRASH: {m.name} exited by itself with {rc}; restarting it")
            self.restart([m])

    # -- setup
    def setup_tmpfs(self) -> None:
        m = self.cluster.members[-1]
        os.makedirs(m.data_dir, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", m.data_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"  note: no tmpfs for the disk-full fault ({r.stderr.strip()}): skipped")
            return
        self.tmpfs_member = m
        self.tmpfs_mount = m.data_dir
        print(f"  {m.name}'s data dir is a 128 MiB tmpfs (disk-full fault)")

    def cleanup(self) -> None:
        self.network.heal()
        for name in list(self.paused):
            m = self.cluster.by_name(name)
            if m and m.running():
                os.kill(m.pid, 18)  # SIGCONT
        harness._kill_all_live()
        if self.tmpfs_mount:
            subprocess.run(["umount", "-l", self.tmpfs_mount], capture_output=True)
        self.network.close()

    def start(self) -> list[str]:
        if "diskfull" in self.o.fault_names:
            self.setup_tmpfs()
        self.cluster.start(timeout=60)
        self.cluster.wait_leader(timeout=30)
        endpoints = [m.grpc_addr for m in self.cluster.members]
        for i in range(self.o.learners):
            flags = [f"--snapshot-count={self.o.snapshot_count}"]
            if self.o.server == "outpost":
                flags += ["--replica-read-policy=linearizable", "--replica-writes=forward",
                          "--replica-promote=never"]
            m, r = self.cluster.add_member(f"nl{i + 1}", learner=True, extra_flags=flags,
                                           timeout=60)
            if m is None:
                raise RuntimeError(f"cannot add learner nl{i + 1}: {r.describe()}")
            if self.o.server == "outpost":
                endpoints.append(m.grpc_addr)
        return endpoints


def _load_jsonl(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def run_schedule(nem: Nemesis, o: argparse.Namespace, stop_at: float) -> None:
    rng = nem.rng
    names = list(o.fault_names)
    while names:
        gap = rng.uniform(o.min_gap, o.max_gap)
        if time.monotonic() + gap + 1 > stop_at:
            break
        time.sleep(gap)
        name = names[rng.randrange(len(names))]
        nem.current = name
        nem.deadline = stop_at
        start_ns = time.monotonic_ns()
        nem.records.append({"process": -1, "f": "nemesis", "fault": name, "phase": "start",
                            "time": start_ns})
        try:
            heal = faults.FAULTS[name](nem, rng)
        except Exception as e:  # noqa: BLE001 - a fault that could not be injected is reported
            nem.problems.append(f"fault {name} raised {type(e).__name__}: {e}")
            nem.note(f"fault {name} raised {type(e).__name__}: {e}")
            heal = None
        nem.counts[name] = nem.counts.get(name, 0) + 1
        if heal is not None:
            hold = rng.uniform(o.min_hold, o.max_hold)
            time.sleep(max(0.0, min(hold, stop_at - time.monotonic())))
            try:
                heal()
            except Exception as e:  # noqa: BLE001
                nem.problems.append(f"healing {name} raised {type(e).__name__}: {e}")
            nem.note(f"healed {name}")
        nem.records.append({"process": -1, "f": "nemesis", "fault": name, "phase": "end",
                            "time": time.monotonic_ns()})
        nem.current = None
        nem.find_crashes()


def summarize_ops(ops: list) -> dict[str, dict[str, int]]:
    groups = {"registers": history.REGISTER_FS, "set": history.SET_FS}
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        if op.f in history.WATCH_FS:
            continue
        if op.f.startswith("lease"):
            g = "leases"
        else:
            g = next((k for k, fs in groups.items() if op.f in fs), None)
            if g is None:
                continue
        d = out.setdefault(g, {"ops": 0, "ok": 0, "fail": 0, "info": 0})
        d["ops"] += 1
        if op.outcome in ("ok", "fail", "info"):
            d[op.outcome] += 1
    return out


def main(argv=None) -> int:
    o = parse_args(argv)
    work = o.h.workdir
    print(f"nemesis: seed {o.seed}, {o.time:g} s, {o.voters} voters + {o.learners} learner(s), "
          f"faults {','.join(o.fault_names) or 'none'}, server {o.server}; work dir {work}",
          flush=True)
    nem = Nemesis(o)
    hist_path = os.path.join(work, "history.jsonl")
    ref_path = os.path.join(work, "reference.jsonl")
    final_path = os.path.join(work, "final.jsonl")
    client_log = os.path.join(work, "client.log")
    verdicts: dict[str, tuple[str, str]] = {}
    summary_line: dict = {}
    client = None
    try:
        endpoints = nem.start()
        print(f"  cluster up: {', '.join(m.name for m in nem.cluster.members)}; clients on "
              f"{len(endpoints)} endpoints", flush=True)
        cmd = [o.client, "--endpoints", ",".join(endpoints), "--time", f"{o.time:g}",
               "--seed", str(o.seed), "--history", hist_path, "--reference", ref_path,
               "--final", final_path, "--wait-stdin",
               "--register-clients", str(o.register_clients), "--registers",
               str(o.registers), "--set-clients",
               str(o.set_clients), "--watchers", str(o.watchers), "--lease-clients",
               str(o.lease_clients)]
        with open(client_log, "wb") as log:
            client = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=log, preexec_fn=harness._die_with_parent)
        done = threading.Event()
        out_lines: list[str] = []

        def read_out() -> None:
            for raw in client.stdout:
                line = raw.decode(errors="replace").strip()
                out_lines.append(line)
                if line == "workload done":
                    done.set()
            done.set()
        threading.Thread(target=read_out, daemon=True).start()
        nem.t0 = time.monotonic()
        stop_at = nem.t0 + o.time - 5
        run_schedule(nem, o, stop_at)
        if not done.wait(timeout=max(0.0, nem.t0 + o.time + 60 - time.monotonic())):
            nem.problems.append("the client did not finish its workload in time")
        # heal: everything reconnects, every member runs, a leader is agreed on
        nem.network.heal()
        for m in nem.cluster.members:
            nem.network.set_delay(m.name, 0)
        nem.find_crashes()
        down = [m for m in nem.cluster.members if not m.running()]
        if down:
            nem.restart(down)
        try:
            nem.cluster.wait_leader(nem.running_voters(), timeout=60)
        except TimeoutError as e:
            nem.problems.append(f"no leader after healing: {e}")
        nem.note("healed; final reads")
        try:
            client.stdin.write(b"final\n")
            client.stdin.flush()
        except OSError:
            pass
        try:
            client.wait(timeout=150)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
            nem.problems.append("the client's final phase did not end in 150 s")
        for line in out_lines:
            if line.startswith("{"):
                try:
                    summary_line = json.loads(line)
                except ValueError:
                    pass
        if client.returncode != 0:
            nem.problems.append(f"the client exited with {client.returncode} (see {client_log})")
        # the members agree
        try:
            # etcd 3.4's learners refuse HashKV; Outpost's answer it
            agree = [m for m in nem.cluster.running() if o.server == "outpost" or not m.is_learner]
            h = nem.cluster.wait_hashkv_equal(agree, timeout=60)
            verdicts["members agree"] = (linearizability.OK,
                                         f"hashkv {next(iter(h.values()))} on {len(h)} members")
        except TimeoutError as e:
            verdicts["members agree"] = (linearizability.VIOLATION, str(e))
        nem.find_crashes()
    except Exception as e:  # noqa: BLE001 - reported as a failed run with its folder
        import traceback
        nem.problems.append(f"driver error: {type(e).__name__}: {e}")
        traceback.print_exc()
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        logs = {m.name: m.dir for m in nem.cluster.members + nem.removed}
        nem.cleanup()

    # -- checks
    # the client's records, then the driver's (fault windows, for the lease checker)
    with open(hist_path, "a", encoding="utf-8") as f:
        for r in nem.records:
            f.write(json.dumps(r) + "\n")
    ops = history.load(hist_path)
    reference = _load_jsonl(ref_path)
    kvs = _load_jsonl(final_path)
    R = summary_line.get("final_revision")
    t = time.monotonic()
    verdicts.update(check.run_checkers(ops, reference, kvs, int(R) if R else None,
                                       o.check_timeout,
                                       election_timeout_s=nem.cluster.election_ms / 1000.0))
    if not (reference and R):
        verdicts["watches"] = (linearizability.UNKNOWN, "no reference events or final revision")
    verdicts["no crash"] = ((linearizability.OK, "") if not nem.crashes else
                            (linearizability.VIOLATION, "\n".join(nem.crashes)))
    verdicts["driver"] = ((linearizability.OK, "") if not nem.problems else
                          (linearizability.VIOLATION, "\n".join(nem.problems)))
    check_s = time.monotonic() - t

    # -- summary
    stats = summarize_ops(ops)
    print()
    print(f"== nemesis summary: seed {o.seed}, {o.time:g} s, {o.voters} voters + "
          f"{o.learners} learner(s), server {o.server} (checked in {check_s:.1f} s)")
    print(f"{'workload':<12}{'ops':>8}{'ok':>8}{'fail':>8}{'info':>8}")
    for g, d in stats.items():
        print(f"{g:<12}{d['ops']:>8}{d['ok']:>8}{d['fail']:>8}{d['info']:>8}")
    wrec = [op for op in ops if op.f in history.WATCH_FS]
    print(f"watchers: {sum(op.f == 'watch_event' for op in wrec)} events received, "
          f"{sum(op.f == 'watch_start' for op in wrec)} (re)starts")
    print(f"final revision {R}, reference events {len(reference)}, final keys {len(kvs)}")
    print("faults: " + (", ".join(f"{k} {n}" for k, n in sorted(nem.counts.items())) or "none")
          + (f"; snapshot catch-ups forced on {', '.join(nem.snapshot_victims)}"
             if nem.snapshot_victims else ""))
    print(f"{'checker':<16}verdict")
    for name, (verdict, _) in verdicts.items():
        print(f"{name:<16}{verdict}")
    failed = any(vd != linearizability.OK for vd, _ in verdicts.values())
    for name, (verdict, text) in verdicts.items():
        if verdict != linearizability.OK and text:
            print(f"-- {name}: {verdict}\n{text[:4000]}")

    if failed or o.keep:
        folder = o.failure_dir or os.path.join(
            os.getcwd(), "nemesis-failures", f"seed-{o.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
        save_folder(folder, o, nem, logs, hist_path, ref_path, final_path, client_log, verdicts,
                    R)
        print(f"history, schedule and logs saved in {folder}")
    if not failed and not o.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"nemesis: {'FAILED' if failed else 'ok'} (seed {o.seed})")
    return 1 if failed else 0


def save_folder(folder, o, nem, logs, hist_path, ref_path, final_path, client_log, verdicts,
                R) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "history.jsonl"), "w", encoding="utf-8") as out:
        try:
            with open(hist_path, encoding="utf-8") as f:
                shutil.copyfileobj(f, out)
        except OSError:
            pass
    for path in (ref_path, final_path, client_log):
        if os.path.exists(path):
            shutil.copy(path, folder)
    with open(os.path.join(folder, "schedule.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": o.seed, "time": o.time, "voters": o.voters, "learners": o.learners,
                   "faults": list(o.fault_names), "server": o.server, "final_revision": R,
                   "schedule": nem.schedule, "crashes": nem.crashes, "problems": nem.problems,
                   "verdicts": {k: v for k, (v, _) in verdicts.items()}}, f, indent=1)
    for name, d in logs.items():
        dst = os.path.join(folder, "logs", name)
        os.makedirs(dst, exist_ok=True)
        try:
            for fn in os.listdir(d):
                if fn.startswith("server.") and fn.endswith(".log"):
                    shutil.copy(os.path.join(d, fn), dst)
        except OSError:
            pass
    with open(os.path.join(folder, "replay.sh"), "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\n# the verdicts again, from the saved files\n"
                f"python3 {os.path.join(HERE, 'check.py')} history.jsonl --reference "
                f"reference.jsonl --final final.jsonl --current-revision {R or 0} --unique-values\n"
                f"# the same seed again, on a fresh cluster (timings differ):\n"
                f"# tests/nemesis/run --seed {o.seed} --time {o.time:g} --faults "
                f"{','.join(o.fault_names)} --voters {o.voters} --learners {o.learners}\n")


if __name__ == "__main__":
    sys.exit(main())
