#!/usr/bin/env python3
"""Edge-replica read benchmark (issue 11): reads on a remote learner behind a delayed link.

Topology, for Outpost and then for etcd 3.4 (fresh clusters, one after the other, same machine):
a 3-voter core on loopback (heartbeat 100 ms, election 1000 ms) and one learner in the "remote
region": every peer link goes through tests/integration/proxy.py (one proxy in front of each
member's peer port, advertised as that member's peer URL, so all members share one
--initial-cluster), and every connection from or to the learner is delayed --delay-ms each way
(the proxy tells the learner's connections apart by the dialling pid, see proxy.py). The
benchmark clients are in the remote region: outpost-bench dials the learner's client port
directly (no delay).

Rows (each at every --clients level; `outpost-bench range KEY --consistency c`):
  outpost serializable   learner with --replica-read-policy=serializable, consistency s
  outpost linearizable   --replica-read-policy=linearizable, consistency l (read index from the
                         leader, batched: one round in flight, every read waiting joins the next)
  outpost bounded        --replica-read-policy=bounded (default bounds), consistency l
  etcd learner           etcd 3.4 learner, consistency s (etcd 3.4 answers only serializable
                         reads on a learner; `--etcd-remote voter` makes it a 4th voter instead)
  etcd grpc-proxy s      `etcd grpc-proxy start` in the remote region, its --endpoints the core
                         voters' client ports through delaying proxies (grpc-proxy -> core
                         delayed, client -> grpc-proxy local); it caches serializable ranges
  etcd grpc-proxy l      the same, consistency l (every read crosses the link: etcd's only way to
                         a linearizable read from the remote region)
The learner is restarted (same data dir) to change its read policy. Before the reads the core
holds --keys preloaded keys (outpost-bench put, 256-byte values) and KEY (256 bytes).

Per row: rps, p50, p99 (outpost-bench --json), the leader's CPU seconds (utime+stime from
/proc/PID/stat around the run) per 100 000 reads, the serving process's CPU per 100 000 reads
(the learner, or the grpc-proxy), read-index rounds the learner sent (GET /replica counters;
reads per round) and the ratios of rps and p99 to the etcd learner row at the same client
count. Prints the table and writes it (and the raw JSON lines) to --out.

Usage: see replica.sh (the entry point) or `replica.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import proxy  # noqa: E402
import replica_util as ru  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY = "replica-bench-key"
REFERENCE = "etcd learner"

# (row name, server kind, consistency, learner read policy or None)
ROWS = [
    ("outpost serializable", "outpost", "s", "serializable"),
    ("outpost linearizable", "outpost", "l", "linearizable"),
    ("outpost bounded", "outpost", "l", "bounded"),
    (REFERENCE, "etcd", "s", None),
    ("etcd grpc-proxy s", "etcd", "s", None),
    ("etcd grpc-proxy l", "etcd", "l", None),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(pid) -> float | None:
    """utime + stime of a process, seconds (None if it is gone)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def conns_for(clients: int) -> int:
    return 1 if clients <= 1 else 4 if clients <= 16 else 16


def total_for(o, consistency: str, clients: int, remote: bool) -> int:
    """Requests per run. Reads answered in the remote region: thousands per second; reads that
    cross the link (linearizable, or every read of etcd's grpc-proxy l): about clients per
    round trip (1 client: ~20/s at 2 x 25 ms)."""
    if remote:
        base = min(10000, max(200, 125 * clients))       # 1: 200, 16: 2 000, 256: 10 000
    else:
        base = min(50000, 5000 + 1600 * (clients - 1))   # 1: 5 000, 16: 29 000, 256: 50 000
    return max(1, int(base * o.scale))


class Bench:
    def __init__(self, o, work: str):
        self.o = o
        self.work = work
        self.results: list[dict] = []
        self.jsonl = open(o.out + ".jsonl", "w")

    def run(self, row: str, endpoint: str, consistency: str, clients: int, total: int,
            leader, serving_pid, learner=None) -> dict:
        """One outpost-bench range run, with CPU and read-index counters around it."""
        conns = conns_for(clients)
        cmd = [self.o.bench, "--endpoints", endpoint, "--clients", str(clients), "--conns",
               str(conns), "--timeout", f"{self.o.run_timeout}s", "--json", "range", KEY,
               "--consistency", consistency, "--total", str(total)]
        lc0 = ru.counters(learner) if learner is not None else {}
        l0, s0 = cpu_seconds(leader.pid), cpu_seconds(serving_pid)
        t0 = time.monotonic()
        r = harness.run(cmd, timeout=self.o.run_timeout + 30)
        wall = time.monotonic() - t0
        l1, s1 = cpu_seconds(leader.pid), cpu_seconds(serving_pid)
        lc1 = ru.counters(learner) if learner is not None else {}
        doc = None
        for line in r.stdout.splitlines():
            if line.strip().startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    pass
        res = {"row": row, "clients": clients, "conns": conns, "total": total,
               "consistency": consistency, "wall": round(wall, 2)}
        if doc is None:
            res["failed"] = f"exit {r.rc}: {r.stderr.strip()[-300:]}"
        else:
            res["bench"] = doc
            ok = doc.get("completed", 0) - doc.get("errors", 0)
            res["ok"] = ok
            if l0 is not None and l1 is not None:
                res["leader_cpu"] = round(l1 - l0, 3)
            if s0 is not None and s1 is not None:
                res["serving_cpu"] = round(s1 - s0, 3)
            k = "read_index_rounds_sent"
            if isinstance(lc0.get(k), int) and isinstance(lc1.get(k), int):
                res["rounds"] = lc1[k] - lc0[k]
            if doc.get("errors"):
                res["errors_seen"] = doc.get("error_distribution")
        self.results.append(res)
        self.jsonl.write(json.dumps(res) + "\n")
        self.jsonl.flush()
        log("  %-22s clients=%-4d %s" % (row, clients, brief(res)))
        return res

    def row_levels(self, row, endpoint, consistency, remote, leader, serving_pid, learner=None):
        for clients in self.o.clients:
            self.run(row, endpoint, consistency, clients,
                     total_for(self.o, consistency, clients, remote), leader, serving_pid,
                     learner)


def brief(res: dict) -> str:
    if "failed" in res:
        return "FAILED " + res["failed"]
    d = res["bench"]
    return ("rps=%.0f p50=%.2fms p99=%.2fms errors=%s leader_cpu=%ss%s%s" % (
        d.get("rps", 0), d.get("p50", 0) * 1000, d.get("p99", 0) * 1000, d.get("errors"),
        res.get("leader_cpu"), " rounds=%d" % res["rounds"] if "rounds" in res else "",
        " TIMED OUT" if d.get("timed_out") else ""))


def namespace(o, kind: str) -> argparse.Namespace:
    return argparse.Namespace(server=kind, outpost=o.outpost, etcd=o.etcd, etcdctl=o.etcdctl,
                              raw_grpc="", keep=o.keep,
                              workdir=tempfile.mkdtemp(prefix=f"{kind}-", dir=o.workdir))


def preload(o, c: harness.Cluster, leader) -> None:
    eps = ",".join(m.grpc_addr for m in c.voters())
    if o.keys > 0:
        r = harness.run([o.bench, "--endpoints", eps, "--conns", "3", "--clients", "16",
                         "--json", "put", "--total", str(o.keys), "--key-space-size",
                         str(o.keys), "--sequential-keys", "--key-size", "16", "--val-size",
                         "256"], timeout=300)
        if not r.ok:
            raise RuntimeError(f"preload failed\n{r.describe()}")
    r = leader.ctl("put", KEY, "v" * 256)
    if not r.ok:
        raise RuntimeError(f"put {KEY} failed\n{r.describe()}")


def start_core(o, kind: str, net: proxy.PeerNetwork, prefix: str):
    ns = namespace(o, kind)
    c = harness.Cluster(ns, prefix=prefix, size=3, peer_network=net,
                        heartbeat_ms=100, election_ms=1000)
    c.start(timeout=60)
    leader, term, _ = c.wait_leader(timeout=30)
    log(f"[{kind}] core up: leader {leader.name} (pid {leader.pid}) term {term}")
    preload(o, c, leader)
    return c, leader


def add_remote(o, c: harness.Cluster, net: proxy.PeerNetwork, name: str, flags, learner=True):
    """The remote member: added (`member add`, a learner unless told), behind its own peer proxy
    (it advertises the proxy's URL), its links delayed before it starts, then started and waited
    for until it has everything the leader has."""
    p = net.proxy_for(name, 0)  # target set once the member's ports are known
    holder: dict = {}
    # Registered before `member add` (so before anyone dials the proxy), and by swapping in a
    # new dict: PeerNetwork.identify() iterates pid_fns in the proxies' accept threads, and
    # register() adding to it meanwhile kills that thread ("dictionary changed size during
    # iteration"; seen here with replica_util.add_replica, which registers after the add).
    fns = dict(net.pid_fns)
    fns[name] = lambda: holder["m"].pid if "m" in holder and holder["m"].running() else None
    net.pid_fns = fns
    net.set_delay(name, o.delay_ms)
    extra = list(c.members[0].extra_flags) + list(flags)
    m, r = c.add_member(name, learner=learner, peer_url=p.url, start=False, extra_flags=extra)
    if m is None:
        raise RuntimeError(f"member add {name} failed\n{r.describe()}")
    holder["m"] = m
    p.target_port = m.peer_port
    m.start(timeout=120)
    c.wait_in_sync(m, timeout=120)
    return m


def idle_rate(pid, seconds: float = 3.0) -> float | None:
    a = cpu_seconds(pid)
    time.sleep(seconds)
    b = cpu_seconds(pid)
    return None if a is None or b is None else (b - a) / seconds


def run_outpost(o, b: Bench, info: dict) -> None:
    net = proxy.PeerNetwork()
    c, leader = start_core(o, "outpost", net, "ob")
    learner = None
    try:
        for row, kind, consistency, policy in ROWS:
            if kind != "outpost" or row not in o.rows:
                continue
            flags = [f"--replica-read-policy={policy}"]
            if learner is None:
                learner = add_remote(o, c, net, "ob4", flags)
                log(f"[outpost] learner ob4 (pid {learner.pid}) in sync behind "
                    f"{o.delay_ms} ms")
                info["outpost_leader_idle_cpu"] = idle_rate(leader.pid)
            elif learner.extra_flags[-1] != flags[0]:
                learner.extra_flags[-1] = flags[0]
                learner.restart(timeout=120)
                c.wait_in_sync(learner, timeout=120)
            st = ru.replica_status(learner) or {}
            if st.get("read_policy") not in (None, policy):
                raise RuntimeError(f"learner reports read_policy {st.get('read_policy')}, "
                                   f"wanted {policy}")
            leader, _, _ = c.wait_leader(c.voters(), timeout=30)
            # One read first: a linearizable read must really cross the link (>= 2 x delay).
            t0 = time.monotonic()
            r = learner.ctl("get", KEY, f"--consistency={consistency}", command_timeout="10s")
            took = (time.monotonic() - t0) * 1000
            if not r.ok:
                raise RuntimeError(f"{row}: a single get on the learner failed\n{r.describe()}")
            log(f"[outpost] {row}: single etcdctl get took {took:.0f} ms")
            b.row_levels(row, learner.grpc_addr, consistency, consistency == "l" and
                         policy == "linearizable", leader, learner.pid, learner)
        info["outpost_learner_status"] = ru.replica_status(learner) if learner else None
    finally:
        stop_cluster(c, net)


def stop_cluster(c: harness.Cluster, net: proxy.PeerNetwork) -> None:
    """SIGTERM each member (3 s, then SIGKILL: etcd 3.4 can sit in its graceful stop for
    long after a leadership transfer), then the peer proxies."""
    for m in c.members:
        m.stop(timeout=3)
    for p in net.proxies.values():
        p.close()


def start_grpc_proxy(o, c: harness.Cluster, work: str):
    """`etcd grpc-proxy start` whose endpoints are delaying proxies in front of the voters'
    client ports. Returns (process, its address, the delaying proxies)."""
    delayed = [proxy.Proxy(m.client_port, f"client-{m.name}", delay_ms=o.delay_ms)
               for m in c.voters()]
    port = harness.free_port()
    addr = f"127.0.0.1:{port}"
    d = os.path.join(work, "grpc-proxy")
    os.makedirs(d, exist_ok=True)
    logf = open(os.path.join(d, "proxy.log"), "wb")
    proc = subprocess.Popen(
        [o.etcd, "grpc-proxy", "start",
         "--endpoints=" + ",".join(f"127.0.0.1:{p.port}" for p in delayed),
         f"--listen-addr={addr}", f"--advertise-client-url={addr}",
         f"--data-dir={os.path.join(d, 'data')}"],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
        preexec_fn=harness._die_with_parent)
    harness._live_processes[proc.pid] = proc   # killed by pid at exit whatever happens
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"grpc-proxy exited with {proc.returncode}; see {d}/proxy.log")
        r = harness.run([o.bench, "--endpoints", addr, "--dial-timeout", "1s", "--timeout",
                         "5s", "range", KEY, "--consistency", "s", "--total", "1"], timeout=10)
        if r.ok:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"grpc-proxy not answering\n{r.describe()}")
        time.sleep(0.2)
    return proc, addr, delayed


def stop_proc(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    harness._live_processes.pop(proc.pid, None)


def run_etcd(o, b: Bench, info: dict) -> None:
    net = proxy.PeerNetwork()
    c, leader = start_core(o, "etcd", net, "eb")
    gp = None
    delayed = []
    try:
        if REFERENCE in o.rows:
            remote = add_remote(o, c, net, "eb4", [], learner=o.etcd_remote == "learner")
            log(f"[etcd] remote {o.etcd_remote} eb4 (pid {remote.pid}) in sync behind "
                f"{o.delay_ms} ms")
            leader, _, _ = c.wait_leader(c.voters(), timeout=30)
            info["etcd_leader_idle_cpu"] = idle_rate(leader.pid)
            b.row_levels(REFERENCE, remote.grpc_addr, "s", False, leader, remote.pid)
        if any(r.startswith("etcd grpc-proxy") for r in o.rows):
            gp, addr, delayed = start_grpc_proxy(o, c, c.members[0].dir)
            log(f"[etcd] grpc-proxy (pid {gp.pid}) on {addr}, endpoints delayed {o.delay_ms} ms")
            leader, _, _ = c.wait_leader(c.voters(), timeout=30)
            if "etcd_leader_idle_cpu" not in info:
                info["etcd_leader_idle_cpu"] = idle_rate(leader.pid)
            for row, consistency in (("etcd grpc-proxy s", "s"), ("etcd grpc-proxy l", "l")):
                if row in o.rows:
                    b.row_levels(row, addr, consistency, consistency == "l", leader, gp.pid)
    finally:
        if gp is not None:
            stop_proc(gp)
        for p in delayed:
            p.close()
        stop_cluster(c, net)


def table(o, results: list[dict], info: dict) -> str:
    ref = {r["clients"]: r for r in results if r["row"] == REFERENCE and "bench" in r}

    def f(v, fmt):
        return fmt % v if v is not None else "-"

    def per100k(res, k):
        ok = res.get("ok") or 0
        return res[k] * 100000 / ok if k in res and ok > 0 else None

    def ratio(a, b):
        return "%.2f" % (a / b) if a is not None and b else "-"

    hdr = ("row", "clients", "conns", "total", "rps", "p50 ms", "p99 ms", "leader CPU s/100k",
           "serving CPU s/100k", "reads/round", "rps / etcd", "p99 / etcd", "errors")
    rows = [hdr]
    for r in results:
        if "failed" in r:
            rows.append((r["row"], str(r["clients"]), str(r["conns"]), str(r["total"]))
                        + ("FAILED",) + ("-",) * 8)
            continue
        d = r["bench"]
        e = ref.get(r["clients"], {}).get("bench")
        rps = d.get("rps")
        p99 = d.get("p99")
        rounds = r.get("rounds")
        rows.append((
            r["row"], str(r["clients"]), str(r["conns"]), str(r["total"]),
            f(rps, "%.0f") + ("*" if d.get("timed_out") else ""),
            f(d.get("p50", 0) * 1000, "%.2f"), f(p99 * 1000 if p99 is not None else None, "%.2f"),
            f(per100k(r, "leader_cpu"), "%.2f"), f(per100k(r, "serving_cpu"), "%.2f"),
            ("%.1f" % (r["ok"] / rounds) if rounds else "local") if rounds is not None else "-",
            ratio(rps, e.get("rps") if e else None), ratio(p99, e.get("p99") if e else None),
            str(d.get("errors", "?"))))
    widths = [max(len(x[i]) for x in rows) for i in range(len(hdr))]
    out = []
    for n, x in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(x, widths))) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")

    # Linearizable reads in the remote region, both ways: the learner's batched read index vs
    # etcd's grpc-proxy passing each read to the core.
    lin = {r["clients"]: r for r in results if r["row"] == "outpost linearizable" and "bench" in r}
    gpl = {r["clients"]: r for r in results if r["row"] == "etcd grpc-proxy l" and "bench" in r}
    both = [c for c in lin if c in gpl]
    if both:
        out.append("")
        out.append("linearizable reads in the remote region: outpost linearizable / etcd grpc-proxy l"
                   " (rps > 1, latencies and CPU < 1: Outpost better)")
        out.append("")
        h2 = ("clients", "rps", "p50", "p99", "leader CPU/read", "serving CPU/read")
        t2 = [h2]
        for c in both:
            a, g = lin[c], gpl[c]
            t2.append((str(c), ratio(a["bench"].get("rps"), g["bench"].get("rps")),
                       ratio(a["bench"].get("p50"), g["bench"].get("p50")),
                       ratio(a["bench"].get("p99"), g["bench"].get("p99")),
                       ratio(per100k(a, "leader_cpu"), per100k(g, "leader_cpu")),
                       ratio(per100k(a, "serving_cpu"), per100k(g, "serving_cpu"))))
        w2 = [max(len(x[i]) for x in t2) for i in range(len(h2))]
        for n, x in enumerate(t2):
            out.append("| " + " | ".join(c.rjust(w) for c, w in zip(x, w2)) + " |")
            if n == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in w2) + "|")

    def idle(k):
        v = info.get(k)
        return "%.3f CPU s/s" % v if v is not None else "?"
    head = [
        f"Reads on a remote member behind a {o.delay_ms} ms one-way peer delay "
        f"(3-voter core + 1 remote member: outpost's a learner, etcd's a {o.etcd_remote}); clients "
        f"next to it; one key {KEY} (256 B) read, {o.keys} keys preloaded",
        f"outpost: {info.get('outpost_version')}; etcd: {info.get('etcd_version')}; "
        f"{os.cpu_count()} cores; load average before {info.get('load_before')}, after "
        f"{info.get('load_after')}; {info.get('wall', '?')} s wall",
        f"idle leader CPU (heartbeats etc., included in the per-100k figures): outpost "
        f"{idle('outpost_leader_idle_cpu')}, etcd {idle('etcd_leader_idle_cpu')}",
        "serving = the process answering the client (the remote member, or the grpc-proxy); "
        "reads/round = reads per read-index round the learner sent (local: none sent); ratios vs the "
        f"'{REFERENCE}' row at the same client count; * = run hit --run-timeout",
        "",
    ]
    return "\n".join(head + out) + "\n"


def main() -> int:
    global REFERENCE, ROWS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(REPO, "build"),
                   help="where outpost and outpost-bench are (default build/)")
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    p.add_argument("--delay-ms", type=float, default=25, help="one-way delay (default 25)")
    p.add_argument("--clients", default="1,16,256", help="client levels (default 1,16,256)")
    p.add_argument("--rows", default=",".join(r[0] for r in ROWS),
                   help="which rows, comma list of names (default all)")
    p.add_argument("--servers", default="outpost,etcd")
    p.add_argument("--etcd-remote", choices=["learner", "voter"], default="learner",
                   help="the etcd remote member: a learner (same topology as Outpost's, the "
                        "default) or a 4th voter (a follower)")
    p.add_argument("--keys", type=int, default=1000, help="keys preloaded (default 1000)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every --total")
    p.add_argument("--run-timeout", type=int, default=60, help="seconds per run (default 60)")
    p.add_argument("--out", default="", help="table file (default DIR/replica-bench.txt; "
                   "the raw JSON lines go to the same name + .jsonl)")
    p.add_argument("--workdir", default="")
    p.add_argument("--keep", action="store_true", help="keep the work dir (data, logs)")
    o = p.parse_args()
    o.build = os.path.abspath(o.build)
    o.outpost = os.path.join(o.build, "outpost")
    o.bench = os.path.join(o.build, "outpost-bench")
    for path in (o.outpost, o.bench, o.etcd, o.etcdctl):
        if not os.access(path, os.X_OK):
            p.error(f"not found or not executable: {path}")
    if o.etcd_remote == "voter":  # the remote etcd member is a follower: name the row so
        REFERENCE = "etcd follower"
        ROWS = [(REFERENCE if n == "etcd learner" else n, k, c, pol) for n, k, c, pol in ROWS]
        o.rows = o.rows.replace("etcd learner", REFERENCE)
    o.clients = [int(x) for x in o.clients.replace(" ", ",").split(",") if x]
    o.rows = [x.strip() for x in o.rows.split(",") if x.strip()]
    servers = [x.strip() for x in o.servers.split(",")]
    o.rows = [r for r in o.rows if any(r == n and k in servers for n, k, _, _ in ROWS)]
    o.out = os.path.abspath(o.out or os.path.join(o.build, "replica-bench.txt"))
    own_workdir = not o.workdir
    o.workdir = o.workdir or tempfile.mkdtemp(prefix="outpost-replica-bench-")
    os.makedirs(o.workdir, exist_ok=True)

    info = {
        "outpost_version": harness.run([o.outpost, "--version"]).stdout.strip().splitlines()[0:1],
        "etcd_version": harness.run([o.etcd, "--version"]).stdout.strip().splitlines()[0:1],
        "load_before": open("/proc/loadavg").read().split()[:3],
    }
    info["outpost_version"] = (info["outpost_version"] or ["?"])[0]
    info["etcd_version"] = (info["etcd_version"] or ["?"])[0]
    b = Bench(o, o.workdir)
    t0 = time.monotonic()
    rc = 0
    try:
        if "outpost" in servers:
            run_outpost(o, b, info)
        if "etcd" in servers:
            run_etcd(o, b, info)
    except Exception as e:  # report what was measured so far, then fail
        log(f"replica.py: {type(e).__name__}: {e}")
        rc = 1
    info["wall"] = round(time.monotonic() - t0)
    info["load_after"] = open("/proc/loadavg").read().split()[:3]
    info["load_before"] = " ".join(info["load_before"])
    info["load_after"] = " ".join(info["load_after"])
    text = table(o, b.results, info)
    print(text, end="")
    with open(o.out, "w") as f:
        f.write(text)
    b.jsonl.write(json.dumps({"info": info}) + "\n")
    b.jsonl.close()
    log(f"table written to {o.out} (raw: {o.out}.jsonl)")
    if o.keep or rc:
        log(f"work dir kept: {o.workdir}")
    elif own_workdir:
        import shutil
        shutil.rmtree(o.workdir, ignore_errors=True)
    if any("failed" in r or r["bench"].get("errors") for r in b.results):
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
