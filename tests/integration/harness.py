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
                         SIGKILL) / kill9 / restart on the same data dir and ports. TLS:
                         ``client_scheme = "https"`` and ``ctl_flags`` (--cacert, --cert, --key)
                         for every ``ctl()``; the server's TLS flags go in ``extra_flags``. Every started
                         process is registered and killed, by pid, at exit, even if the test dies.
  * ``etcdctl()``        run etcdctl with a timeout, capture stdout, stderr and exit code.
  * ``Runner``           a tiny assert-style runner: ``check(cond, what)``, named test functions,
                         a final "N passed, M failed" line and a non-zero exit status on failure.
  * ``Cluster``          N ``ClusterMember``s bootstrapped together (one --initial-cluster, one
                         token, heartbeat/election timing, optional peer proxies from proxy.py);
                         parsed ``endpoint status`` / ``endpoint hashkv`` / ``member list -w
                         table``, ``wait_leader()``, ``wait_hashkv_equal()`` (all polling).
  * membership           ``Cluster.add_member()`` (`etcdctl member add`, then a ClusterMember
                         started with the printed ETCD_INITIAL_CLUSTER and state "existing"),
                         ``remove_member()``, ``promote()``, ``update_peer_urls()``,
                         ``member_list()`` (parsed ``member list -w json``), ``voters()``,
                         ``learners()``, ``member_id()``, ``wait_in_sync()``; learners are polled
                         for readiness with ``endpoint status`` and a serializable get (etcd 3.4
                         refuses every other request on a learner).
  * ``Writers``          background etcdctl put loops (optionally reading each put back) that
                         record acknowledged, attempted and failed writes.
  * ``dump_kvs()``       every key under a prefix with value, create/mod revision and version.
  * ``error_message()``, ``error_code()``  etcdctl's "Error: ..." text and the gRPC code name.

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
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
    p.add_argument("--mirror", default=os.environ.get("OUTPOST_MIRROR_BIN", ""),
                   help="path of outpost-mirror (env OUTPOST_MIRROR_BIN; default: next to --outpost)")
    p.add_argument("--workdir", default="",
                   help="directory for data dirs, logs and transcripts (default: a fresh temp dir)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work dir even when every check passed")
    args = p.parse_args(argv)
    if not args.mirror and args.outpost:
        args.mirror = os.path.join(os.path.dirname(args.outpost), "outpost-mirror")
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


def log_records(text: str, msg: str) -> list[dict]:
    """The JSON log lines (zap style, as etcd and Outpost write them) whose "msg" is `msg`."""
    out = []
    needle = f'"msg":"{msg}"'
    for line in text.splitlines():
        if needle in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def log_ts(rec: dict) -> float:
    """A log record's "ts" in seconds: ISO 8601 (etcd's zap) or a number."""
    ts = rec.get("ts", 0)
    if isinstance(ts, (int, float)):
        return float(ts)
    from datetime import datetime
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


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
                 extra_flags: Sequence[str] = (), peer_scheme: str = "http"):
        self.args = args
        self.peer_scheme = peer_scheme  # "https": peer TLS (give the --peer-* flags in extra_flags)
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
        # "https": the client URL is https:// (give the server its TLS flags in extra_flags).
        self.client_scheme = "http"
        # etcdctl flags put before every ctl() command (e.g. --cacert=..., --cert=..., --key=...).
        self.ctl_flags: list[str] = []
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.log_path = ""

    # -- addresses
    @property
    def client_url(self) -> str:
        return f"{self.client_scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.peer_scheme}://127.0.0.1:{self.peer_port}"

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
        """Poll until the member answers its readiness probes (see _ready_probes)."""
        deadline = time.monotonic() + timeout
        last: Optional[Result] = None
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode} "
                                   f"before becoming ready\n{self.log_tail()}")
            if self._port_open():
                for probe in self._ready_probes():
                    last = self.ctl(*probe, timeout=10, command_timeout="2s")
                    if not last.ok:
                        break
                else:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} {self.name} not ready after {timeout}s"
                           f"{(chr(10) + last.describe()) if last else ''}\n{self.log_tail()}")

    def _ready_probes(self) -> list[tuple[str, ...]]:
        """etcdctl commands that must all succeed: `endpoint health` and a (linearizable) get."""
        return [("endpoint", "health"), ("get", "outpost-integ-ready-probe")]

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
        return etcdctl(self.args, self.endpoint, *self.ctl_flags, *cmd, **kw)

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
        super().__init__(args, name=name, kind=kind, extra_flags=extra_flags,
                         peer_scheme=cluster.peer_scheme)
        self.cluster = cluster
        self.token = cluster.token
        # The peer URL the others dial (and the one in --initial-cluster); a proxy's URL when the
        # test routes peer traffic through proxies, else the listening URL.
        self.advertised_peer_url = self.peer_url
        # A member joining a running cluster (Cluster.add_member) starts with the
        # ETCD_INITIAL_CLUSTER that `etcdctl member add` printed and state "existing".
        self.initial_cluster_override: Optional[str] = None
        self.initial_cluster_state = "new"
        # True while the cluster knows this member as a learner: readiness is then polled with
        # requests a learner answers (etcd 3.4: Status and serializable Range only).
        self.is_learner = False
        # Raft member id (int) once known (from `member add` or endpoint status).
        self.member_id: Optional[int] = None
        # The ETCD_* lines `etcdctl member add` printed for this member (Cluster.add_member).
        self.added_env: dict = {}
        # After Cluster.remove_member() of a running member: did its process exit on its own
        # (etcd does, once it applies its removal)? None: it was not running.
        self.exited_by_itself: Optional[bool] = None

    def flags(self) -> list[str]:
        return [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.advertised_peer_url}",
            f"--initial-cluster={self.initial_cluster_override or self.cluster.initial_cluster()}",
            f"--initial-cluster-token={self.token}",
            f"--initial-cluster-state={self.initial_cluster_state}",
            f"--heartbeat-interval={self.cluster.heartbeat_ms}",
            f"--election-timeout={self.cluster.election_ms}",
            "--logger=zap",
            "--log-outputs=stderr",
        ] + self.extra_flags

    def _ready_probes(self) -> list[tuple[str, ...]]:
        """A voter: as Member. A learner: `endpoint status` and a serializable get (etcd 3.4
        refuses `endpoint health` and linearizable reads on a learner)."""
        if not self.is_learner:
            return super()._ready_probes()
        return [("endpoint", "status"), ("get", "outpost-integ-ready-probe", "--consistency=s")]

    def log_text(self) -> str:
        """Everything this member logged, over all its starts (server.N.log, in order)."""
        parts = []
        for n in range(1, self.starts + 1):
            try:
                with open(os.path.join(self.dir, f"server.{n}.log"), "rb") as f:
                    parts.append(f.read().decode(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)


@dataclass
class MemberInfo:
    """One row of `member list -w json` (etcd prints ids in decimal there, in hex elsewhere)."""
    id: int
    name: str
    peer_urls: list
    client_urls: list
    is_learner: bool

    @property
    def hex_id(self) -> str:
        return f"{self.id:x}"


# etcdctl's refusals seen on stderr as "Error: <message>"; the gRPC code is on the zap line.
_ERROR_LINE = re.compile(r"^Error: (.*)$", re.M)
_CODE = re.compile(r"code = (\w+) desc = ")


def error_message(r: Result) -> str:
    """The server's message from a failed etcdctl command ('Error: ...' line), or ''."""
    found = _ERROR_LINE.findall(r.stderr)
    return found[-1].strip() if found else ""


def error_code(r: Result) -> str:
    """The gRPC code name from etcdctl's warning line (e.g. 'FailedPrecondition'), or ''."""
    found = _CODE.findall(r.stderr)
    return found[-1] if found else ""


class Cluster:
    """N members bootstrapped as one cluster (fresh data dirs, one token, free loopback ports).

    start() launches every member without waiting (a lone member cannot become ready: it needs a
    quorum), then polls each until it answers. Helpers parse `endpoint status`, `endpoint hashkv`
    and `member list` as etcdctl prints them.
    """

    def __init__(self, args: argparse.Namespace, prefix: str = "c", size: int = 3,
                 extra_flags: Sequence[str] = (), heartbeat_ms: int = HEARTBEAT_MS,
                 election_ms: int = ELECTION_MS, peer_network=None, peer_scheme: str = "http"):
        """peer_network: optional proxy.PeerNetwork (anything with proxy_for(name, port) -> an
        object with .url, and register(name, pid_fn)); each member then advertises its proxy's URL
        as its peer URL (in --initial-cluster too) while listening on its own port.
        peer_scheme: "https" gives every member (and members added later) https peer URLs; the
        --peer-* TLS flags go in extra_flags."""
        self.args = args
        self.peer_scheme = peer_scheme
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
        return hashkv(m, timeout)

    def check_hashkv_equal(self, runner: "Runner", what: str,
                           members: Optional[Sequence[Member]] = None, timeout: float = 30,
                           interval: float = 0.2) -> Optional[dict]:
        """wait_hashkv_equal() as one check of runner's: passes with the common (hash, compact
        revision, revision) in its line, fails with the last observation. Returns the hashes or
        None."""
        try:
            h = self.wait_hashkv_equal(members, timeout, interval)
        except TimeoutError as e:
            runner.check(False, what, str(e))
            return None
        runner.check(True, f"{what}: {next(iter(h.values()))}")
        return h

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

    # -- membership (etcdctl member add / remove / promote / update / list)
    def voters(self) -> list[ClusterMember]:
        """Running members the harness knows as voters (not learners)."""
        return [m for m in self.running() if not m.is_learner]

    def learners(self) -> list[ClusterMember]:
        return [m for m in self.members if m.is_learner]

    def by_name(self, name: str) -> Optional[ClusterMember]:
        return next((m for m in self.members if m.name == name), None)

    def _via(self, via: Optional[Member]) -> Member:
        if via is not None:
            return via
        voters = self.voters()
        if not voters:
            raise RuntimeError("no running voter to send a membership request to")
        return voters[0]

    def member_list(self, via: Optional[Member] = None, timeout: float = 20
                    ) -> Optional[list[MemberInfo]]:
        """`member list -w json` through `via` (default: a running voter), or None on failure."""
        r = self._via(via).ctl("member", "list", "-w", "json", timeout=timeout)
        if not r.ok:
            return None
        try:
            doc = json.loads(r.stdout)
            return [MemberInfo(int(x.get("ID", 0)), x.get("name", ""), x.get("peerURLs", []),
                               x.get("clientURLs", []), bool(x.get("isLearner", False)))
                    for x in doc.get("members", [])]
        except (ValueError, TypeError, AttributeError):
            return None

    def member_id(self, m: ClusterMember) -> int:
        """m's raft member id: cached, else from its own `endpoint status`, else from `member
        list` (by name, through another member)."""
        if m.member_id is None and m.running():
            st = self.status(m)
            if st and st.get("member_id"):
                m.member_id = int(st["member_id"])
        if m.member_id is None:
            ml = self.member_list(next((x for x in self.voters() if x is not m), None))
            found = [x.id for x in ml or [] if x.name == m.name]
            if found:
                m.member_id = found[0]
        if m.member_id is None:
            raise RuntimeError(f"cannot find the member id of {m.name}")
        return m.member_id

    def add_member(self, name: str, learner: bool = False, via: Optional[Member] = None,
                   peer_url: Optional[str] = None, start: bool = True, wait: bool = True,
                   timeout: float = 60, extra_flags: Optional[Sequence[str]] = None,
                   retry_unhealthy: float = 15) -> tuple[Optional[ClusterMember], Result]:
        """`etcdctl member add NAME --peer-urls=URL [--learner]` through `via` (default: a
        running voter); on success a new ClusterMember (fresh ports and data dir; its flags: the
        printed ETCD_INITIAL_CLUSTER, --initial-cluster-state=existing, the cluster's extra
        flags unless `extra_flags` is given) is appended to the cluster and, if `start`,
        started (and waited for, if `wait`). peer_url: the URL registered in the cluster
        (default: the new member's own listening peer URL; pass a bad one to register a member
        nobody can reach, with start=False). etcd refuses reconfiguration for 5 s after its peer
        connections come up ("etcdserver: unhealthy cluster"): that answer is retried for up to
        `retry_unhealthy` seconds (0: not retried). Returns (member or None, the last Result)."""
        flags = list(extra_flags) if extra_flags is not None else list(
            self.members[0].extra_flags if self.members else ())
        m = ClusterMember(self.args, self, name, extra_flags=flags)
        if peer_url:
            m.advertised_peer_url = peer_url
        elif self.peer_network is not None:
            m.advertised_peer_url = self.peer_network.proxy_for(m.name, m.peer_port).url
            self.peer_network.register(m.name, lambda m=m: m.pid if m.running() else None)
        cmd = ["member", "add", name, f"--peer-urls={m.advertised_peer_url}"]
        if learner:
            cmd.append("--learner")
        deadline = time.monotonic() + retry_unhealthy
        while True:
            r = self._via(via).ctl(*cmd, timeout=30, command_timeout="10s")
            if r.ok or "unhealthy cluster" not in r.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not r.ok:
            shutil.rmtree(m.dir, ignore_errors=True)
            return None, r
        env = dict(re.findall(r'^(ETCD_[A-Z_]+)="(.*)"$', r.stdout, re.M))
        got = re.search(r"Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)", r.stdout)
        if not got or "ETCD_INITIAL_CLUSTER" not in env:
            raise RuntimeError(f"unexpected `member add` output\n{r.describe()}")
        m.member_id = int(got.group(1), 16)
        m.initial_cluster_override = env["ETCD_INITIAL_CLUSTER"]
        m.initial_cluster_state = env.get("ETCD_INITIAL_CLUSTER_STATE", "existing")
        m.is_learner = learner
        m.added_env = env
        self.members.append(m)
        if start:
            m.start(wait=wait, timeout=timeout)
        return m, r

    def remove_member(self, target: "ClusterMember | int", via: Optional[Member] = None,
                      exit_timeout: float = 15, retry_unhealthy: float = 15) -> Result:
        """`etcdctl member remove HEXID`. On success a removed ClusterMember leaves
        `self.members`; its process (etcd exits by itself once removed) is given `exit_timeout`
        seconds to exit, then stopped. "etcdserver: unhealthy cluster" (etcd's 5 s window
        after peer connections come up) is retried for up to `retry_unhealthy` seconds."""
        m = target if isinstance(target, ClusterMember) else next(
            (x for x in self.members if x.member_id == target), None)
        mid = self.member_id(m) if isinstance(target, ClusterMember) else int(target)
        was_running = m is not None and m.running()
        deadline = time.monotonic() + retry_unhealthy
        while True:
            r = self._via(via).ctl("member", "remove", f"{mid:x}", timeout=30,
                                   command_timeout="10s")
            if r.ok or "unhealthy cluster" not in r.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if r.ok and m is not None:
            if m in self.members:
                self.members.remove(m)
            if was_running:
                try:
                    wait_for(lambda: not m.running(), exit_timeout, 0.1,
                             what=f"removed member {m.name} to exit")
                    m.exited_by_itself = True
                except TimeoutError:
                    m.exited_by_itself = False
            m.stop()
        return r

    def promote(self, m: ClusterMember, via: Optional[Member] = None) -> Result:
        """`etcdctl member promote HEXID`; on success the harness treats m as a voter."""
        r = self._via(via).ctl("member", "promote", f"{self.member_id(m):x}",
                               timeout=30, command_timeout="10s")
        if r.ok:
            m.is_learner = False
        return r

    def update_peer_urls(self, m: ClusterMember, urls: Sequence[str],
                         via: Optional[Member] = None) -> Result:
        """`etcdctl member update HEXID --peer-urls=U1,U2`."""
        return self._via(via).ctl("member", "update", f"{self.member_id(m):x}",
                                  f"--peer-urls={','.join(urls)}", timeout=30,
                                  command_timeout="10s")

    def wait_in_sync(self, m: ClusterMember, timeout: float = 60, interval: float = 0.2
                     ) -> dict[str, Optional[dict]]:
        """Poll `endpoint status` until m reports the same revision and applied raft index as
        the leader (ask while no writes flow). Returns the last statuses; TimeoutError if not."""
        last: dict = {}

        def cond() -> bool:
            last.clear()
            got = self.stable_leader(self.voters())
            if not got:
                return False
            leader = got[0]
            last.update(self.statuses([leader, m]))
            a, b = last.get(leader.name), last.get(m.name)
            return bool(a and b and a["revision"] == b["revision"]
                        and a["raft_applied_index"] == b["raft_applied_index"])
        try:
            wait_for(cond, timeout, interval, what=f"{m.name} in sync with the leader")
        except TimeoutError as e:
            raise TimeoutError(f"{e}: last {brief_statuses(last)}") from None
        return dict(last)


class Writers:
    """Background load: `n` threads, each putting PREFIX/<w>/<seq> = v-<w>-<seq> with one
    `etcdctl put` at a time, rotating over `endpoints` (a list, or a callable returning one, so
    a test can change the targets). With `read_back`, each acknowledged put is read back
    (linearizable) through the next endpoint and must show the value. Every acknowledged put
    is in `acked`, every attempted one in `tried`, every failure (put or read) in `failures` as
    (monotonic time, Result). `history`: every put as (writer, key, value, invoke ns, complete
    ns, acknowledged), times from time.monotonic_ns(), for the nemesis set checker."""

    def __init__(self, args: argparse.Namespace, endpoints, prefix: str = "w", n: int = 2,
                 read_back: bool = False, command_timeout: str = "3s"):
        self.args = args
        self.endpoints = endpoints
        self.prefix = prefix
        self.read_back = read_back
        self.command_timeout = command_timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}
        self.tried: dict[str, str] = {}
        self.reads = 0
        self.failures: list[tuple[float, Result]] = []
        self.history: list[tuple[int, str, str, int, int, bool]] = []
        self.threads = [threading.Thread(target=self._loop, args=(w,), daemon=True)
                        for w in range(n)]

    def _targets(self) -> list[str]:
        eps = self.endpoints() if callable(self.endpoints) else self.endpoints
        return [e.endpoint if isinstance(e, Member) else e for e in eps]

    def _loop(self, w: int) -> None:
        seq = 0
        while not self.stop_event.is_set():
            eps = self._targets()
            key, value = f"{self.prefix}/{w}/{seq:06d}", f"v-{w}-{seq}"
            ep = eps[(w + seq) % len(eps)]
            with self.lock:
                self.tried[key] = value
            invoke = time.monotonic_ns()
            r = etcdctl(self.args, ep, "put", key, value, timeout=15,
                        command_timeout=self.command_timeout)
            ok = r.rc == 0 and r.stdout == "OK\n"
            with self.lock:
                self.history.append((w, key, value, invoke, time.monotonic_ns(), ok))
            if ok:
                with self.lock:
                    self.acked[key] = value
                if self.read_back:
                    ep2 = eps[(w + seq + 1) % len(eps)]
                    g = etcdctl(self.args, ep2, "get", key, "--print-value-only", timeout=15,
                                command_timeout=self.command_timeout)
                    with self.lock:
                        self.reads += 1
                        if not (g.ok and g.stdout == value + "\n"):
                            self.failures.append((time.monotonic(), g))
            else:
                with self.lock:
                    self.failures.append((time.monotonic(), r))
                self.stop_event.wait(0.05)  # e.g. no leader: don't spin
            seq += 1

    def start(self) -> "Writers":
        for t in self.threads:
            t.start()
        return self

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def failure_count(self) -> int:
        with self.lock:
            return len(self.failures)

    def wait_count(self, n: int, timeout: float = 60) -> None:
        """Poll until at least n puts were acknowledged in total."""
        wait_for(lambda: self.count() >= n, timeout, what=f"{n} acknowledged puts under "
                 f"{self.prefix}/")

    def wait_more(self, n: int, timeout: float = 60) -> None:
        """Poll until n more puts than now were acknowledged."""
        self.wait_count(self.count() + n, timeout)

    def finish(self) -> "Writers":
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)
        return self

    def first_failure(self) -> str:
        with self.lock:
            return self.failures[0][1].describe() if self.failures else ""


class StatusPoller:
    """Polls `endpoint status` of `members` (concurrently) about every 0.1 s until finish();
    keeps every observation in `samples` as (clock(), {name: (leader, raft_term) or None})."""

    def __init__(self, cluster: "Cluster", members: list, clock=time.monotonic):
        self.cluster = cluster
        self.members = members
        self.clock = clock
        self.samples: list[tuple[float, dict]] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            sts = self.cluster.statuses(self.members)
            self.samples.append((self.clock(), {
                n: (s and (s["leader"], s["raft_term"])) for n, s in sts.items()}))
            self.stop_event.wait(0.1)

    def start(self) -> "StatusPoller":
        self.thread.start()
        return self

    def finish(self) -> "StatusPoller":
        self.stop_event.set()
        self.thread.join(timeout=30)
        return self


def hashkv(m: Member, timeout: float = 30) -> Optional[tuple[int, int, int]]:
    """(hash, compact_revision, header revision) from m's `endpoint hashkv -w json`, or None."""
    r = m.ctl("endpoint", "hashkv", "-w", "json", timeout=timeout, command_timeout="20s")
    if not r.ok:
        return None
    try:
        h = json.loads(r.stdout)[0]["HashKV"]
        return h.get("hash", 0), h.get("compact_revision", 0), h["header"]["revision"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def bench_path(args: argparse.Namespace) -> str:
    """outpost-bench (it speaks the etcd API, so it loads real etcd too): OUTPOST_BENCH, else next
    to --outpost, else build/outpost-bench."""
    if os.environ.get("OUTPOST_BENCH"):
        return os.environ["OUTPOST_BENCH"]
    here = args.outpost and os.path.dirname(args.outpost) or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.join(here, "outpost-bench")


def dump_kvs(m: Member, prefix: str = "", consistency: str = "s", timeout: float = 60
             ) -> tuple[Optional[dict[str, tuple]], int]:
    """Every key under `prefix` (all keys for "") as m sees it: ({key: (value, create_revision,
    mod_revision, version)}, header revision), or (None, 0) if the get failed."""
    import base64
    cmd = ["get", prefix, "--prefix", "-w", "json", f"--consistency={consistency}"]
    r = m.ctl(*cmd, timeout=timeout, command_timeout=f"{int(timeout / 2)}s")
    if not r.ok:
        return None, 0
    doc = json.loads(r.stdout)
    out = {}
    for kv in doc.get("kvs", []):
        out[base64.b64decode(kv["key"]).decode(errors="replace")] = (
            base64.b64decode(kv.get("value", "")).decode(errors="replace"),
            kv.get("create_revision", 0), kv.get("mod_revision", 0), kv.get("version", 0))
    return out, doc.get("header", {}).get("revision", 0)


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
