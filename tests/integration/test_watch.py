#!/usr/bin/env python3
"""Watch, differential: the same writes and `etcdctl watch` sessions against a fresh real etcd and
a fresh server under test in the same run; the watch outputs must be identical after masking ids
and terms (revisions are not masked).

Every watch is started with an explicit --rev, so what it prints does not depend on when the
watcher registered: the test polls each watch's output until the last expected event shows,
then stops the watch process (by pid). Covered: history replay of puts, overwrites, deletes and
a multi-key txn (one revision, several events) with -w json; --prev-kv; a single key vs a
prefix; a from-key watch; a watch that starts in the future and sees live writes; and a watch
from a compacted revision, which the server cancels with etcd's message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TXN = 'value("k1") = "c"\n\nput k3 x\nput k4 y\ndel k1\n\n\n'


class Watch:
    """A background `etcdctl watch ...` writing to a file."""

    def __init__(self, args, member, name, *cmd):
        self.path = os.path.join(args.workdir, f"{member.name}.{name}.out")
        self.out = open(self.path, "wb")
        full = [args.etcdctl, f"--endpoints={member.endpoint}", "watch", *cmd]
        self.proc = subprocess.Popen(full, stdout=self.out, stderr=subprocess.STDOUT,
                                     env=harness.etcdctl_env())

    def text(self) -> str:
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text() or self.proc.poll() is not None:
                return needle in self.text()
            time.sleep(0.05)
        return needle in self.text()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.out.close()
        return self.text()


def mask(text: str) -> str:
    text = re.sub(r'"cluster_id":\d+', '"cluster_id":<c>', text)
    text = re.sub(r'"member_id":\d+', '"member_id":<m>', text)
    text = re.sub(r'"raft_term":\d+', '"raft_term":<t>', text)
    text = re.sub(r'"ts":"[^"]*"', '"ts":"<ts>"', text)
    text = re.sub(r'client-[0-9a-f-]+', 'client-<id>', text)
    return text


def session(args, kind: str, runner) -> dict[str, str]:
    """Runs the session against one server; returns watch name -> output."""
    out: dict[str, str] = {}
    with harness.Member(args, name=f"w-{kind}", kind=kind) as m:
        m.start()
        ctl = m.ctl
        for cmd in (("put", "k1", "a"), ("put", "k2", "b"), ("put", "k1", "c"), ("del", "k2")):
            runner.require(ctl(*cmd).ok, f"{kind}: {' '.join(cmd)}", quiet=True)
        runner.require(ctl("txn", stdin=TXN).ok, f"{kind}: txn", quiet=True)
        # Revisions now: 2 put k1, 3 put k2, 4 put k1, 5 del k2, 6 txn (put k3, put k4, del k1).
        specs = {
            "history-json": (("--rev=1", "--prefix", "k", "-w", "json"), '"mod_revision":6}'),
            "history-prevkv": (("--rev=2", "--prefix", "k", "--prev-kv"), "k1\nc\n"),
            "single-key": (("--rev=1", "k1"), "DELETE\nk1\n"),
            "range": (("--rev=1", "k2", "k4"), "PUT\nk3\nx\n"),
        }
        for name, (cmd, last) in specs.items():
            w = Watch(args, m, name, *cmd)
            runner.check(w.wait_for(last), f"{kind}: watch {name} printed through revision 6")
            out[name] = w.stop()

        # Simple output: whether the watcher registered before or after these writes decides if
        # they come as one catch-up response or three live ones (both are etcd's behaviour).
        live = Watch(args, m, "live", "--rev=7", "--prefix", "k", "--prev-kv")
        for cmd in (("put", "k5", "live"), ("put", "k5", "again"), ("del", "k5")):
            runner.require(ctl(*cmd).ok, f"{kind}: {' '.join(cmd)}", quiet=True)
        runner.check(live.wait_for("DELETE\nk5\n"), f"{kind}: live watch saw revisions 7..9")
        out["live"] = live.stop()

        runner.require(ctl("compaction", "8").ok, f"{kind}: compaction 8", quiet=True)
        w = Watch(args, m, "compacted", "--rev=2", "k1")
        runner.check(w.wait_for("Error: watch is canceled by the server"),
                     f"{kind}: a watch from a compacted revision is cancelled")
        out["compacted"] = w.stop()
    return out


def main() -> int:
    args = harness.parse_args(__doc__.splitlines()[0], needs_etcd=True)
    runner = harness.Runner(args, "watch: etcdctl watch output identical to etcd 3.4")

    @runner.test
    def watch_sessions_match_etcd():
        ref = session(args, "etcd", runner)
        got = session(args, args.server, runner)
        for name in ref:
            a, b = mask(ref[name]), mask(got.get(name, ""))
            runner.eq(b, a, f"watch {name}: identical output")
        runner.check("watch was canceled (etcdserver: mvcc: required revision has been compacted)"
                     in got.get("compacted", ""), "compacted watch names etcd's reason")

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
