"""Harness for Outpost's integration tests: server processes on loopback, driven by etcdctl.

Every test is first validated against real etcd 3.4.23 standing in for outpost (``--server etcd``),
then run against outpost (``--server outpost --outpost PATH``). Both are started with the same etcd
flags, so a test never knows which one it talks to except where it asks ``args.server``.

What this module gives a test:
  * ``parse_args()``     the common command line (--server, --outpost, --etcd, --etcdctl,
                         --raw-grpc, --workdir, --keep); env vars OUTPOST_TEST_SERVER, OUTPOST_BIN,
                         OUTPOST_RAW_GRPC are the defaults.
  * ``free_port()``      a free loopback port (bind 127.0.0.1:0).
  * ``Member``           one server process: start / wait_ready (polling) / stop (SIGTERM, then
                         SIGKILL) / kill9 / restart on the same data dir and ports. Every started
                         process is registered and killed, by pid, at exit, even if the test dies.
  * ``etcdctl()``        run etcdctl with a timeout, capture stdout, stderr and exit code.
  * ``Runner``           a tiny assert-style runner: ``check(cond, what)``, named test functions,
                         a final "N passed, M failed" line and a non-zero exit status on failure.
  * ``Cluster``          N ``ClusterMember``s bootstrapped together (one --initial-cluster, one
                         token, heartbeat/election timing, optional peer proxies from proxy.py);
                         parsed ``endpoint status`` / ``endpoint hashkv`` / ``member list -w
                         table``, ``wait_leader()``, ``wait_hashkv_equal()`` (all polling).

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

DEFAULT_ETCD = "/usr/bin/etcd"
DEFAULT_ETCDCTL = "/usr/bin/etcdctl"

# Every server process started by any Member, by pid. Killed at exit whatever happens.
_live_processes: dict[int, subprocess.Popen] = {}

# Linux: a server started by us gets SIGKILL if this test process dies without running its
# atexit handlers (e.g. SIGKILL from a CTest timeout). Resolved once, here, so the code run in
# the child between fork and exec is a single C call.
try:
    import ctypes
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux / no libc symbol
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_all_live() -> None:
    for pid, proc in list(_live_processes.items()):
        if proc.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _live_processes.pop(pid, None)


atexit.register(_kill_all_live)


def _exit_on_signal(signum, _frame):
    # CTest's timeout sends SIGTERM (then SIGKILL); turn it into a normal exit so atexit runs.
    _kill_all_live()
    sys.exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _exit_on_signal)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(description: str, argv: Optional[Sequence[str]] = None,
               needs_etcd: bool = False) -> argparse.Namespace:
    """The common command line. needs_etcd: real etcd is required whatever --server says."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--server", choices=["outpost", "etcd"],
                   default=os.environ.get("OUTPOST_TEST_SERVER", "etcd"),
                   help="which server plays 'outpost' (env OUTPOST_TEST_SERVER; default etcd)")
    p.add_argument("--outpost", default=os.environ.get("OUTPOST_BIN", ""),
                   help="path of the outpost binary (env OUTPOST_BIN)")
    p.add_argument("--etcd", default=os.environ.get("ETCD_BIN", DEFAULT_ETCD),
                   help="path of the real etcd binary (reference)")
    p.add_argument("--etcdctl", default=os.environ.get("ETCDCTL_BIN", DEFAULT_ETCDCTL))
    p.add_argument("--raw-grpc", dest="raw_grpc", default=os.environ.get("OUTPOST_RAW_GRPC", ""),
                   help="path of the outpost-raw-grpc tool (tests/integration/tools)")
    p.add_argument("--workdir", default="",
                   help="directory for data dirs, logs and transcripts (default: a fresh temp dir)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work dir even when every check passed")
    args = p.parse_args(argv)
    if args.server == "outpost":
        if not args.outpost:
            p.error("--server outpost needs --outpost PATH (or OUTPOST_BIN)")
        if not os.access(args.outpost, os.X_OK):
            p.error(f"outpost binary not found or not executable: {args.outpost}")
    if not os.access(args.etcdctl, os.X_OK):
        p.error(f"etcdctl not found or not executable: {args.etcdctl}")
    if (args.server == "etcd" or needs_etcd) and not os.access(args.etcd, os.X_OK):
        p.error(f"etcd not found or not executable: {args.etcd}")
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    else:
        args.workdir = tempfile.mkdtemp(prefix="outpost-integ-")
    return args


def server_binary(args: argparse.Namespace, kind: Optional[str] = None) -> str:
    """Path of the binary for `kind` ('outpost' or 'etcd'; default: the one under test)."""
    kind = kind or args.server
    return args.outpost if kind == "outpost" else args.etcd


# --------------------------------------------------------------------------------------------
# Ports and processes


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    """Outcome of one command: what it printed and how it exited."""
    args: list
    stdout: str
    stderr: str
    rc: int
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def describe(self) -> str:
        return (f"$ {' '.join(_short(a) for a in self.args)}\n"
                f"  rc={self.rc}{' (timed out)' if self.timed_out else ''}\n"
                f"  stdout={_clip(self.stdout)!r}\n  stderr={_clip(self.stderr)!r}")


def _short(arg: str) -> str:
    return arg if len(arg) <= 80 else arg[:60] + f"...<{len(arg)} chars>"


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"...<{len(text)} chars>"


def run(cmd: Sequence[str], stdin: Optional[str | bytes] = None, timeout: float = 20,
        env: Optional[dict] = None) -> Result:
    """Run a short-lived command with a timeout; its process is killed (by pid) if it overruns."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(input=data, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    return Result(list(cmd), out.decode(errors="replace"), err.decode(errors="replace"),
                  proc.returncode, timed_out)


def etcdctl_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    return env


def etcdctl(args: argparse.Namespace, endpoint: str, *cmd: str, stdin: Optional[str | bytes] = None,
            timeout: float = 20, command_timeout: str = "5s") -> Result:
    """Run `etcdctl --endpoints=ENDPOINT [--command-timeout=..] CMD...`."""
    full = [args.etcdctl, f"--endpoints={endpoint}"]
    if command_timeout:
        full.append(f"--command-timeout={command_timeout}")
    full += list(cmd)
    return run(full, stdin=stdin, timeout=timeout, env=etcdctl_env())


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05,
             what: str = "condition") -> None:
    """Poll `condition` until it holds; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Member:
    """One single-member cluster: an `outpost` or `etcd` process with etcd's flags.

    The data dir, log file and both ports are fixed at construction, so `restart()` brings the
    same member back on the same data dir and ports. The process is registered globally and
    killed by pid at exit if the test does not stop it itself.
    """

    def __init__(self, args: argparse.Namespace, name: str = "m1", kind: Optional[str] = None,
                 extra_flags: Sequence[str] = ()):
        self.args = args
        self.kind = kind or args.server
        self.binary = server_binary(args, self.kind)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"{self.kind}-{name}-", dir=args.workdir)
        self.data_dir = os.path.join(self.dir, "data")
        self.client_port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.client_port:
            self.peer_port = free_port()
        self.token = f"outpost-integ-{name}"
        self.extra_flags = list(extra_flags)
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.log_path = ""

    # -- addresses
    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return self.client_url

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def flags(self) -> list[str]:
        return [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.name}={self.peer_url}",
            f"--initial-cluster-token={self.token}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-outputs=stderr",
        ] + self.extra_flags

    # -- lifecycle
    def start(self, wait: bool = True, timeout: float = 30) -> "Member":
        assert self.proc is None or self.proc.poll() is not None, "member already running"
        self.starts += 1
        self.log_path = os.path.join(self.dir, f"server.{self.starts}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([self.binary] + self.flags(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)
        _live_processes[self.proc.pid] = self.proc
        if wait:
            self.wait_ready(timeout)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> None:
        """Poll until `etcdctl endpoint health` succeeds and a `get` answers."""
        deadline = time.monotonic() + timeout
        last: Optional[Result] = None
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode} "
                                   f"before becoming ready\n{self.log_tail()}")
            if self._port_open():
                last = etcdctl(self.args, self.endpoint, "endpoint", "health",
                               timeout=10, command_timeout="2s")
                if last.ok:
                    last = etcdctl(self.args, self.endpoint, "get", "outpost-integ-ready-probe",
                                   timeout=10, command_timeout="2s")
                    if last.ok:
                        return
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} {self.name} not ready after {timeout}s"
                           f"{(chr(10) + last.describe()) if last else ''}\n{self.log_tail()}")

    def _port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 15) -> Optional[int]:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"  note: {self.kind} {self.name} (pid {self.proc.pid}) ignored SIGTERM "
                      f"for {timeout}s; sending SIGKILL")
                self.kill9()
        _live_processes.pop(self.proc.pid, None)
        return self.proc.returncode

    def kill9(self) -> None:
        """SIGKILL by pid, and reap."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=15)
        _live_processes.pop(self.proc.pid, None)

    def restart(self, timeout: float = 30) -> "Member":
        """Stop (SIGTERM) if running, then start again on the same data dir and ports."""
        self.stop()
        return self.start(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace").splitlines()
        except OSError as e:
            return f"(no log: {e})"
        return f"--- last {min(lines, len(text))} lines of {self.log_path}\n" + "\n".join(text[-lines:])

    # -- convenience
    def ctl(self, *cmd: str, **kw) -> Result:
        return etcdctl(self.args, self.endpoint, *cmd, **kw)

    def __enter__(self) -> "Member":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Runner


class CheckFailed(Exception):
    pass


class Runner:
    """Runs named test functions; each calls `check()` for what it verifies.

    A failed check is recorded and printed with its detail; the test function goes on unless it
    calls `require()` (which stops that test). An exception inside a test counts as a failure.
    """

    def __init__(self, args: argparse.Namespace, title: str):
        self.args = args
        self.title = title
        self.passed = 0
        self.failed = 0
        self.failures: list[str] = []
        self.current = ""
        self.tests: list[tuple[str, Callable]] = []

    def test(self, fn: Callable) -> Callable:
        self.tests.append((fn.__name__, fn))
        return fn

    def check(self, cond: bool, what: str, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            print(f"  ok   {what}")
        else:
            self.failed += 1
            self.failures.append(f"{self.current}: {what}")
            print(f"  FAIL {what}")
            if detail:
                print("       " + detail.replace("\n", "\n       "))
        return cond

    def require(self, cond: bool, what: str, detail: str = "", quiet: bool = False) -> None:
        """Like check(), but a failure ends the current test. quiet: a pass is not counted or
        printed (for preconditions such as 'this etcdctl command succeeded')."""
        if quiet and cond:
            return
        if not self.check(cond, what, detail):
            raise CheckFailed(what)

    def eq(self, got, want, what: str, detail: str = "") -> bool:
        d = f"want {want!r}\ngot  {got!r}" + (f"\n{detail}" if detail else "")
        return self.check(got == want, what, d)

    def skip(self, what: str) -> None:
        print(f"  SKIP {what}")

    def main(self, only: Optional[Sequence[str]] = None) -> int:
        print(f"== {self.title}  (server under test: {self.args.server}"
              f"{' ' + self.args.outpost if self.args.server == 'outpost' else ''}; "
              f"work dir {self.args.workdir})")
        for name, fn in self.tests:
            if only and name not in only:
                continue
            self.current = name
            print(f"-- {name}")
            started = time.monotonic()
            try:
                fn()
            except CheckFailed:
                pass
            except Exception:  # noqa: BLE001 - any crash of a test is a failure of that test
                self.failed += 1
                self.failures.append(f"{name}: exception")
                print("  FAIL exception:\n       " + traceback.format_exc().replace("\n", "\n       "))
            finally:
                _kill_all_live()
            print(f"   ({time.monotonic() - started:.1f}s)")
        for f in self.failures:
            print(f"failed: {f}")
        print(f"{self.passed} passed, {self.failed} failed")
        if self.failed == 0 and not self.args.keep:
            shutil.rmtree(self.args.workdir, ignore_errors=True)
        else:
            print(f"logs and data kept in {self.args.workdir}")
        return 0 if self.failed == 0 else 1


# --------------------------------------------------------------------------------------------
# Multi-member clusters (the cluster fault tests: test_cluster_*.py)
#
# A Cluster is N ClusterMembers bootstrapped together with one --initial-cluster string and one
# token. Each member may advertise a peer URL other than the one it listens on (a proxy in front
# of it, see proxy.py), so a test can cut peer traffic without root.

HEARTBEAT_MS = 100
ELECTION_MS = 1000


class ClusterMember(Member):
    """One member of a multi-member cluster. Ports, data dir and log as Member; the cluster part
    of the flags (initial cluster, token, advertised peer URL, raft timing) comes from Cluster."""

    def __init__(self, args: argparse.Namespace, cluster: "Cluster", name: str,
                 kind: Optional[str] = None, extra_flags: Sequence[str] = ()):
        super().__init__(args, name=name, kind=kind, extra_flags=extra_flags)
        self.cluster = cluster
        self.token = cluster.token
        # The peer URL the others dial (and the one in --initial-cluster); a proxy's URL when the
        # test routes peer traffic through proxies, else the listening URL.
        self.advertised_peer_url = self.peer_url

    def flags(self) -> list[str]:
        return [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.advertised_peer_url}",
            f"--initial-cluster={self.cluster.initial_cluster()}",
            f"--initial-cluster-token={self.token}",
            "--initial-cluster-state=new",
            f"--heartbeat-interval={self.cluster.heartbeat_ms}",
            f"--election-timeout={self.cluster.election_ms}",
            "--logger=zap",
            "--log-outputs=stderr",
        ] + self.extra_flags


class Cluster:
    """N members bootstrapped as one cluster (fresh data dirs, one token, free loopback ports).

    start() launches every member without waiting (a lone member cannot become ready: it needs a
    quorum), then polls each until it answers. Helpers parse `endpoint status`, `endpoint hashkv`
    and `member list` as etcdctl prints them.
    """

    def __init__(self, args: argparse.Namespace, prefix: str = "c", size: int = 3,
                 extra_flags: Sequence[str] = (), heartbeat_ms: int = HEARTBEAT_MS,
                 election_ms: int = ELECTION_MS, peer_network=None):
        """peer_network: optional proxy.PeerNetwork (anything with proxy_for(name, port) -> an
        object with .url, and register(name, pid_fn)); each member then advertises its proxy's URL
        as its peer URL (in --initial-cluster too) while listening on its own port."""
        self.args = args
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.token = f"outpost-integ-{prefix}-{os.getpid()}"
        self.members = [ClusterMember(args, self, f"{prefix}{i + 1}", extra_flags=extra_flags)
                        for i in range(size)]
        self.peer_network = peer_network
        if peer_network is not None:
            for m in self.members:
                m.advertised_peer_url = peer_network.proxy_for(m.name, m.peer_port).url
                peer_network.register(m.name, lambda m=m: m.pid if m.running() else None)

    def __iter__(self):
        return iter(self.members)

    def __getitem__(self, i: int) -> ClusterMember:
        return self.members[i]

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.advertised_peer_url}" for m in self.members)

    def start(self, timeout: float = 60) -> "Cluster":
        for m in self.members:
            m.start(wait=False)
        for m in self.members:
            m.wait_ready(timeout)
        return self

    def running(self) -> list[ClusterMember]:
        return [m for m in self.members if m.running()]

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    # -- what the members say
    def status(self, m: Member, timeout: float = 10) -> Optional[dict]:
        """`endpoint status -w json` of one member as a flat dict (member_id, leader, raft_term,
        revision, raft_index, raft_applied_index), or None if it did not answer."""
        r = m.ctl("endpoint", "status", "-w", "json", timeout=timeout, command_timeout="3s")
        if not r.ok:
            return None
        try:
            st = json.loads(r.stdout)[0]["Status"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        hdr = st.get("header", {})
        return {"member_id": hdr.get("member_id"), "leader": st.get("leader"),
                "raft_term": st.get("raftTerm"), "header_term": hdr.get("raft_term"),
                "revision": hdr.get("revision"), "raft_index": st.get("raftIndex"),
                "raft_applied_index": st.get("raftAppliedIndex"), "raw": st}

    def statuses(self, members: Optional[Sequence[Member]] = None) -> dict[str, Optional[dict]]:
        """status() of each member, asked concurrently (one etcdctl each), by member name."""
        members = list(members or self.running())
        out: dict[str, Optional[dict]] = {}

        def ask(m: Member) -> None:
            out[m.name] = self.status(m)
        threads = [threading.Thread(target=ask, args=(m,), daemon=True) for m in members]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {m.name: out.get(m.name) for m in members}

    def stable_leader(self, members: Optional[Sequence[Member]] = None
                      ) -> Optional[tuple[ClusterMember, int, dict]]:
        """If every member in `members` (default: the running ones) answers, names the same
        non-zero leader and the same raft term, and that leader is one of them: (leader member,
        term, statuses). Else None."""
        members = list(members or self.running())
        sts = self.statuses(members)
        if any(s is None for s in sts.values()):
            return None
        leaders = {s["leader"] for s in sts.values()}
        terms = {s["raft_term"] for s in sts.values()}
        if len(leaders) != 1 or len(terms) != 1 or 0 in leaders or None in leaders:
            return None
        lid = leaders.pop()
        by_id = [m for m in members if sts[m.name]["member_id"] == lid]
        if len(by_id) != 1:
            return None
        return by_id[0], terms.pop(), sts

    def wait_leader(self, members: Optional[Sequence[Member]] = None, timeout: float = 30,
                    interval: float = 0.05) -> tuple[ClusterMember, int, dict]:
        found: list = []

        def cond() -> bool:
            got = self.stable_leader(members)
            if got:
                found.append(got)
            return bool(got)
        wait_for(cond, timeout, interval, what="one leader agreed on by every member")
        return found[-1]

    def hashkv(self, m: Member, timeout: float = 30) -> Optional[tuple[int, int, int]]:
        """(hash, compact_revision, header revision) from `endpoint hashkv -w json`, or None."""
        r = m.ctl("endpoint", "hashkv", "-w", "json", timeout=timeout, command_timeout="20s")
        if not r.ok:
            return None
        try:
            h = json.loads(r.stdout)[0]["HashKV"]
            return h.get("hash", 0), h.get("compact_revision", 0), h["header"]["revision"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def wait_hashkv_equal(self, members: Optional[Sequence[Member]] = None, timeout: float = 30,
                          interval: float = 0.2) -> dict[str, Optional[tuple[int, int, int]]]:
        """Poll `endpoint hashkv` on `members` until every one answers with the same hash at the
        same revision. Returns the last observation; raises TimeoutError (with it) otherwise."""
        members = list(members or self.running())
        last: dict = {}

        def cond() -> bool:
            last.clear()
            last.update({m.name: self.hashkv(m) for m in members})
            vals = set(last.values())
            return None not in vals and len(vals) == 1
        try:
            wait_for(cond, timeout, interval, what="equal endpoint hashkv")
        except TimeoutError as e:
            raise TimeoutError(f"{e}: last (hash, compact_revision, revision) {last}") from None
        return dict(last)

    def member_list_table(self, m: Member) -> Optional[list[dict]]:
        """`member list -w table` parsed into rows {id, status, name, peer_addrs, client_addrs,
        is_learner} (addrs as lists), or None if the command failed or printed no table."""
        r = m.ctl("member", "list", "-w", "table")
        if not r.ok:
            return None
        return parse_table(r.stdout)


def brief_statuses(sts: dict) -> str:
    """Cluster.statuses() as compact JSON for failure details (without the raw status)."""
    return json.dumps({name: (st and {k: v for k, v in st.items() if k != "raw"})
                       for name, st in sts.items()})


def parse_table(text: str) -> Optional[list[dict]]:
    """Parse etcdctl's `-w table` output ('+---+' rules, '| a | b |' rows): header row names are
    lower-cased with spaces as '_'; cells that hold comma-separated URLs are split into lists
    when the column name ends with 'addrs'."""
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    if not rows:
        return None
    split = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in rows]
    head = [h.lower().replace(" ", "_") for h in split[0]]
    out = []
    for cells in split[1:]:
        row: dict = dict(zip(head, cells))
        for k in head:
            if k.endswith("addrs"):
                row[k] = [u.strip() for u in row[k].split(",") if u.strip()]
        out.append(row)
    return out
