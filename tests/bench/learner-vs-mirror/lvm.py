#!/usr/bin/env python3
"""Learner vs mirror (issue 12): the same workload seen from a remote region three ways.

Topology (Outpost everywhere, one machine, loopback):
  core       3 voters (heartbeat 100 ms, election 1000 ms), every peer link through
             tests/integration/proxy.py (the replica.py topology, reused from tests/bench/replica.py)
  learner    a 4th member added with `member add --learner`, `--replica-read-policy=serializable`,
             every connection from or to it delayed --delay-ms each way (per-member peer proxies)
  mirror     a 1-member Outpost cluster fed by `outpost-mirror --leases=mirror --prefix=P`, its
             source endpoints the voters' client ports through delaying client-side proxies
             (the leader's first), destination local
  make-mirror  a second 1-member cluster fed by `etcdctl make-mirror --prefix=P` (etcdctl 3.4)
             through the same delaying client proxies
The workload client and a reference watch sit next to the core (no delay); a "remote reader"
watch (`etcdctl watch --prefix P -w json`) on each remote target timestamps every watch response
as it arrives.

Workload (--rate ops/s, fixed schedule, unary gRPC calls to the leader over one connection
with grpcio (Debian's python3-grpcio; without it one outpost-raw-grpc process per op):
45% put on /P/k/NNN, 10% put on /P/l/NNN attached to a lease kept alive (`etcdctl lease
keep-alive`), 10% put on /P/e/<lease>/N attached to a short lease (TTL 5 s, a new one every 2 s)
left to expire, 15% delete of an existing /P/k/ key, 20% a Txn putting the 10 keys /P/t/G/0..9 with
one value tag. Every value is unique, so a remote event maps back to its source revision (put:
by value; delete: the first source delete of that key after the last put the remote saw).

Phases: (1) CPU: the leader's utime+stime per second (/proc/PID/stat) over --cpu-phase-s with the
workload alone, then with only outpost-mirror, only make-mirror, only the learner attached (each
after a short warm-up); extra = phase - workload alone. (2) The comparison run, all three remote
modes at once: steady state, a --cut-s cut of the remote region's links (--cut-mode hold: every
byte stalled, connections stay up, like a silent partition TCP survives; isolate: connections
reset, new ones blackholed), settle, kill -9 of outpost-mirror and make-mirror and restart 2 s
later, settle, kill -9 of the learner and restart 2 s later, settle, wait for convergence, then
compare the remote key spaces with the source.

Output (--out, default BUILD/learner-vs-mirror/): table.md (also printed), lag.png (lag of every
source revision over commit time, one panel per mode), events.json (raw timestamps).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

try:
    import grpc  # Debian python3-grpcio
except ImportError:
    grpc = None

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(BENCH))
sys.path.insert(0, os.path.join(BENCH, "..", "integration"))
sys.path.insert(0, BENCH)
import harness  # noqa: E402
import pb  # noqa: E402
import proxy  # noqa: E402
import replica as rb  # noqa: E402  (tests/bench/replica.py: core + remote learner topology)

MODES = ["learner", "outpost-mirror", "make-mirror"]
T0 = time.monotonic()


def log(msg: str) -> None:
    print("[%6.1f] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def now() -> float:
    return time.monotonic()


# --------------------------------------------------------------------------------------------
# Watches: one etcdctl watch process per target, every response timestamped on arrival


class Watch:
    """`etcdctl watch --prefix P -w json` on one endpoint; restarted (from the last revision
    seen + 1) whenever it exits. responses: [(arrival, [(type, key, value, mod_rev), ...])]."""

    def __init__(self, o, name: str, endpoints: str, prefix: str):
        self.o, self.name, self.endpoints, self.prefix = o, name, endpoints, prefix
        self.responses: list = []
        self.last_rev = 0
        self.restarts = 0
        self.proc = None
        self.stopped = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True, name=f"watch-{name}")

    def start(self) -> "Watch":
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopped:
            cmd = [self.o.etcdctl, f"--endpoints={self.endpoints}", "watch", "--prefix",
                   self.prefix, "-w", "json"]
            if self.last_rev:
                cmd.append(f"--rev={self.last_rev + 1}")
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=harness.etcdctl_env(),
                                 preexec_fn=harness._die_with_parent)
            harness._live_processes[p.pid] = p
            self.proc = p
            for line in p.stdout:
                t = now()
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                evs = []
                for ev in doc.get("Events") or []:
                    kv = ev.get("kv") or {}
                    key = base64.b64decode(kv.get("key", "")).decode(errors="replace")
                    val = base64.b64decode(kv.get("value", "")).decode(errors="replace")
                    typ = "D" if ev.get("type") in (1, "DELETE") else "P"
                    evs.append((typ, key, val, int(kv.get("mod_revision", 0))))
                if evs:
                    with self.lock:
                        self.responses.append((t, evs))
                        self.last_rev = max(self.last_rev, max(e[3] for e in evs))
            p.wait()
            harness._live_processes.pop(p.pid, None)
            if self.stopped:
                return
            self.restarts += 1
            time.sleep(0.3)

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


# --------------------------------------------------------------------------------------------
# Workload


class Workload:
    def __init__(self, o, leader_addr: str, prefix: str):
        self.o = o
        self.addr = leader_addr
        self.p = prefix
        self.rng = random.Random(12)
        self.seq = 0
        self.existing: set[str] = set()
        self.done: list = []   # (send time, answer time, revision or 0, op kind, error)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.kept_lease = 0x1c000001
        self.exp_lease = 0
        self.exp_lease_t = 0.0
        self.exp_n = 0
        self.keepalive = None
        self.thread = threading.Thread(target=self._loop, daemon=True, name="workload")
        # One HTTP/2 connection for every op (grpcio from Debian, raw bytes in and out); without
        # grpcio, one outpost-raw-grpc process per op (~40 ms CPU each: too much at 50 ops/s).
        self.channel = grpc.insecure_channel(leader_addr) if grpc is not None else None

    def call(self, method: str, payload: bytes, kind: str) -> int:
        t0 = now()
        rev, err = 0, ""
        try:
            if grpc is not None:
                try:
                    body = self.channel.unary_unary(method)(payload, timeout=5)
                    code, message = 0, ""
                except grpc.RpcError as e:
                    body, code, message = b"", e.code().value[0], e.details()
            else:
                r = pb.call(self.o.raw_grpc, self.addr, method, payload, timeout_ms=5000)
                body, code, message = r.response, r.code, r.message
            if code != 0:
                err = f"{pb.GRPC_CODES.get(code, code)}: {message}"
            else:
                for num, _, v in pb.parse(body):
                    if num == 1 and isinstance(v, bytes):
                        for n2, _, v2 in pb.parse(v):
                            if n2 == 3:
                                rev = v2
        except Exception as e:  # noqa: BLE001
            err = str(e)[:200]
        with self.lock:
            self.done.append((t0, now(), rev, kind, err))
        return rev

    def grant(self, lid: int, ttl: int) -> None:
        self.call("/etcdserverpb.Lease/LeaseGrant", pb.field_varint(1, ttl) +
                  pb.field_varint(2, lid), "grant")

    def start(self) -> "Workload":
        self.grant(self.kept_lease, 10)
        self.keepalive = subprocess.Popen(
            [self.o.etcdctl, f"--endpoints={self.addr}", "lease", "keep-alive",
             "%x" % self.kept_lease], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=harness.etcdctl_env(),
            preexec_fn=harness._die_with_parent)
        harness._live_processes[self.keepalive.pid] = self.keepalive
        self.thread.start()
        return self

    def _one(self) -> None:
        self.seq += 1
        s = self.seq
        r = self.rng.random()
        put = "/etcdserverpb.KV/Put"
        if r < 0.45:
            k = f"{self.p}k/{self.rng.randrange(200):03d}"
            self.existing.add(k)
            self.pool.submit(self.call, put, pb.put_request(k, f"p{s}"), "put")
        elif r < 0.55:
            k = f"{self.p}l/{self.rng.randrange(50):03d}"
            self.pool.submit(self.call, put, pb.put_request(k, f"l{s}", lease=self.kept_lease),
                             "put-lease-kept")
        elif r < 0.65:
            if now() - self.exp_lease_t > 2:
                self.exp_n += 1
                self.exp_lease = 0x2e000000 + self.exp_n
                self.exp_lease_t = now()
                self.grant(self.exp_lease, 5)   # inline: the puts below need it
            k = f"{self.p}e/{self.exp_lease:x}/{self.rng.randrange(1000)}"
            self.pool.submit(self.call, put, pb.put_request(k, f"e{s}", lease=self.exp_lease),
                             "put-lease-expiring")
        elif r < 0.80 and self.existing:
            k = self.rng.choice(sorted(self.existing))
            self.existing.discard(k)
            self.pool.submit(self.call, "/etcdserverpb.KV/DeleteRange", pb.delete_request(k),
                             "delete")
        else:
            g = self.rng.randrange(10)
            ops = [pb.op_put(pb.put_request(f"{self.p}t/{g}/{j}", f"t{s}")) for j in range(10)]
            self.pool.submit(self.call, "/etcdserverpb.KV/Txn", pb.txn_request(success=ops),
                             "txn10")

    def _loop(self) -> None:
        interval = 1.0 / self.o.rate
        nxt = now()
        while not self.stopped.is_set():
            self._one()
            nxt += interval
            d = nxt - now()
            if d > 0:
                self.stopped.wait(d)
            elif d < -1:
                nxt = now()   # fell behind by more than a second: do not burst

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=True)
        if self.channel is not None:
            self.channel.close()


# --------------------------------------------------------------------------------------------
# Processes in the remote region


class Proc:
    """A long-running command (outpost-mirror, etcdctl make-mirror) with a log, killed by pid."""

    def __init__(self, name: str, cmd: list, workdir: str, env=None):
        self.name, self.cmd, self.env = name, cmd, env
        self.dir = workdir
        self.proc = None
        self.starts = 0

    def start(self) -> "Proc":
        self.starts += 1
        logf = open(os.path.join(self.dir, f"{self.name}.{self.starts}.log"), "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=harness._die_with_parent)
        logf.close()
        harness._live_processes[self.proc.pid] = self.proc
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = 9) -> None:
        if self.running():
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            harness._live_processes.pop(self.proc.pid, None)


def metrics(addr: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return out


def dump(o, endpoint: str, prefix: str) -> dict | None:
    r = harness.etcdctl(o, endpoint, "get", "--prefix", prefix, "--consistency=s", "-w", "json",
                        timeout=30, command_timeout="10s")
    if not r.ok:
        return None
    return {base64.b64decode(kv["key"]).decode(errors="replace"):
            base64.b64decode(kv.get("value", "")).decode(errors="replace")
            for kv in json.loads(r.stdout).get("kvs", [])}


class Prober:
    """During the cut: a serializable get on each remote target every second (answered? how
    long?)."""

    def __init__(self, o, targets: dict, key: str):
        self.o, self.targets, self.key = o, targets, key
        self.results: dict = {m: [] for m in targets}
        self.channels = {m: grpc.insecure_channel(ep.replace("http://", ""))
                         for m, ep in targets.items()} if grpc is not None else {}
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(m,), daemon=True)
                        for m in targets]

    def start(self) -> "Prober":
        for t in self.threads:
            t.start()
        return self

    def _loop(self, mode: str) -> None:
        while not self.stopped.is_set():
            t = now()
            if grpc is not None:
                ok = True
                try:
                    self.channels[mode].unary_unary("/etcdserverpb.KV/Range")(
                        pb.range_request(self.key, serializable=True), timeout=2)
                except grpc.RpcError:
                    ok = False
            else:
                ok = harness.etcdctl(self.o, self.targets[mode], "get", self.key,
                                     "--consistency=s", timeout=5, command_timeout="2s").ok
            self.results[mode].append((t, ok, now() - t))
            self.stopped.wait(max(0.0, 1.0 - (now() - t)))

    def stop(self) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=6)


# --------------------------------------------------------------------------------------------
# Analysis


def pct(xs: list, q: float):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q / 100 * len(xs) + 0.5)) - 1))]


def source_model(src: Watch, done: list):
    """From the reference watch (next to the core) and the client's answers: commit time per
    source revision (the client's answer when there was one, else the reference watch's
    arrival: lease expiries), put (key, value) -> revision, deletes per key, txn tags."""
    commit: dict[int, float] = {}
    for _, t_ans, rev, _, err in done:
        if rev and not err:
            commit[rev] = min(commit.get(rev, t_ans), t_ans)
    put_rev: dict = {}
    dels: dict[str, list] = {}
    revs_events: dict[int, int] = {}
    for t, evs in src.responses:
        for typ, key, val, rev in evs:
            commit.setdefault(rev, t)
            commit[rev] = min(commit[rev], t)
            revs_events[rev] = revs_events.get(rev, 0) + 1
            if typ == "P":
                put_rev[(key, val)] = rev
            else:
                dels.setdefault(key, []).append(rev)
    for v in dels.values():
        v.sort()
    return commit, put_rev, dels, revs_events


def analyse(mode: str, w: Watch, commit, put_rev, dels, t_main: float) -> dict:
    first: dict[int, float] = {}
    seen_pairs: set = set()
    last_put: dict[str, int] = {}
    max_rev = 0
    dup = ooo = ooo_exp = unmapped = 0
    early: list = []
    tag_keys: dict[str, set] = {}
    half_tags: set = set()
    arrivals: list = []      # (arrival, max source revision seen so far)
    for t, evs in w.responses:
        touched = set()
        for typ, key, val, mrev in evs:
            if typ == "P":
                srev = mrev if mode == "learner" else put_rev.get((key, val))
                if srev is not None:
                    last_put[key] = srev
                if val.startswith("t"):
                    tag_keys.setdefault(val, set()).add(key)
                    touched.add(val)
            else:
                if mode == "learner":
                    srev = mrev
                else:
                    lst = dels.get(key, [])
                    i = bisect.bisect_right(lst, last_put.get(key, 0))
                    srev = lst[i] if i < len(lst) else None
            if srev is None:
                unmapped += 1
                continue
            if (srev, key, typ) in seen_pairs:
                dup += 1
                continue
            seen_pairs.add((srev, key, typ))
            # A key of an expiring lease deleted remotely: by the source's revision (mirrored
            # delete), or by a destination lease expiring on its own clock (leases = mirror),
            # which can come before the source's expiry. Those are counted apart and do not
            # move the order check of the other writes.
            expiry = typ == "D" and "/e/" in key
            if expiry and commit.get(srev, 0) >= t_main:
                if t < commit.get(srev, t):
                    early.append((commit[srev] - t) * 1000)
                if srev < max_rev:
                    ooo_exp += 1
            if srev not in first:
                if not expiry and srev < max_rev and commit.get(srev, 0) >= t_main:
                    ooo += 1
                first[srev] = t
            if not expiry:
                max_rev = max(max_rev, srev)
        for tag in touched:
            if len(tag_keys[tag]) < 10 and commit.get(put_rev.get(
                    (next(iter(tag_keys[tag])), tag), 0), 0) >= t_main:
                half_tags.add(tag)
        arrivals.append((t, max_rev))
    return {"first": first, "dup": dup, "ooo": ooo, "ooo_exp": ooo_exp, "early": early,
            "unmapped": unmapped,
            "half": len(half_tags), "arrivals": arrivals}


def caught_up_at(arrivals: list, rev: int, after: float):
    """First arrival time >= after at which the remote had seen a source revision >= rev."""
    for t, m in arrivals:
        if t >= after and m >= rev:
            return t
    return None


def last_rev_before(commit: dict, t: float) -> int:
    revs = [r for r, c in commit.items() if c <= t]
    return max(revs) if revs else 0


def fmt(v, f="%.0f"):
    return "-" if v is None else f % v


def report(o, info, commit, revs_events, res, events, src_dump, dumps, prob, cpu) -> str:
    t_main, cut0, cut1 = events["main"], events["cut"], events["cut_end"]
    rest = events["restart_mirrors"]
    rest_l = events["restart_learner"]
    end = events["end"]

    def window(r):
        c = commit[r]
        return c >= t_main and c <= end

    steady = [r for r in commit if window(r) and not (cut0 - 1 <= commit[r] <= cut1 + 15)
              and not (rest[0] - 1 <= commit[r] <= rest[1] + 15)
              and not (rest_l[0] - 1 <= commit[r] <= rest_l[1] + 15)]
    allw = [r for r in commit if window(r)]
    rows = []
    hdr = ["", *MODES]
    rows.append(hdr)

    def line(name, f):
        rows.append([name] + [f(m) for m in MODES])

    def lag_stats(m, revs, q):
        f = res[m]["first"]
        ls = [(f[r] - commit[r]) * 1000 for r in revs if r in f]
        if q == "max":
            return fmt(max(ls) if ls else None)
        return fmt(pct(ls, q))

    line("lag p50 ms, steady (no cut/restart ±15 s)", lambda m: lag_stats(m, steady, 50))
    line("lag p99 ms, steady", lambda m: lag_stats(m, steady, 99))
    line("lag max ms, steady", lambda m: lag_stats(m, steady, "max"))
    line("lag p99 ms, whole run", lambda m: lag_stats(m, allw, 99))
    line("lag max ms, whole run", lambda m: lag_stats(m, allw, "max"))
    line("source revisions never seen remotely", lambda m: "%d / %d" % (
        sum(1 for r in allw if r not in res[m]["first"]), len(allw)))
    line("half txns seen (10-key txn partly visible)", lambda m: str(res[m]["half"]))
    line("out-of-order revisions (new rev < max seen; lease expiries apart)", lambda m: str(res[m]["ooo"]))
    line("lease-expiry deletes out of source order", lambda m: str(res[m]["ooo_exp"]))
    line("lease-expiry deletes seen before the source's (max ms early)", lambda m: "%d (%s)" % (
        len(res[m]["early"]), fmt(max(res[m]["early"]) if res[m]["early"] else None)))
    line("duplicate events (same source write again)", lambda m: str(res[m]["dup"]))

    def lost(m, expiring):
        d = dumps.get(m)
        if d is None or src_dump is None:
            return "?"
        ks = [k for k in d if k not in src_dump and ("/e/" in k) == expiring]
        return str(len(ks))

    def wrong(m):
        d = dumps.get(m)
        if d is None or src_dump is None:
            return "?"
        return "%d missing, %d stale" % (sum(1 for k in src_dump if k not in d),
                                         sum(1 for k in d if k in src_dump and d[k] != src_dump[k]))
    line("lost deletes at end (explicit delete)", lambda m: lost(m, False))
    line("lost deletes at end (expired lease)", lambda m: lost(m, True))
    line("other differences at end", wrong)

    # The cut.
    def probes(m):
        ps = [p for p in prob.get(m, []) if cut0 <= p[0] <= cut1]
        if not ps:
            return "-"
        return "%d/%d (max %.0f ms)" % (sum(1 for p in ps if p[1]), len(ps),
                                        max(p[2] for p in ps) * 1000)
    line(f"cut {o.cut_s:g} s ({o.cut_mode}): serializable reads answered", probes)

    def stale_at_end_of_cut(m):
        # Age of the oldest source write not yet seen remotely, at the end of the cut.
        f = res[m]["first"]
        pending = [commit[r] for r in commit if commit[r] <= cut1 and commit[r] >= t_main
                   and (r not in f or f[r] > cut1)]
        return fmt((cut1 - min(pending)) * 1000 if pending else 0)
    line("cut: staleness at end of cut ms (oldest unseen write)", stale_at_end_of_cut)

    def converge(m, t_from, t_ref):
        rev = last_rev_before(commit, t_ref)
        t = caught_up_at(res[m]["arrivals"], rev, t_from - 60)
        if t is None:
            return "never"
        return fmt(max(0.0, t - t_from) * 1000)
    line("cut: converge after link back ms", lambda m: converge(m, cut1, cut1))
    line("kill -9 + restart (2 s down): converge after restart ms",
         lambda m: converge(m, rest[1], rest[1]) if m != "learner"
         else converge(m, rest_l[1], rest_l[1]))
    line("extra leader CPU, ms/s (vs workload alone)",
         lambda m: fmt(cpu.get(m, 0) * 1000 - cpu.get("workload", 0) * 1000, "%+.1f")
         if m in cpu else "-")

    widths = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
    out = []
    for n, r in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(r, widths))) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    head = [
        f"# learner vs mirror: {o.rate:g} ops/s (45% put, 10% put on a kept lease, 10% put on "
        f"an expiring lease, 15% delete, 20% 10-key txn), remote region behind {o.delay_ms:g} ms "
        "one way",
        "",
        f"outpost: {info['outpost_version']}; etcdctl (make-mirror): {info['etcdctl_version']}; "
        f"{os.cpu_count()} cores; load before {info['load_before']}, after "
        f"{info['load_after']}; {info['wall']} s wall; {len(allw)} source revisions in the "
        f"comparison run ({info['ops']} ops sent, {info['op_errors']} errors)",
        f"leader CPU, workload alone: {cpu.get('workload', 0) * 1000:.1f} ms/s "
        f"(each mode attached alone for {o.cpu_phase_s:g} s; the mirrors' source endpoint "
        "list starts with the leader, so their watch is served by it)",
        "lag = first arrival at the remote watch of a source revision's event - the source "
        "commit (client's answer; lease expiries: a watch next to the core)",
        f"events: cut at {cut0 - t_main:.0f}-{cut1 - t_main:.0f} s, mirrors killed "
        f"{rest[0] - t_main:.0f} s, restarted {rest[1] - t_main:.0f} s; learner killed "
        f"{rest_l[0] - t_main:.0f} s, restarted {rest_l[1] - t_main:.0f} s (comparison-run "
        "time)",
        "",
    ]
    notes = [""] + ["- " + n for n in info.get("notes", [])]
    return "\n".join(head + out + notes) + "\n"


def plot(o, commit, res, events, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t_main = events["main"]
    fig, axes = plt.subplots(len(MODES), 1, figsize=(11, 8), sharex=True)
    for ax, m in zip(axes, MODES):
        f = res[m]["first"]
        xs, ys, miss, early = [], [], [], []
        for r, c in sorted(commit.items()):
            if c < t_main or c > events["end"]:
                continue
            if r in f and f[r] < c:
                early.append(c - t_main)
            elif r in f:
                xs.append(c - t_main)
                ys.append(max(1.0, (f[r] - c) * 1000))
            else:
                miss.append(c - t_main)
        ax.scatter(xs, ys, s=3, label="lag of a source revision")
        if early:
            ax.scatter(early, [1.0] * len(early), s=10, marker="v", color="green",
                       label="seen remotely before the source committed it")
        if miss:
            ax.scatter(miss, [1.0] * len(miss), s=8, marker="x", color="red",
                       label="never seen remotely")
        ax.set_yscale("log")
        ax.set_ylabel("lag ms")
        ax.set_title(m)
        ax.axvspan(events["cut"] - t_main, events["cut_end"] - t_main, color="orange",
                   alpha=0.2, label="link cut")
        if m == "learner":
            ax.axvspan(events["restart_learner"][0] - t_main,
                       events["restart_learner"][1] - t_main, color="grey", alpha=0.3,
                       label="kill -9 .. restart")
        else:
            ax.axvspan(events["restart_mirrors"][0] - t_main,
                       events["restart_mirrors"][1] - t_main, color="grey", alpha=0.3,
                       label="kill -9 .. restart")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("source commit time, s since the comparison run started")
    fig.suptitle(f"replication lag to the remote region ({o.delay_ms:g} ms one way, "
                 f"{o.rate:g} ops/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------------


def cpu_rate(pid, seconds: float) -> float | None:
    a = rb.cpu_seconds(pid)
    time.sleep(seconds)
    b = rb.cpu_seconds(pid)
    return None if a is None or b is None else (b - a) / seconds


def run(o, info) -> tuple[str, dict]:
    P = o.prefix
    net = proxy.PeerNetwork()
    o.keys = 0
    c, leader = rb.start_core(o, "outpost", net, "lv")
    info["notes"] = []
    ns = rb.namespace(o, "outpost")
    dests = {}
    for name in ("dm", "dk"):
        d = harness.Member(ns, name)
        d.start(timeout=60)
        dests[name] = d
    # Client-side proxies in front of the voters' client ports (leader first), delayed: the
    # mirrors' link to the core. A PeerNetwork of their own, so isolate() can cut them all.
    cnet = proxy.PeerNetwork()
    voters = [leader] + [m for m in c.voters() if m is not leader]
    cprox = []
    for m in voters:
        p = proxy.Proxy(m.client_port, f"client-{m.name}", network=cnet, delay_ms=o.delay_ms)
        cnet.proxies[p.name] = p
        cprox.append(p)
    src_eps = ",".join(f"127.0.0.1:{p.port}" for p in cprox)
    maddr = f"127.0.0.1:{harness.free_port()}"
    mirror = Proc("outpost-mirror", [o.mirror, f"--endpoints={src_eps}", f"--prefix={P}",
                                     "--leases=mirror", f"--metrics-listen={maddr}",
                                     "--log-interval-s=5", dests["dm"].endpoint], o.workdir)
    mkm = Proc("make-mirror", [o.etcdctl, f"--endpoints={src_eps}", "make-mirror",
                               f"--prefix={P}", dests["dk"].endpoint], o.workdir,
               env=harness.etcdctl_env())
    follower = [m for m in c.voters() if m is not leader][0]
    src = Watch(o, "source", follower.endpoint, P).start()
    wl = Workload(o, leader.grpc_addr, P)
    cpu: dict = {}
    learner = None
    watches: dict = {}
    prob = None
    events: dict = {}
    try:
        wl.start()
        time.sleep(2)
        log("workload running; CPU phases")
        cpu["workload"] = cpu_rate(leader.pid, o.cpu_phase_s)
        log(f"  workload alone: leader {cpu['workload'] * 1000:.1f} ms/s")
        mirror.start()
        time.sleep(3)
        cpu["outpost-mirror"] = cpu_rate(leader.pid, o.cpu_phase_s)
        log(f"  + outpost-mirror: {cpu['outpost-mirror'] * 1000:.1f} ms/s")
        mirror.kill(15)
        mkm.start()
        time.sleep(3)
        cpu["make-mirror"] = cpu_rate(leader.pid, o.cpu_phase_s)
        log(f"  + make-mirror: {cpu['make-mirror'] * 1000:.1f} ms/s")
        mkm.kill(15)
        learner = rb.add_remote(o, c, net, "lv4", ["--replica-read-policy=serializable"])
        log(f"learner lv4 (pid {learner.pid}) in sync behind {o.delay_ms:g} ms")
        time.sleep(2)
        cpu["learner"] = cpu_rate(leader.pid, o.cpu_phase_s)
        log(f"  + learner: {cpu['learner'] * 1000:.1f} ms/s")
        lead2, _, _ = c.wait_leader(c.voters(), timeout=10)
        if lead2 is not leader:
            info["notes"].append(f"leader changed during the CPU phases ({leader.name} -> "
                                 f"{lead2.name}): CPU figures unreliable")
        # The comparison run: all three at once.
        mirror.start()
        mkm.start()
        targets = {"learner": learner.endpoint, "outpost-mirror": dests["dm"].endpoint,
                   "make-mirror": dests["dk"].endpoint}
        for m in MODES:
            watches[m] = Watch(o, m, targets[m], P).start()
        # Let the mirrors catch up with what they missed while stopped (CPU phases) first.
        t_w = now()
        mark: set = set()
        while now() - t_w < 90:
            time.sleep(1)
            # Caught up: each mirror destination has shown a put the source made after we
            # started waiting (outpost_mirror_lag_revisions is not enough: it is small while
            # the mirror's own watch is still behind).
            with src.lock:
                vals = {e[2] for _, evs in src.responses for e in evs
                        if e[0] == "P" and e[2]}
            if not mark:
                mark.update(v for v in vals)
                continue
            newer = vals - mark
            ok = True
            for m in ("outpost-mirror", "make-mirror"):
                with watches[m].lock:
                    seen = {e[2] for _, evs in watches[m].responses[-50:] for e in evs}
                ok = ok and bool(seen & newer)
            if ok:
                break
        log(f"mirrors caught up after {now() - t_w:.0f} s")
        time.sleep(3)
        events["main"] = now()
        log("comparison run: steady state")
        time.sleep(o.steady_s)
        prob = Prober(o, targets, f"{P}k/000").start()
        events["cut"] = now()
        log(f"cut ({o.cut_mode}) for {o.cut_s:g} s")
        if o.cut_mode == "hold":
            net.hold("lv4", "both")
            for p in cprox:
                p.hold()
        else:
            net.isolate("lv4")
            for p in cprox:
                cnet.isolate(p.name)
        time.sleep(o.cut_s)
        if o.cut_mode == "hold":
            net.release("lv4")
            for p in cprox:
                p.release()
        else:
            net.heal()
            cnet.heal()
        events["cut_end"] = now()
        log("link back")
        time.sleep(3)
        prob.stop()
        time.sleep(o.settle_s)
        log("kill -9 outpost-mirror and make-mirror")
        t_k = now()
        mirror.kill(9)
        mkm.kill(9)
        time.sleep(2)
        mirror.start()
        mkm.start()
        events["restart_mirrors"] = (t_k, now())
        time.sleep(o.settle_s)
        log("kill -9 learner")
        t_k = now()
        learner.kill9()
        time.sleep(2)
        t_s = now()
        learner.start(wait=False)
        events["restart_learner"] = (t_k, t_s)
        time.sleep(o.settle_s)
        events["end"] = now()
        log("stopping the workload; waiting for convergence")
        wl.stop()
        final = max(src.last_rev, 0)
        deadline = now() + 30
        while now() < deadline:
            time.sleep(1)
            final = max(final, src.last_rev)
            if all(watches[m].last_rev >= final for m in ("learner",)) and now() > deadline - 25:
                break
        time.sleep(5)   # the mirrors map revisions; give them a few more seconds
        src_dump = dump(o, leader.endpoint, P)
        dumps = {m: dump(o, targets[m], P) for m in MODES}
        for m in MODES:
            d = dumps[m]
            if d is None or src_dump is None:
                continue
            diff = sorted(k for k in set(d) | set(src_dump) if d.get(k) != src_dump.get(k))
            if diff:
                info["notes"].append(f"{m}: keys differing from the source at the end "
                                     f"(remote/source): " + ", ".join(
                                         f"{k}={d.get(k)}/{src_dump.get(k)}" for k in diff[:8])
                                     + (" ..." if len(diff) > 8 else ""))
        mm = metrics(maddr)
        info["notes"].append(
            "outpost-mirror metrics at end: " + ", ".join(
                f"{k.replace('outpost_mirror_', '')}={v:g}" for k, v in mm.items()
                if k.startswith("outpost_mirror_")))
        for m in MODES:
            if watches[m].restarts:
                info["notes"].append(f"the remote watch on {m} was reopened "
                                     f"{watches[m].restarts} times (etcdctl watch exited)")
        for proc in (mirror, mkm):
            if not proc.running():
                info["notes"].append(f"{proc.name} not running at the end (exit "
                                     f"{proc.proc.returncode}); see its log")
    finally:
        wl.stopped.set()
        for w in list(watches.values()) + [src]:
            w.stop()
        if prob:
            prob.stop()
        mirror.kill(15)
        mkm.kill(9)
        if wl.keepalive is not None and wl.keepalive.poll() is None:
            wl.keepalive.kill()
        for d in dests.values():
            d.stop(timeout=3)
        rb.stop_cluster(c, net)
        cnet.close()
    info["ops"] = len(wl.done)
    info["op_errors"] = sum(1 for d in wl.done if d[4])
    errs: dict = {}
    for d in wl.done:
        if d[4]:
            errs[(d[3], d[4])] = errs.get((d[3], d[4]), 0) + 1
    if errs:
        info["notes"].append("client errors: " + "; ".join(
            f"{n} x {k} ({e})" for (k, e), n in sorted(errs.items(), key=lambda x: -x[1])[:4]))
    commit, put_rev, dels, revs_events = source_model(src, wl.done)
    # Keep only revisions of our prefix (the client also answered lease grants: no event).
    commit = {r: t for r, t in commit.items() if r in revs_events}
    res = {m: analyse(m, watches[m], commit, put_rev, dels, events["main"]) for m in MODES}
    return commit, revs_events, res, events, src_dump, dumps, \
        (prob.results if prob else {}), cpu, watches, src


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(REPO, "build"),
                   help="where outpost, outpost-mirror and the raw-grpc tool are (default build/)")
    p.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    p.add_argument("--out", default="", help="output folder (default BUILD/learner-vs-mirror)")
    p.add_argument("--rate", type=float, default=50, help="workload ops/s (default 50)")
    p.add_argument("--delay-ms", type=float, default=25, help="one-way delay (default 25)")
    p.add_argument("--cut-s", type=float, default=30, help="length of the link cut (default 30)")
    p.add_argument("--cut-mode", choices=["hold", "isolate"], default="hold")
    p.add_argument("--cpu-phase-s", type=float, default=15,
                   help="seconds per CPU phase (default 15)")
    p.add_argument("--steady-s", type=float, default=15,
                   help="steady state before the cut (default 15)")
    p.add_argument("--settle-s", type=float, default=20,
                   help="seconds after the cut and after each restart (default 20)")
    p.add_argument("--prefix", default="/lvm/")
    p.add_argument("--workdir", default="")
    p.add_argument("--keep", action="store_true", help="keep the work dir (data, logs)")
    o = p.parse_args()
    o.build = os.path.abspath(o.build)
    o.outpost = os.path.join(o.build, "outpost")
    o.mirror = os.path.join(o.build, "outpost-mirror")
    o.raw_grpc = os.path.join(o.build, "tests", "integration", "outpost-raw-grpc")
    o.etcd = "/usr/bin/etcd"
    for path in (o.outpost, o.mirror, o.raw_grpc, o.etcdctl):
        if not os.access(path, os.X_OK):
            p.error(f"not found or not executable: {path}")
    o.out = os.path.abspath(o.out or os.path.join(o.build, "learner-vs-mirror"))
    os.makedirs(o.out, exist_ok=True)
    own = not o.workdir
    o.workdir = o.workdir or tempfile.mkdtemp(prefix="outpost-lvm-")
    os.makedirs(o.workdir, exist_ok=True)
    info = {
        "outpost_version": (harness.run([o.outpost, "--version"]).stdout.strip().splitlines()
                            or ["?"])[0],
        "etcdctl_version": (harness.run([o.etcdctl, "version"]).stdout.strip().splitlines()
                            or ["?"])[0],
        "load_before": " ".join(open("/proc/loadavg").read().split()[:3]),
    }
    t0 = now()
    rc = 0
    try:
        (commit, revs_events, res, events, src_dump, dumps, prob, cpu, watches,
         src) = run(o, info)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        log(f"lvm.py: {type(e).__name__}: {e}; work dir kept: {o.workdir}")
        return 1
    info["wall"] = round(now() - t0)
    info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    text = report(o, info, commit, revs_events, res, events, src_dump, dumps, prob, cpu)
    print(text, end="")
    with open(os.path.join(o.out, "table.md"), "w") as f:
        f.write(text)
    try:
        plot(o, commit, res, events, os.path.join(o.out, "lag.png"))
    except Exception as e:  # noqa: BLE001
        log(f"plot failed: {e}")
        rc = 1
    with open(os.path.join(o.out, "events.json"), "w") as f:
        json.dump({"events": events, "commit": commit, "cpu": cpu,
                   "remote": {m: w.responses for m, w in watches.items()},
                   "source": src.responses, "probes": prob}, f)
    log(f"written: {o.out}/table.md, lag.png, events.json")
    if o.keep:
        log(f"work dir kept: {o.workdir}")
    elif own:
        shutil.rmtree(o.workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
