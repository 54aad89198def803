"""Helpers for the edge-replica tests (test_replica_*.py, issue 11): outpost only.

  * ``replica_status(m)``   GET /replica on a member's client URL (HTTP/1.1 on the gRPC port),
                            parsed JSON, or None.
  * ``counters(m)``         its "counters" object ({} if the member did not answer).
  * ``fast_cluster()``      a harness.Cluster with short raft timing (and optional peer proxies).
  * ``add_replica()``       `member add NAME --learner`, then the learner started with its
                            `--replica-*` flags; with a proxy.PeerNetwork, behind its own proxy
                            (advertises the proxy's URL), so its links can be delayed and held.
  * ``bench()``             one outpost-bench run (``--json``), parsed.
  * ``request_timeout_s()`` etcd's request timeout for an election timeout (5 s + 2 elections).
  * ``outpost_only()``      the replica features are Outpost's: against real etcd a test file
                            prints a skip line and passes.

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import time
from typing import Optional, Sequence

import harness
import pb
import proxy

READ_INDEX_KEYS = ("read_index_rounds_sent", "read_index_requests_answered")
FORWARD_KEYS = ("forwarded_calls_sent", "forwarded_calls_answered")
STATUS_KEYS = ("role", "read_policy", "writes", "promote", "member_id", "leader_id",
               "applied_index", "leader_commit", "lag_entries", "lag_revisions", "lag_ms",
               "counters")
COUNTER_KEYS = READ_INDEX_KEYS + FORWARD_KEYS + ("peer_messages_sent",)


def outpost_only(args, runner: harness.Runner) -> bool:
    """True when the server under test is outpost; else prints why the file does nothing."""
    if args.server == "outpost":
        return True
    runner.skip("edge replicas (issue 11) are Outpost's: etcd 3.4 has no [replica] settings, "
                "read index on learners, forwarded writes or GET /replica")
    return False


def http_get(m: harness.Member, path: str, timeout: float = 3
             ) -> tuple[Optional[int], str, dict]:
    """(status, body, headers) of GET path on m's client port, or (None, error, {})."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", m.client_port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            return resp.status, body, dict(resp.getheaders())
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as e:
        return None, f"{type(e).__name__}: {e}", {}


def replica_status(m: harness.Member, timeout: float = 3) -> Optional[dict]:
    """GET /replica on m, parsed; None if it did not answer 200 with a JSON object."""
    status, body, _ = http_get(m, "/replica", timeout)
    if status != 200:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def counters(m: harness.Member) -> dict:
    st = replica_status(m)
    c = st.get("counters") if st else None
    return c if isinstance(c, dict) else {}


def delta(before: dict, after: dict, keys: Sequence[str] = COUNTER_KEYS) -> dict:
    """after - before for each key (None where either side lacks it)."""
    return {k: (after[k] - before[k]) if isinstance(before.get(k), int) and
            isinstance(after.get(k), int) else None for k in keys}


def fast_cluster(args, prefix: str, size: int = 3, extra_flags: Sequence[str] = (),
                 heartbeat_ms: int = 100, election_ms: int = 1000,
                 net: Optional[proxy.PeerNetwork] = None) -> harness.Cluster:
    return harness.Cluster(args, prefix=prefix, size=size, extra_flags=list(extra_flags),
                           heartbeat_ms=heartbeat_ms, election_ms=election_ms,
                           peer_network=net)


def add_replica(c: harness.Cluster, name: str, replica_flags: Sequence[str],
                net: Optional[proxy.PeerNetwork] = None, start: bool = True,
                timeout: float = 60) -> tuple[Optional[harness.ClusterMember], harness.Result]:
    """`member add NAME --learner` (through a voter), then start it with the cluster's flags plus
    `replica_flags`. With `net`, the learner listens on its own peer port and advertises a proxy
    in front of it (registered in `net` under NAME)."""
    flags = list(c.members[0].extra_flags if c.members else ()) + list(replica_flags)
    p = None
    peer_url = None
    if net is not None:
        p = net.proxy_for(name, 0)  # target set once the member's ports are known
        peer_url = p.url
    m, r = c.add_member(name, learner=True, peer_url=peer_url, start=False, extra_flags=flags)
    if m is None:
        return None, r
    if p is not None:
        p.target_port = m.peer_port
        net.register(name, lambda m=m: m.pid if m.running() else None)
    if start:
        m.start(timeout=timeout)
    return m, r


class JoiningMember(harness.ClusterMember):
    """A replica that joins by itself: `--replica-join` with the core's client URLs, no
    `--initial-cluster*` flags (the join implies a learner of an existing cluster). The advertised
    peer URL may be set to something else (unreachable, or not this member) before start()."""

    def __init__(self, args, cluster: harness.Cluster, name: str, join_urls: Sequence[str],
                 extra_flags: Sequence[str] = ()):
        super().__init__(args, cluster, name, extra_flags=extra_flags)
        self.join_urls = list(join_urls)
        self.is_learner = True

    def flags(self) -> list[str]:
        return [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.advertised_peer_url}",
            f"--heartbeat-interval={self.cluster.heartbeat_ms}",
            f"--election-timeout={self.cluster.election_ms}",
            f"--replica-join={','.join(self.join_urls)}",
            "--logger=zap",
            "--log-outputs=stderr",
        ] + self.extra_flags


def one_range(args, m: harness.Member, key: str, serializable: bool = False,
              timeout_s: float = 30) -> tuple[str, Optional[str], float, str]:
    """One Range of `key` on m, not retried (etcdctl retries Unavailable answers such as
    "etcdserver: request timed out" until its command timeout): through outpost-raw-grpc when
    --raw-grpc is given, else etcdctl's first attempt as its retry warning reports it.
    Returns (error message or "", the value or None, seconds, detail)."""
    t0 = time.monotonic()
    if args.raw_grpc:
        reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/Range",
                        pb.range_request(key, serializable=serializable),
                        timeout_ms=int(timeout_s * 1000))
        took = time.monotonic() - t0
        if reply.code != 0:
            return reply.message or f"code {reply.code}", None, took, repr(reply)
        value = None
        for num, _, kv in pb.parse(reply.response):
            if num == 2:
                value = next((v.decode(errors="replace") for n, _, v in pb.parse(kv) if n == 5),
                             "")
        return "", value, took, repr(reply)
    r = m.ctl("get", key, "--print-value-only", *(["--consistency=s"] if serializable else []),
              command_timeout=f"{int(timeout_s)}s", timeout=timeout_s + 30)
    if r.ok:
        return "", r.stdout[:-1] if r.stdout else None, time.monotonic() - t0, r.describe()
    first = re.search(r'"attempt":0,"error":"rpc error: code = \w+ desc = ([^"]*)"', r.stderr)
    took = time.monotonic() - t0
    if first:  # when the first attempt failed: from etcdctl's timestamps
        stamps = re.findall(r'"ts":"([^"]+)"', r.stderr)
        if stamps:
            took = _first_attempt_s(stamps[0], t0, took)
        return first.group(1), None, took, r.describe()
    return harness.error_message(r), None, took, r.describe()


def _first_attempt_s(stamp: str, t0: float, fallback: float) -> float:
    """Seconds from t0 (monotonic) to etcdctl's log timestamp `stamp` (wall clock, UTC)."""
    from datetime import datetime
    try:
        wall = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback
    return wall - (time.time() - (time.monotonic() - t0))


def request_timeout_s(election_ms: int) -> float:
    """etcd's (and Outpost's) request timeout: 5 s + 2 election timeouts."""
    return 5 + 2 * election_ms / 1000


def bench_path(args) -> str:
    """outpost-bench: OUTPOST_BENCH, else next to --outpost, else build/outpost-bench."""
    env = os.environ.get("OUTPOST_BENCH")
    if env:
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(args.outpost or ".")), "outpost-bench")
    if os.access(here, os.X_OK):
        return here
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "build", "outpost-bench")


def bench(args, endpoint: str, *cmd: str, clients: int = 1, conns: int = 1,
          timeout_s: int = 60) -> tuple[Optional[dict], harness.Result]:
    """One `outpost-bench --json` run against one endpoint; (parsed JSON line or None, Result)."""
    full = [bench_path(args), "--endpoints", endpoint, "--clients", str(clients), "--conns",
            str(conns), "--timeout", f"{timeout_s}s", "--json"] + list(cmd)
    r = harness.run(full, timeout=timeout_s + 30)
    doc = None
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                pass
    return doc, r


def wait_status(m: harness.Member, cond, timeout: float, what: str,
                interval: float = 0.1) -> Optional[dict]:
    """Poll GET /replica on m until cond(status) holds; the last status (None: never answered).
    Raises TimeoutError with the last status."""
    last: dict = {}

    def ok() -> bool:
        st = replica_status(m)
        last["st"] = st
        return st is not None and bool(cond(st))
    try:
        harness.wait_for(ok, timeout, interval, what)
    except TimeoutError as e:
        raise TimeoutError(f"{e}; last /replica of {m.name}: {last.get('st')}") from None
    return last.get("st")


def log_msgs(members: Sequence[harness.ClusterMember], msg: str) -> list[tuple[float, str, dict]]:
    """(ts, member name, record) of every log line with "msg" == msg over `members`, by time."""
    out = []
    for m in members:
        for rec in harness.log_records(m.log_text(), msg):
            out.append((harness.log_ts(rec), m.name, rec))
    out.sort(key=lambda x: x[0])
    return out


def monotonic_ms() -> float:
    return time.monotonic() * 1000


def flush() -> None:
    sys.stdout.flush()
