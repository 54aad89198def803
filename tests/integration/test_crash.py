#!/usr/bin/env python3
"""Crash safety: every acknowledged write survives `kill -9` of the server.

Several writer threads each run `etcdctl put` in a loop on distinct keys and record every put that
returned success ("OK", exit 0). The server is killed with SIGKILL while they write, restarted on
the same data dir and ports, and then:
  * every acknowledged key is present with its value;
  * nothing else appeared (only keys some writer tried, each with the value it tried);
  * revisions are consistent: header revision >= acknowledged writes + 1, the mod revisions of
    the keys present are exactly 2..header revision (every revision is one of our puts, applied
    once), and the next put gets header revision + 1.
Two crash cycles are run, the second on top of the data of the first.
"""

from __future__ import annotations

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WRITERS = 6
ACKS_BEFORE_KILL = 150


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "crash: acknowledged writes survive kill -9")
    check, eq, require = runner.check, runner.eq, runner.require

    def dump(m: harness.Member, prefix: str) -> dict:
        r = m.ctl("get", prefix, "--prefix", "-w", "json", timeout=60, command_timeout="30s")
        require(r.ok, f"get {prefix} --prefix -w json", r.describe(), quiet=True)
        return json.loads(r.stdout)

    @runner.test
    def kill9_mid_write_loop():
        m = harness.Member(args, name="crash1").start()
        all_acked: dict[str, str] = {}
        all_tried: dict[str, str] = {}
        for cycle in (1, 2):
            writers = harness.Writers(args, [m], prefix=f"crash/{cycle}", n=WRITERS).start()
            try:
                harness.wait_for(lambda: writers.count() >= ACKS_BEFORE_KILL or not m.running(),
                                 timeout=60, what=f"{ACKS_BEFORE_KILL} acknowledged puts")
                acked_at_kill = writers.count()
                m.kill9()
                print(f"  cycle {cycle}: killed the server with SIGKILL after {acked_at_kill} "
                      f"acked puts")
            finally:
                # Joins the writers: puts in flight at the kill finish (acked or failed) first.
                writers.finish()
            all_acked.update(writers.acked)
            all_tried.update(writers.tried)
            print(f"  cycle {cycle}: {len(writers.acked)} acked, {len(writers.tried)} tried")

            m.start()
            doc = dump(m, "crash/")
            got = {base64.b64decode(kv["key"]).decode(): kv for kv in doc.get("kvs", [])}
            values = {k: base64.b64decode(kv.get("value", "")).decode() for k, kv in got.items()}
            missing = sorted(k for k in all_acked if k not in got)
            check(not missing, f"cycle {cycle}: all {len(all_acked)} acknowledged keys present",
                  f"{len(missing)} missing, e.g. {missing[:10]}")
            wrong = sorted(k for k in all_acked if k in values and values[k] != all_acked[k])
            check(not wrong, f"cycle {cycle}: every acknowledged key has its value",
                  f"{[(k, values[k], all_acked[k]) for k in wrong[:10]]}")
            foreign = sorted(k for k in got if all_tried.get(k) != values[k])
            check(not foreign, f"cycle {cycle}: no key or value that no writer tried",
                  f"{foreign[:10]}")
            rev = doc["header"]["revision"]
            check(rev >= len(all_acked) + 1,
                  f"cycle {cycle}: header revision {rev} >= acked writes + 1 ({len(all_acked) + 1})")
            # Only puts of distinct keys ever happened, so revisions 2..rev are exactly the mod
            # revisions of the keys present: none lost, none invented, none applied twice.
            mods = sorted(kv["mod_revision"] for kv in got.values())
            check(mods == list(range(2, rev + 1)),
                  f"cycle {cycle}: mod revisions of the {len(mods)} keys are exactly 2..{rev}",
                  f"first mismatch near {next((i + 2 for i, r in enumerate(mods) if r != i + 2), None)}")
            check(all(kv["version"] == 1 and kv["create_revision"] == kv["mod_revision"]
                      for kv in got.values()), f"cycle {cycle}: every key written once (version 1)")
            r = m.ctl("put", f"crash/{cycle}/after", "x")
            require(r.ok, "put after restart", r.describe(), quiet=True)
            after = dump(m, f"crash/{cycle}/after")
            eq(after["kvs"][0]["mod_revision"], rev + 1,
               f"cycle {cycle}: the next put after restart gets revision {rev + 1}")
            all_tried[f"crash/{cycle}/after"] = "x"
        m.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
