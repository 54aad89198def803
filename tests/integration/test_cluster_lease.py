#!/usr/bin/env python3
"""Leases on a 3-member cluster across a kill -9 of the leader: kept-alive leases never expire, a
lease left alone expires on time and takes its keys with it in one revision.

Leases (TTL 5 s, 3 keys each, keys under lease/<name>/):
  A  kept alive by `etcdctl lease keep-alive` through follower 1 only
  B  kept alive through follower 2 only
  C  kept alive through the leader; when the leader dies the client re-creates its keep-alive on
     follower 1 (what a client with several endpoints does)
  D  no keep-alive, granted just before the kill
  E  no keep-alive, granted through follower 2 once the new leader is known
An `etcdctl watch --prefix lease/ -w json` on follower 1 records every event with the time it
arrived. The test checks:
  * A, B and C outlive their TTL before the kill (a lease kept alive only through a follower
    survives), and after the kill, for TTL + 2 election timeouts more past the new leader: no
    DELETE of their keys, `lease timetolive` positive, keys still there, no keep-alive client
    told "expired or revoked";
  * D and E expire: never before TTL after their grant was sent, and no later than TTL + one
    election timeout (+ SLACK_S) after their last grant or renewal: for E its grant's answer; for
    D the new leader's take-over (etcd's new leader gives every lease its full TTL again plus
    one election timeout: lessor.Promote), bounded by the time the test saw the new leader;
  * each of D's and E's three keys vanishes in ONE revision, delivered in one watch response
    that holds nothing else, and `lease timetolive` then says the lease is gone.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import watchlease_util as wl  # noqa: E402

TTL = 5
KEYS_PER_LEASE = 3
# Scheduling slack on top of TTL + one election timeout for an unattended lease's expiry to show
# in a watch: the leader looks for expired leases every 500 ms (etcd's lessor runLoop), then the
# revocation goes through raft, and the event through the watch to etcdctl.
SLACK_S = 1.0


def main() -> int:
    args = harness.parse_args(__doc__.splitlines()[0])
    runner = harness.Runner(args, "cluster: leases across a kill -9 of the leader")
    check, eq, require = runner.check, runner.eq, runner.require

    def grant(m: harness.Member, name: str) -> tuple[str, float, float]:
        """lease grant TTL through m, then KEYS_PER_LEASE keys attached; returns (hex id, time the
        grant was sent, time its answer came)."""
        sent = time.monotonic()
        r = m.ctl("lease", "grant", str(TTL))
        done = time.monotonic()
        require(r.ok, f"lease grant {TTL} through {m.name} (lease {name})", r.describe(), quiet=True)
        got = re.match(r"lease ([0-9a-f]+) granted with TTL\((\d+)s\)", r.stdout)
        require(bool(got) and int(got.group(2)) == TTL, f"lease {name}: granted with TTL {TTL}",
                r.stdout)
        lid = got.group(1)
        for i in range(KEYS_PER_LEASE):
            r = m.ctl("put", f"lease/{name}/{i}", f"{name}{i}", f"--lease={lid}")
            require(r.ok, f"put lease/{name}/{i} --lease={lid}", r.describe(), quiet=True)
        return lid, sent, done

    def timetolive(m: harness.Member, lid: str) -> dict:
        r = m.ctl("lease", "timetolive", lid, "--keys", "-w", "json")
        if not r.ok:
            return {"error": r.stderr.strip()}
        d = json.loads(r.stdout)
        d["keys"] = sorted(base64.b64decode(k).decode() for k in d.get("keys") or [])
        return d

    def events(watch: wl.Lines) -> list[tuple[float, int, list[tuple[str, str, int]]]]:
        """The watch's responses: (arrival time, header revision, [(type, key, mod_revision)])."""
        out = []
        with watch.lock:
            lines = list(watch.out)
        for t, ln in lines:
            try:
                d = json.loads(ln)
            except ValueError:
                continue
            evs = [("DELETE" if e.get("type") == 1 else "PUT",
                    base64.b64decode(e["kv"]["key"]).decode(), e["kv"].get("mod_revision", 0))
                   for e in d.get("Events") or []]
            out.append((t, d.get("Header", {}).get("revision", 0), evs))
        return out

    def deletions(watch: wl.Lines, name: str) -> list[tuple[float, list]]:
        return [(t, evs) for t, _, evs in events(watch)
                if any(typ == "DELETE" and key.startswith(f"lease/{name}/") for typ, key, _ in evs)]

    @runner.test
    def leases_across_leader_kill():
        c = harness.Cluster(args, prefix="ls")
        c.start()
        leader, term, sts = c.wait_leader(timeout=15)
        f1, f2 = [m for m in c if m is not leader]
        election_s = c.election_ms / 1000
        print(f"  leader {leader.name} term {term}; followers {f1.name}, {f2.name}")
        rev = sts[f1.name]["revision"]
        watch = wl.etcdctl_lines(args, f1.endpoint, "watch", "--prefix", "lease/", "-w", "json",
                                 f"--rev={rev + 1}",
                                 log_path=os.path.join(args.workdir, "watch.log"))
        keepalives: dict[str, wl.Lines] = {}  # the current keep-alive client of each lease
        every_keepalive: list[wl.Lines] = []

        def keep_alive(name: str, lid: str, m: harness.Member) -> None:
            keepalives[name] = wl.etcdctl_lines(
                args, m.endpoint, "lease", "keep-alive", lid,
                log_path=os.path.join(args.workdir, f"keepalive-{name}-{m.name}.log"))
            every_keepalive.append(keepalives[name])

        try:
            leases = {}
            for name, m in (("A", f1), ("B", f2), ("C", leader)):
                leases[name] = grant(m, name)
                keep_alive(name, leases[name][0], m)
            print("  leases " + ", ".join(f"{n}={v[0]}" for n, v in leases.items()) +
                  f" (TTL {TTL}s) kept alive through {f1.name}, {f2.name}, {leader.name}")

            # Past their TTL: every lease lives on keep-alives alone.
            last_grant = max(v[2] for v in leases.values())
            harness.wait_for(lambda: time.monotonic() >= last_grant + TTL + 1, timeout=TTL + 5,
                             interval=0.1, what="TTL + 1 s after the grants")
            for name, m in (("A", f1), ("B", f2), ("C", leader)):
                ttl = timetolive(f2, leases[name][0])
                check(ttl.get("ttl", -1) > 0 and len(ttl.get("keys", [])) == KEYS_PER_LEASE,
                      f"lease {name} (kept alive through {m.name} only) alive {TTL + 1}s after its "
                      f"grant, its {KEYS_PER_LEASE} keys attached (ttl {ttl.get('ttl')})", str(ttl))

            leases["D"] = grant(f1, "D")
            leader.kill9()
            killed = time.monotonic()
            keep_alive("C", leases["C"][0], f1)  # the client of C moves to a survivor
            print(f"  lease D={leases['D'][0]} granted (no keep-alive); killed leader "
                  f"{leader.name} {killed - leases['D'][2]:.2f}s after D's grant answer; C's "
                  f"keep-alive re-created on {f1.name}")
            new_leader, new_term, _ = c.wait_leader([f1, f2], timeout=30)
            elected = time.monotonic()
            print(f"  new leader {new_leader.name} term {new_term} seen {elected - killed:.2f}s "
                  "after the kill")
            leases["E"] = grant(f2, "E")
            print(f"  lease E={leases['E'][0]} granted through {f2.name} (no keep-alive)")

            # D and E expire; their keys' deletions show in the watch.
            for name in ("D", "E"):
                ok = watch.wait_until(lambda _l, n=name: bool(deletions(watch, n)),
                                      timeout=3 * TTL + 10)
                check(ok, f"lease {name}'s keys deleted (seen in the watch)")
            # The kept-alive leases must outlive the election by TTL + 2 election timeouts.
            until = elected + TTL + 2 * election_s
            harness.wait_for(lambda: time.monotonic() >= until, timeout=TTL + 10, interval=0.1,
                             what="TTL + 2 election timeouts after the new leader")
            final_ttls = {n: timetolive(f2, leases[n][0]) for n in leases}
            gets = {n: f2.ctl("get", f"lease/{n}/", "--prefix", "--keys-only") for n in leases}
        finally:
            for ka in every_keepalive:
                ka.stop()
            watch.stop()

        # ---- kept-alive leases
        for name, how in (("A", f"through {f1.name} only"), ("B", f"through {f2.name} only"),
                          ("C", f"through the leader, then {f1.name}")):
            dels = deletions(watch, name)
            check(not dels, f"lease {name} (kept alive {how}): none of its keys deleted",
                  f"{dels[:3]}")
            ttl = final_ttls[name]
            check(ttl.get("ttl", -1) > 0 and len(ttl.get("keys", [])) == KEYS_PER_LEASE,
                  f"lease {name}: timetolive positive ({ttl.get('ttl')}) with its "
                  f"{KEYS_PER_LEASE} keys, {time.monotonic() - killed:.1f}s after the kill",
                  str(ttl))
            eq(gets[name].stdout.split(), [f"lease/{name}/{i}" for i in range(KEYS_PER_LEASE)],
               f"lease {name}: its keys are still there")
        for name, ka in keepalives.items():
            lines = ka.lines()
            bad = [ln for ln in lines if "expired or revoked" in ln]
            check(not bad, f"keep-alive client of lease {name} ({ka.cmd[1]}) never told the lease "
                  "expired", f"{bad[:2]}")
        # (C's first client, pointed at the killed leader alone, may give up: clientv3 closes a
        # keep-alive it could not renew within the TTL. That is the client's view, not expiry.)
        for name in ("A", "B"):
            ka = keepalives[name]
            ttls = [int(x) for x in re.findall(r"keepalived with TTL\((\d+)\)", "\n".join(ka.lines()))]
            check(len(ttls) >= 3 and all(t > 0 for t in ttls),
                  f"lease {name}: {len(ttls)} keep-alive answers, every TTL positive "
                  f"(min {min(ttls) if ttls else None})")

        # ---- leases left alone
        for name, bound_from, what in (("D", elected, "the moment the new leader was seen (its take-over "
                                        "renews every lease)"),
                                       ("E", leases["E"][2], "its grant's answer")):
            lid, sent, done = leases[name]
            dels = deletions(watch, name)
            if not dels:
                check(False, f"lease {name} expired")
                continue
            t_del, evs = dels[0]
            after_grant = t_del - sent
            after_bound = t_del - bound_from
            limit = TTL + election_s + SLACK_S
            print(f"  lease {name}: keys deleted {after_grant:.2f}s after the grant was sent, "
                  f"{after_bound:.2f}s after {what.split(' (')[0]}")
            check(after_grant >= TTL, f"lease {name} did not expire before its TTL "
                  f"({after_grant:.2f}s >= {TTL}s after the grant was sent)")
            check(after_bound <= limit, f"lease {name} expired within TTL + one election timeout "
                  f"+ {SLACK_S}s slack of {what} ({after_bound:.2f}s <= {limit:.1f}s)")
            revs = sorted({r for typ, k, r in evs if typ == "DELETE" and k.startswith(f"lease/{name}/")})
            check(len(revs) == 1, f"lease {name}: its deletes share one revision {revs}")
            at_rev = [(i, typ, k) for i, (_, _, e) in enumerate(events(watch))
                      for typ, k, r in e if r in revs]
            eq(sorted((typ, k) for _, typ, k in at_rev),
               [("DELETE", f"lease/{name}/{i}") for i in range(KEYS_PER_LEASE)],
               f"lease {name}: that revision is the deletion of its {KEYS_PER_LEASE} keys, "
               "nothing else")
            check(len({i for i, _, _ in at_rev}) == 1 and len(dels) == 1,
                  f"lease {name}: delivered in ONE watch response; no other deletion of its keys",
                  f"{dels}")
            ttl = final_ttls[name]
            check(ttl.get("ttl", 0) == -1 and not ttl.get("keys"),
                  f"lease {name}: timetolive says it is gone (ttl {ttl.get('ttl')})", str(ttl))
            eq(gets[name].stdout.split(), [], f"lease {name}: its keys are gone")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
