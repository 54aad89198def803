#!/usr/bin/env python3
"""`etcdctl watch -i` (interactive), differential: the same stdin script and writes against a fresh
real etcd and a fresh server under test in the same run; what etcdctl prints must be identical
after masking ids and terms (revisions are not masked).

The script adds watchers one line at a time (`watch foo`, `watch --prefix fo --prev-kv`,
`watch --rev 2 fox`, `watch a c`, `watch --rev 4 --prev-kv a1`), asks for `progress`, makes puts,
a delete and a multi-key txn between them, sends invalid lines (etcdctl reports them on stderr and
goes on), and ends either with a bad flag (etcdctl exits 128) or by closing stdin (exits 3).

Synchronisation without sleeps: etcdctl's interactive loop reads the next line only once the
previous watch is created (clientv3's Watch returns after the server's "created" answer), and a
`progress` line makes every watcher print "progress notify: REV", so after `watch X` + `progress`
the test waits for one such line per watcher. After a write it waits for the number of lines the
events print (counted by hand below; one line per response with -w json). Output of one step is
compared as a whole; where several watchers print at once (their goroutines interleave lines),
it is compared as a sorted list of lines. Two sessions: the simple format and -w json.
(`watch --prefix`, `--prev-kv` and `--rev` outside interactive mode are in test_watch.py.)
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import watchlease_util as wl  # noqa: E402


@dataclass
class Step:
    what: str
    send: tuple = ()              # lines for etcdctl's stdin
    write: tuple = ()             # an etcdctl command run against the server (a write)
    write_stdin: Optional[str] = None
    out: tuple = (0, 0)           # stdout lines it adds: (simple format, -w json)
    err: int = 0                  # stderr lines it adds
    sorted: bool = False          # several watchers print at once: compare sorted lines
    ends: bool = False            # etcdctl exits after this step (or at stdin close: end())


PRE = (("put", "foo", "0"), ("put", "fox", "0"), ("put", "a1", "x"))  # revisions 2, 3, 4

# Line counts, simple format: an event prints its type, then key and value of prev_kv (if any),
# then key and value (a DELETE's value is an empty line). -w json: one line per response; a
# progress notification prints "progress notify: REV" and the response as JSON.
SCRIPT = [
    Step("watch foo, progress", send=("watch foo", "progress"), out=(1, 2)),
    Step("put foo 1 (rev 5)", write=("put", "foo", "1"), out=(3, 1)),
    Step("watch --prefix fo --prev-kv, progress", send=("watch --prefix fo --prev-kv", "progress"),
         out=(2, 4), sorted=True),
    Step("put foo 2 (rev 6): two watchers", write=("put", "foo", "2"), out=(3 + 5, 2), sorted=True),
    Step("put fox 1 (rev 7): the prefix watcher", write=("put", "fox", "1"), out=(5, 1)),
    Step("watch --rev 2 fox: history", send=("watch --rev 2 fox",), out=(6, 1)),
    Step("watch a c (range), progress", send=("watch a c", "progress"), out=(4, 8), sorted=True),
    Step("txn put a1 y, put b1 z, del foo (rev 8)", write=("txn",),
         write_stdin="\nput a1 y\nput b1 z\ndel foo\n\n\n", out=(3 + 5 + 6, 3), sorted=True),
    Step("invalid lines", send=("bogus", "", "watch", "watch a b --prefix"), err=4),
    Step("watch --rev 4 --prev-kv a1: history", send=("watch --rev 4 --prev-kv a1",),
         out=(3 + 5, 1)),
    Step("del a1 (rev 9)", write=("del", "a1"), out=(3 + 5, 2), sorted=True),
    Step("progress: five watchers", send=("progress",), out=(5, 10), sorted=True),
]


def mask(line: str) -> str:
    line = re.sub(r'"cluster_id":\d+', '"cluster_id":<c>', line)
    line = re.sub(r'"member_id":\d+', '"member_id":<m>', line)
    return re.sub(r'"raft_term":\d+', '"raft_term":<t>', line)


def session(args, kind: str, fmt: str, runner) -> dict:
    """Runs SCRIPT against a fresh server of `kind`; returns step name -> (stdout lines, stderr
    lines), plus the exit."""
    json_mode = fmt == "json"
    col = 1 if json_mode else 0
    out: dict = {}
    with harness.Member(args, name=f"wi-{kind}-{fmt}", kind=kind) as m:
        m.start()
        for cmd in PRE:
            runner.require(m.ctl(*cmd).ok, f"{kind}: {' '.join(cmd)}", quiet=True)
        flags = ["-w", "json"] if json_mode else []
        proc = wl.etcdctl_lines(args, m.endpoint, *flags, "watch", "-i",
                                log_path=os.path.join(args.workdir, f"{kind}-{fmt}.log"))
        try:
            n_out = n_err = 0
            for st in SCRIPT:
                for line in st.send:
                    proc.send(line)
                if st.write:
                    r = m.ctl(*st.write, stdin=st.write_stdin)
                    runner.require(r.ok, f"{kind}: {' '.join(st.write)}", r.describe(), quiet=True)
                want_out, want_err = n_out + st.out[col], n_err + st.err
                proc.wait_until(lambda lines: len(lines) >= want_out
                                and len(proc.stderr_lines()) >= want_err, timeout=10)
                lines, errs = proc.lines(), proc.stderr_lines()
                runner.check(len(lines) >= want_out and len(errs) >= want_err,
                             f"{kind} {fmt}: {st.what}: printed {st.out[col]} line(s)"
                             + (f" and {st.err} on stderr" if st.err else ""),
                             f"stdout so far {len(lines)}, want {want_out}; stderr {len(errs)}, "
                             f"want {want_err}\n" + "\n".join(lines[n_out:][-12:] + errs[n_err:]))
                out[st.what] = ([mask(x) for x in lines[n_out:want_out]], errs[n_err:want_err],
                                st.sorted)
                n_out, n_err = max(n_out, min(len(lines), want_out)), want_err
            # The end: a bad flag (simple) or end of input (json).
            if json_mode:
                proc.close_stdin()
            else:
                proc.send("watch --bogus x")
            rc = proc.wait_exit(timeout=10)
            out["exit"] = ([mask(x) for x in proc.lines()[n_out:]],
                           proc.stderr_lines()[n_err:] + [f"exit status {rc}"], False)
        finally:
            proc.stop()
    return out


def main() -> int:
    args = harness.parse_args(__doc__.splitlines()[0], needs_etcd=True)
    runner = harness.Runner(args, "watch -i: etcdctl interactive watch output identical to etcd 3.4")

    for fmt in ("simple", "json"):
        def test(fmt=fmt):
            ref = session(args, "etcd", fmt, runner)
            got = session(args, args.server, fmt, runner)
            for name, (ref_out, ref_err, is_sorted) in ref.items():
                got_out, got_err, _ = got.get(name, ([], [], False))
                if is_sorted:
                    runner.eq(sorted(got_out), sorted(ref_out),
                              f"{fmt}: {name}: same lines (any order: several watchers print)")
                else:
                    runner.eq(got_out, ref_out, f"{fmt}: {name}: identical output")
                if ref_err or got_err:
                    runner.eq(got_err, ref_err, f"{fmt}: {name}: identical stderr")
        test.__name__ = f"interactive_watch_{fmt}"
        runner.test(test)

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
