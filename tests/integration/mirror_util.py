"""Helpers for the outpost-mirror tests (test_mirror_*.py): a mirror process, reading a whole
key space (checkpoint included) and the source revision through etcdctl."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from typing import Optional, Sequence

import harness

CHECKPOINT = "\x00outpost-mirror/default"


class MirrorProc:
    """One outpost-mirror process; its log is kept in the work dir, killed by pid at exit."""

    def __init__(self, args, flags: Sequence[str]):
        self.args = args
        self.flags = list(flags)
        self.dir = tempfile.mkdtemp(prefix="mirror-", dir=args.workdir)
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.log_path = ""

    def start(self) -> "MirrorProc":
        self.starts += 1
        self.log_path = os.path.join(self.dir, f"mirror.{self.starts}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([self.args.mirror] + self.flags, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=harness._die_with_parent)
        harness._live_processes[self.proc.pid] = self.proc
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.running():
            os.kill(self.proc.pid, 9)
        self.proc.wait(timeout=10)
        harness._live_processes.pop(self.proc.pid, None)

    def stop(self, timeout: float = 10) -> Optional[int]:
        if self.running():
            os.kill(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        harness._live_processes.pop(self.proc.pid, None)
        return self.proc.returncode

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()


def dump(args, endpoint: str) -> Optional[dict[str, str]]:
    """Every key of the cluster -> value (None if etcdctl failed)."""
    r = harness.etcdctl(args, endpoint, "get", "", "--from-key", "-w", "json")
    if not r.ok:
        return None
    kvs = json.loads(r.stdout).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(errors="replace"):
            base64.b64decode(kv.get("value", "")).decode(errors="replace") for kv in kvs}


def user_keys(d: Optional[dict[str, str]]) -> Optional[dict[str, str]]:
    if d is None:
        return None
    return {k: v for k, v in d.items() if not k.startswith("\x00outpost-mirror/")}


def revision(args, endpoint: str) -> int:
    r = harness.etcdctl(args, endpoint, "get", "nothing-here", "-w", "json")
    return int(json.loads(r.stdout)["header"]["revision"]) if r.ok else -1


def checkpoint(args, endpoint: str) -> Optional[int]:
    d = dump(args, endpoint)
    if d is None or CHECKPOINT not in d:
        return None
    return int(d[CHECKPOINT])
