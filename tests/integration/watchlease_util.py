"""Helpers shared by the watch and lease cluster tests (test_cluster_watch.py, test_cluster_lease.py,
test_watch_interactive.py): long-running client processes whose output lines are read as they
come, each with the monotonic time it arrived.

Every process started here is killed, by pid, when the test ends (``stop()``, an atexit handler,
and on Linux a parent-death signal, so a SIGKILLed test leaves nothing behind).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from typing import Callable, Optional, Sequence

import harness

# Processes started here are tracked with the harness's own (killed by pid at exit, and with
# the test process if it dies).
_started = harness._live_processes
_die_with_parent = harness._die_with_parent


def tool_arg(name: str, env: str, help_text: str,
             argv: Optional[Sequence[str]] = None) -> tuple[str, list[str]]:
    """Takes `--NAME PATH` (default: env var ENV) off the command line, so harness.parse_args()
    sees only its own flags. Returns (path, remaining argv)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(f"--{name}", dest="value", default=os.environ.get(env, ""), help=help_text)
    known, rest = p.parse_known_args(argv)
    return known.value, rest


class Lines:
    """A background process; stdout (and, merged or not, stderr) read line by line by a thread,
    each line kept with the monotonic time it was read. stdin is a pipe (``send()``)."""

    def __init__(self, cmd: Sequence[str], env: Optional[dict] = None, merge_stderr: bool = False,
                 log_path: Optional[str] = None):
        self.cmd = list(cmd)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                     env=env, preexec_fn=_die_with_parent)
        _started[self.proc.pid] = self.proc
        self.started = time.monotonic()
        # Reentrant: a wait_until() predicate may call lines() and friends.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self.log = open(log_path, "w") if log_path else None
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out, "out"),
                                         daemon=True)]
        if not merge_stderr:
            self.threads.append(threading.Thread(target=self._read,
                                                 args=(self.proc.stderr, self.err, "err"),
                                                 daemon=True))
        for t in self.threads:
            t.start()

    def _read(self, pipe, into: list, tag: str) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            now = time.monotonic()
            with self.lock:
                into.append((now, line))
                if self.log:
                    self.log.write(f"{now - self.started:9.3f} {tag} {line}\n")
                    self.log.flush()
                self.changed.notify_all()
        with self.lock:
            self.changed.notify_all()

    def send(self, line: str) -> None:
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def lines(self) -> list[str]:
        with self.lock:
            return [ln for _, ln in self.out]

    def stderr_lines(self) -> list[str]:
        with self.lock:
            return [ln for _, ln in self.err]

    def wait_until(self, pred: Callable[[list[tuple[float, str]]], bool], timeout: float) -> bool:
        """Waits until pred(stdout lines with times) holds (checked on every new line), the
        process's stdout ends, or `timeout`; returns pred's last value."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if pred(self.out):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or (not self.threads[0].is_alive() and self.proc.poll() is not None):
                    return pred(self.out)
                self.changed.wait(min(left, 0.2))

    def stop(self) -> Optional[int]:
        """SIGKILL by pid (if still running), reap, finish reading."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        for t in self.threads:
            t.join(timeout=5)
        _started.pop(self.proc.pid, None)
        if self.log:
            self.log.close()
            self.log = None
        return self.proc.returncode

    def wait_exit(self, timeout: float) -> Optional[int]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.threads:
            t.join(timeout=5)
        _started.pop(self.proc.pid, None)
        return self.proc.returncode


class JsonLines(Lines):
    """A process that prints one JSON object per line (outpost-watch-fanout follow)."""

    def objects(self, key: Optional[str] = None) -> list:
        out = []
        for ln in self.lines():
            try:
                obj = json.loads(ln)
            except ValueError:
                continue
            if key is None:
                out.append(obj)
            elif isinstance(obj, dict) and key in obj:
                out.append(obj[key])
        return out

    def last(self, key: str):
        objs = self.objects(key)
        return objs[-1] if objs else None

    def wait_for(self, key: str, pred: Callable[[dict], bool] = lambda _o: True,
                 timeout: float = 30) -> Optional[dict]:
        found: list = []

        def check(lines) -> bool:
            for _, ln in reversed(lines):
                if f'"{key}"' not in ln:
                    continue
                try:
                    obj = json.loads(ln).get(key)
                except ValueError:
                    continue
                if obj is not None and pred(obj):
                    found.append(obj)
                    return True
                return False  # only the newest such line counts
            return False
        self.wait_until(check, timeout)
        return found[-1] if found else None


def etcdctl_cmd(args: argparse.Namespace, endpoint: str, *cmd: str) -> list[str]:
    return [args.etcdctl, f"--endpoints={endpoint}", *cmd]


def etcdctl_lines(args: argparse.Namespace, endpoint: str, *cmd: str,
                  log_path: Optional[str] = None) -> Lines:
    """A long-running etcdctl (watch, lease keep-alive) with its lines read as they come."""
    return Lines(etcdctl_cmd(args, endpoint, *cmd), env=harness.etcdctl_env(), log_path=log_path)
