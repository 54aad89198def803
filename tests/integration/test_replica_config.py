#!/usr/bin/env python3
"""Replica settings (issue 11): bad `[replica]` values name their key; good ones are reported by
GET /replica. Outpost only (a single member each; no cluster).

bad_values_name_the_key
    A TOML file with `[replica] read_policy = "sometimes"` exits 2 and the error names
    `replica.read_policy`; so do bad `writes`, `promote`, `max_lag_ms` (negative, and a string),
    `join` (not a URL) and an unknown key in `[replica]`. A bad flag value
    (`--replica-read-policy sometimes`, `--replica-writes sideways`, `--replica-promote always`,
    `--replica-max-lag-ms -5`, `--replica-join not-a-url`) exits 2 naming the flag
    (`replica-read-policy`, ...); `ETCD_REPLICA_READ_POLICY=sometimes` exits 2 naming it too.
    Nothing is left listening.
defaults_and_values_in_get_replica
    A member started with no replica settings answers GET /replica on its client URL (the gRPC
    port) with every documented key: role "voter", read_policy "refuse", writes "refuse",
    promote "manual", its own member id in hex (as `endpoint status` gives it in decimal), the
    leader id (itself), counters all present. One started from a TOML `[replica]` table
    (`read_policy = "bounded"`, `writes = "forward"`, `promote = "never"`) reports those; a flag
    wins over the file (`--replica-read-policy linearizable`), as for every other setting.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: settings and GET /replica")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    def toml(name: str, body: str) -> str:
        path = os.path.join(args.workdir, name)
        with open(path, "w") as f:
            f.write(body)
        return path

    def base_flags(m: harness.Member) -> list[str]:
        return list(m.flags())

    @runner.test
    def bad_values_name_the_key():
        m = harness.Member(args, name="rc1")
        cases = [
            ('read_policy = "sometimes"\n', "replica.read_policy"),
            ('writes = "sideways"\n', "replica.writes"),
            ('promote = "always"\n', "replica.promote"),
            ('max_lag_ms = -1\n', "replica.max_lag_ms"),
            ('max_lag_ms = "soon"\n', "replica.max_lag_ms"),
            ('join = ["not a url"]\n', "replica.join"),
            ('bogus = 1\n', "replica.bogus"),
        ]
        for i, (line, key) in enumerate(cases):
            path = toml(f"bad{i}.toml", "[replica]\n" + line)
            r = harness.run([args.outpost] + base_flags(m) + ["--config", path], timeout=8)
            out = r.stderr + r.stdout
            eq(r.rc, 2, f"[replica] {line.strip()}: exit 2", r.describe())
            check(key in out and ("unknown key" not in out or key == "replica.bogus"),
                  f"  the error names {key} (as a bad value, not an unknown key)", r.describe())
        flag_cases = [
            ("--replica-read-policy=sometimes", "replica-read-policy"),
            ("--replica-writes=sideways", "replica-writes"),
            ("--replica-promote=always", "replica-promote"),
            ("--replica-max-lag-ms=-5", "replica-max-lag-ms"),
            ("--replica-join=not-a-url", "replica-join"),
        ]
        for flag, key in flag_cases:
            r = harness.run([args.outpost] + base_flags(m) + [flag], timeout=8)
            out = r.stderr + r.stdout
            eq(r.rc, 2, f"{flag}: exit 2", r.describe())
            check(key in out and "provided but not defined" not in out,
                  f"  the error names {key} (as a bad value, not an unknown flag)", r.describe())
        env = dict(os.environ, ETCD_REPLICA_READ_POLICY="sometimes")
        r = harness.run([args.outpost] + base_flags(m), timeout=8, env=env)
        eq(r.rc, 2, "ETCD_REPLICA_READ_POLICY=sometimes: exit 2", r.describe())
        out = r.stderr + r.stdout
        check(("ETCD_REPLICA_READ_POLICY" in out or "replica-read-policy" in out)
              and "unrecognized environment variable" not in out,
              "  the error names ETCD_REPLICA_READ_POLICY (or replica-read-policy)",
              r.describe())
        check(not m._port_open(), "nothing listening on the client port afterwards")

    @runner.test
    def defaults_and_values_in_get_replica():
        m = harness.Member(args, name="rd1").start()
        st = ru.replica_status(m)
        status, body, _ = ru.http_get(m, "/replica")
        require(st is not None, "GET /replica on the client URL answers 200 with a JSON object",
                f"status {status}, body {body[:500]!r}")
        missing = [k for k in ru.STATUS_KEYS if k not in st]
        check(not missing, "GET /replica has every documented key", f"missing {missing}: {st}")
        cmissing = [k for k in ru.COUNTER_KEYS if k not in (st.get("counters") or {})]
        check(not cmissing, "its counters have every documented key",
              f"missing {cmissing}: {st.get('counters')}")
        eq((st.get("role"), st.get("read_policy"), st.get("writes"), st.get("promote")),
           ("voter", "refuse", "refuse", "manual"),
           "defaults: role voter, read_policy refuse, writes refuse, promote manual", str(st))
        c = harness.Cluster(args)  # only for its status() parser
        es = c.status(m)
        require(es is not None, "endpoint status", quiet=True)
        eq(st.get("member_id"), f"{int(es['member_id']):x}",
           "member_id is the member's id in hex (endpoint status gives it in decimal)")
        eq(st.get("leader_id"), f"{int(es['leader']):x}", "leader_id: itself, in hex")
        check(isinstance(st.get("applied_index"), int) and st["applied_index"] > 0,
              "applied_index is a positive number", str(st))
        check(isinstance(st.get("lag_entries"), int) and st["lag_entries"] >= 0,
              "lag_entries is a number >= 0", str(st))
        m.stop()

        path = toml("good.toml", '[replica]\nread_policy = "bounded"\nwrites = "forward"\n'
                                 'promote = "never"\nmax_lag_ms = 250\n')
        m2 = harness.Member(args, name="rd2", extra_flags=["--config", path]).start()
        st = ru.replica_status(m2) or {}
        eq((st.get("read_policy"), st.get("writes"), st.get("promote")),
           ("bounded", "forward", "never"), "from [replica] in TOML: bounded, forward, never",
           str(st))
        m2.stop()
        m3 = harness.Member(args, name="rd3", extra_flags=[
            "--config", path, "--replica-read-policy=linearizable"]).start()
        st = ru.replica_status(m3) or {}
        eq((st.get("read_policy"), st.get("writes")), ("linearizable", "forward"),
           "--replica-read-policy wins over the file; the file's writes kept", str(st))
        m3.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
