#!/usr/bin/env python3
"""Watch on a 3-member cluster: 2 000 watchers see every event of 10 000 writes; watchers survive a
kill -9 of the leader without a lost or repeated event.

fanout (outpost-watch-fanout fanout, tools/watch_tool.h): 1 000 watchers over ONE Watch stream to a
follower and 1 000 watchers over 100 streams (10 each) spread over the leader and both followers;
then 10 000 writes (puts, single and range deletes, txns with both branches) from 16 writer
threads spread over the three members. The tool models every key, so it knows each event the
server must emit; per watcher (single keys, 10-key prefixes, 25-key ranges, some with prev_kv,
a few over the whole key set) it checks: every expected event exactly once, revision order, all
events of one revision in one response, the full KeyValue (and prev_kv) as written.

leader kill (outpost-watch-fanout follow): three watchers of one prefix (one on the leader, one
on each follower, one of those with clientv3's require-leader metadata) while two writers put
fresh keys through the followers; kill -9 the leader; a watcher whose stream ends re-creates its
watch on the next member with start_revision = last seen + 1 (clientv3's behaviour). Each watcher
must then hold every revision from its start to the final one exactly once, in order, equal to
what a Range at the final revision returns, and every acknowledged put must be there.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import watchlease_util as wl  # noqa: E402

WATCHERS_ONE_STREAM = 1000
STREAMS = 100
PER_STREAM = 10
WRITES = 10000
WRITERS = 16
KEYS = 320

CHECK_NAMES = {
    "not_created": "every watcher created",
    "cancelled_or_stream_error": "no watcher cancelled, no stream ended early",
    "missing": "every expected event delivered (none lost)",
    "duplicate": "no event delivered twice",
    "unexpected": "no event outside the watcher's key range",
    "order": "events in revision order",
    "split": "all events of one revision in one response",
    "kv_mismatch": "full KeyValue (and prev_kv) as written",
    "header_revision": "response header revision >= its events' revision",
}


def main() -> int:
    tool, rest = wl.tool_arg("watch-tool", "OUTPOST_WATCH_TOOL",
                             "path of outpost-watch-fanout (tests/integration/tools)")
    args = harness.parse_args(__doc__.splitlines()[0], rest)
    if not tool or not os.access(tool, os.X_OK):
        print(f"--watch-tool PATH (outpost-watch-fanout) is required and must be executable: {tool!r}")
        return 2
    runner = harness.Runner(args, "cluster: watch fan-out and watchers across a leader kill")
    check, eq, require = runner.check, runner.eq, runner.require

    @runner.test
    def fanout_2000_watchers_10000_writes():
        c = harness.Cluster(args, prefix="wf")
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        followers = [m for m in c if m is not leader]
        eps = [leader.endpoint] + [m.endpoint for m in followers]  # index 0 = the leader
        print(f"  leader {leader.name} term {term}; one stream on {followers[0].name}, "
              f"{STREAMS} streams over all three; writers over all three")
        cmd = [tool, "fanout", "--endpoints", ",".join(eps),
               "--group", f"one-stream:1:{WATCHERS_ONE_STREAM}:1",
               "--group", f"many-streams:{STREAMS}:{PER_STREAM}:0,1,2",
               "--writes", str(WRITES), "--writers", str(WRITERS), "--keys", str(KEYS),
               "--timeout", "60"]
        started = time.monotonic()
        r = harness.run(cmd, timeout=75)
        took = time.monotonic() - started
        with open(os.path.join(args.workdir, "fanout.json"), "w") as f:
            f.write(r.stdout)
        require(r.ok and r.stdout.strip(), "outpost-watch-fanout fanout ran", r.describe())
        d = json.loads(r.stdout)
        require("error" not in d, "outpost-watch-fanout fanout ran", d.get("error", ""))
        print(f"  {took:.1f}s: created {d['created']} watchers in {d['create_seconds']:.2f}s, "
              f"{d['writes']} writes in {d['write_seconds']:.2f}s ({d['ops']}), "
              f"{d['revisions']} revisions, {d['events_written']} events; watchers caught up "
              f"{d['catch_up_seconds']:.2f}s after the last write")
        eq(d["writes"], WRITES, f"{WRITES} writes acknowledged", d["write_error"])
        eq(d["write_error"], "", "every write's result matched the tool's model")
        total = WATCHERS_ONE_STREAM + STREAMS * PER_STREAM
        eq((d["created"], d["refused"]), (total, 0), f"{total} watchers created, none refused")
        failures = "\n".join(d["failures"][:15])
        for g in d["groups"]:
            name = g["name"]
            print(f"  {name}: {g['streams']} stream(s), {g['watchers']} watchers {g['kinds']}, "
                  f"{g['events_received']} events in {g['responses']} responses")
            for key, what in CHECK_NAMES.items():
                n = g["failed_checks"].get(key, 0)
                check(n == 0, f"{name}: {what}" + (f" ({n} watchers fail)" if n else ""),
                      failures)
            eq(g["events_received"], g["events_expected"],
               f"{name}: events received = events expected")
            eq(g["watchers_ok"], g["watchers"], f"{name}: every watcher passes every check")
        check(d["ok"], "the tool's overall verdict is ok", failures)
        c.stop()

    @runner.test
    def watchers_survive_leader_kill():
        c = harness.Cluster(args, prefix="wk")
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        f1, f2 = [m for m in c if m is not leader]
        print(f"  leader {leader.name} term {term}; followers {f1.name}, {f2.name}")
        # Endpoint indexes: 0 leader, 1 f1, 2 f2.
        cmd = [tool, "follow", "--endpoints", ",".join([leader.endpoint, f1.endpoint, f2.endpoint]),
               "--watcher", "on-leader:0,1,2",
               "--watcher", "on-follower:1,2",
               "--watcher", "on-follower-require-leader:2,1:require-leader",
               "--writers", "2", "--writer-endpoints", "1,2", "--timeout", "80"]
        proc = wl.JsonLines(cmd, log_path=os.path.join(args.workdir, "follow.log"))
        try:
            ready = proc.wait_for("ready", timeout=30)
            require(ready is not None, "the watchers are created", "\n".join(proc.stderr_lines()[-10:]))
            st = proc.wait_for("status", lambda s: s["acked"] >= 300, timeout=30)
            require(st is not None, "300 puts acknowledged before the kill", json.dumps(proc.last("status")))
            leader.kill9()
            killed_at = time.monotonic()
            print(f"  killed leader {leader.name} after {st['acked']} acked puts "
                  f"(watchers at {st['watchers']})")
            new_leader, new_term, _ = c.wait_leader([f1, f2], timeout=30)
            print(f"  new leader {new_leader.name} term {new_term} seen "
                  f"{time.monotonic() - killed_at:.2f}s after the kill")
            at_election = proc.last("status")["acked"]
            st = proc.wait_for("status", lambda s: s["acked"] >= at_election + 300
                               and s["watchers"]["on-leader"]["attempts"] >= 2, timeout=30)
            require(st is not None, "300 more puts acknowledged and the leader's watcher re-created",
                    json.dumps(proc.last("status")))
            proc.send("stop")
            result = proc.wait_for("result", timeout=60)
            require(result is not None, "outpost-watch-fanout follow finished",
                    "\n".join(proc.stderr_lines()[-10:]))
        finally:
            proc.stop()
        require(not result.get("error") and result["final_rev"] > 0, "final revision read",
                result.get("error", "") + result.get("final_rev_error", ""))
        start_rev, final_rev = result["start_rev"], result["final_rev"]
        acked = result["acked"]
        print(f"  revisions {start_rev + 1}..{final_rev}: {len(acked)} acked puts, "
              f"{result['write_failures']} failed {result['write_errors'][:2]}")

        # What the cluster holds at the final revision (a survivor, linearizable).
        r = f1.ctl("get", "lk/", "--prefix", "-w", "json", f"--rev={final_rev}",
                   timeout=30, command_timeout="20s")
        require(r.ok, "get lk/ --prefix at the final revision", r.describe())
        kvs = {}
        for kv in json.loads(r.stdout).get("kvs", []):
            kvs[kv["mod_revision"]] = (base64.b64decode(kv["key"]).decode(),
                                       base64.b64decode(kv.get("value", "")).decode(),
                                       kv["create_revision"], kv["version"], kv.get("lease", 0))
        want_revs = list(range(start_rev + 1, final_rev + 1))
        eq(sorted(kvs), want_revs, f"every revision {start_rev + 1}..{final_rev} is one put of a "
           "fresh key (the history the watchers must see)")
        by_key = {v[0]: (rev, v[1]) for rev, v in kvs.items()}
        lost = [a for a in acked if by_key.get(a[0]) != (a[2], a[1])]
        check(not lost, f"all {len(acked)} acknowledged puts present at their revisions",
              f"{len(lost)} not, e.g. {lost[:5]}")

        for w in result["watchers"]:
            name = w["name"]
            revs = [e[0] for e in w["events"]]
            seen: dict[int, int] = {}
            for rev in revs:
                seen[rev] = seen.get(rev, 0) + 1
            dups = sorted(rev for rev, n in seen.items() if n > 1)
            missing = [rev for rev in want_revs if rev not in seen]
            extra = sorted(rev for rev in seen if rev not in kvs)
            disorder = next((i for i in range(1, len(revs)) if revs[i] <= revs[i - 1]), None)
            attempts = [(a["endpoint"].rsplit(":", 1)[-1], a["start_rev"], a["last_seen"],
                         a["created"], a["ended"]) for a in w["attempts"]]
            print(f"  {name}: {len(revs)} events in {w['responses']} responses; watch attempts "
                  f"(port, start_rev, last_seen, created, ended): {attempts}")
            check(not w["error"], f"{name}: not cancelled for good", w["error"])
            check(not missing, f"{name}: no event lost",
                  f"{len(missing)} revisions missing, e.g. {missing[:10]}")
            check(not dups, f"{name}: no event repeated", f"{len(dups)} repeated, e.g. {dups[:10]}")
            check(not extra, f"{name}: no event the cluster does not hold", f"{extra[:10]}")
            check(disorder is None, f"{name}: events in revision order",
                  f"at index {disorder}: {revs[max(0, (disorder or 0) - 2):(disorder or 0) + 2]}")
            wrong = [e for e in w["events"] if e[0] in kvs and
                     (e[1], e[2], e[3], e[4], e[5], e[6]) != (0, *kvs[e[0]][:2], e[0], 1, 0)]
            check(not wrong, f"{name}: every event is the PUT with the key, value, create revision "
                  "and version the cluster holds", f"{wrong[:5]}")
            for a in w["attempts"][1:]:
                check(a["start_rev"] == (a["last_seen"] + 1 if a["last_seen"] else start_rev + 1),
                      f"{name}: re-created with start_revision = last seen + 1 "
                      f"({a['start_rev']} on port {a['endpoint'].rsplit(':', 1)[-1]})")
        on_leader = next(w for w in result["watchers"] if w["name"] == "on-leader")
        check(len(on_leader["attempts"]) >= 2 and on_leader["attempts"][0]["ended"] != ""
              and any(a["created"] and a["endpoint"] != leader.endpoint
                      for a in on_leader["attempts"][1:]),
              "the watcher on the killed leader lost its stream and was re-created on a survivor")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
