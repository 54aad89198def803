#!/usr/bin/env python3
"""outpost-mirror: re-sync after the source compacted past the checkpoint (vanished keys
removed), destination failover (a dead first endpoint; the first endpoint dying), once mode,
mirrored leases, and bad TOML or flags naming the key.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from proxy import Proxy  # noqa: E402
from mirror_util import MirrorProc, checkpoint, dump, revision, user_keys  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    r = harness.Runner(args, "outpost-mirror: re-sync, failover, once, bad input")

    def under(d, prefix):
        return None if d is None else {k: v for k, v in d.items() if k.startswith(prefix)}

    @r.test
    def compaction_past_the_checkpoint_resyncs():
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        for i in range(10):
            src.ctl("put", f"/app/a{i}", f"v{i}")
        # The first destination endpoint is dead: the mirror fails over to the second.
        dead = f"127.0.0.1:{harness.free_port()}"
        flags = [f"--endpoints={src.endpoint}", "--prefix=/app/", "--dest-prefix=/copy/",
                 f"{dead},{dst.endpoint}"]
        m = MirrorProc(args, flags + ["--once"]).start()
        m.proc.wait(timeout=20)
        r.eq(m.proc.returncode, 0, "once: exits 0 when caught up", m.log()[-2000:])
        r.eq(user_keys(dump(args, dst.endpoint)),
             {f"/copy/a{i}": f"v{i}" for i in range(10)},
             "initial sync through the second destination endpoint, prefix rewritten")
        r.check("switching" in m.log(), "the dead destination endpoint was failed over")
        # Changes the mirror does not see, then a compaction past its checkpoint.
        src.ctl("del", "/app/a1")
        src.ctl("del", "/app/a2")
        src.ctl("put", "/app/new", "n")
        src.ctl("put", "/app/a3", "changed")
        dst.ctl("put", "/copy/stray", "only at the destination")
        srev = revision(args, src.endpoint)
        res = src.ctl("compact", str(srev))
        r.require(res.ok, "etcdctl compact", res.describe(), quiet=True)
        m = MirrorProc(args, flags + ["--once"]).start()
        m.proc.wait(timeout=20)
        r.eq(m.proc.returncode, 0, "once after a re-sync: exit 0", m.log()[-2000:])
        want = {"/copy/" + k[len("/app/"):]: v
                for k, v in under(dump(args, src.endpoint), "/app/").items()}
        r.eq(user_keys(dump(args, dst.endpoint)), want,
             "re-sync: vanished and stray keys deleted, new and changed keys copied")
        r.check("re-syncing" in m.log() and "re-sync: done" in m.log(),
                "the re-sync is logged", m.log()[-2000:])
        r.eq(checkpoint(args, dst.endpoint), srev, "checkpoint = the re-sync revision")
        # And live again after the re-sync.
        m = MirrorProc(args, flags).start()
        src.ctl("put", "/app/after", "x")
        try:
            harness.wait_for(lambda: (dump(args, dst.endpoint) or {}).get("/copy/after") == "x",
                             10, 0.2, "live after re-sync")
            r.check(True, "watching again after the re-sync")
        except TimeoutError:
            r.check(False, "watching again after the re-sync", m.log()[-2000:])
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def leases_mirrored_kept_alive_and_revoked():
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/l/", "--leases=mirror",
                              dst.endpoint]).start()
        res = src.ctl("lease", "grant", "4")
        r.require(res.ok, "lease grant", res.describe(), quiet=True)
        lease = res.stdout.split()[1]
        src.ctl("put", "--lease=" + lease, "/l/k", "v")
        src.ctl("put", "/l/plain", "p")

        def dest_lease():
            g = dst.ctl("get", "/l/k", "-w", "json")
            kvs = json.loads(g.stdout).get("kvs", []) if g.ok else []
            return int(kvs[0].get("lease", 0)) if kvs else None

        try:
            harness.wait_for(lambda: dest_lease() not in (None, 0), 10, 0.2, "leased key")
            r.check(True, "the key reaches the destination with a destination lease")
        except TimeoutError:
            r.require(False, "leased key at the destination", m.log()[-2000:])
        dl = f"{dest_lease():x}"
        ttl = dst.ctl("lease", "timetolive", dl)
        r.check(ttl.ok and "granted with TTL(" in ttl.stdout, "the destination lease exists",
                ttl.describe())
        for _ in range(7):  # longer than the 4 s TTL
            src.ctl("lease", "keep-alive", "--once", lease)
            time.sleep(1)
        r.check(dest_lease() not in (None, 0),
                "the destination lease is kept alive while the source lease lives", m.log()[-2000:])
        # A restart in between: the lease map is rebuilt from the keys on both sides.
        m.kill9()
        m.start()
        for _ in range(6):
            src.ctl("lease", "keep-alive", "--once", lease)
            time.sleep(1)
        r.check(dest_lease() not in (None, 0) and
                "recovered mirrored leases" in m.log() and '"leases":1' in m.log(),
                "after kill -9 and restart the destination lease is still kept alive",
                m.log()[-2000:])
        src.ctl("lease", "revoke", lease)
        try:
            harness.wait_for(lambda: "remaining(-1s)" in dst.ctl("lease", "timetolive", dl).stdout
                             or "expired" in dst.ctl("lease", "timetolive", dl).stdout,
                             8, 0.2, "destination lease revoked")
            r.check(True, "the destination lease is revoked once the source lease is gone")
        except TimeoutError:
            r.check(False, "destination lease revoked",
                    dst.ctl("lease", "timetolive", dl).describe() + "\n" + m.log()[-2000:])
        r.eq(user_keys(dump(args, dst.endpoint)), {"/l/plain": "p"},
             "the leased key is gone at the destination, the plain one stays")
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def destination_failover_between_two_endpoints():
        # Two destination endpoints (two proxies in front of one member): the first dies
        # mid-stream; writes go on through the second.
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        p1 = Proxy(dst.client_port, "dst-a")
        p2 = Proxy(dst.client_port, "dst-b")
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/f/",
                              f"{p1.url},{p2.url}"]).start()
        src.ctl("put", "/f/a", "1")
        try:
            harness.wait_for(lambda: (dump(args, dst.endpoint) or {}).get("/f/a") == "1", 10, 0.2,
                             "first write")
        except TimeoutError:
            r.require(False, "mirrored through the first endpoint", m.log()[-2000:])
        p1.close()
        for i in range(10):
            src.ctl("put", f"/f/k{i}", str(i))
        want = lambda: under(dump(args, src.endpoint), "/f/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 15, 0.2,
                             "after failover")
            r.check(True, "writes continue through the second destination endpoint")
        except TimeoutError:
            r.check(False, "writes continue after the first endpoint died", m.log()[-3000:])
        r.check(f'"to":"{p2.url}"' in m.log(), "the switch to the second endpoint is logged",
                m.log()[-2000:])
        r.eq(m.stop(), 0, "SIGTERM: exit 0")
        p2.close()

    @r.test
    def compact_dest_compacts_behind_the_checkpoint():
        # compact_dest every second: the destination's old revisions go, its data and the
        # checkpoint stay.
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/c/", "--compact-dest",
                              "--compact-dest-interval-s=1", dst.endpoint]).start()
        for i in range(5):
            src.ctl("put", f"/c/k{i}", str(i))

        def old_revision_gone() -> bool:
            for i in range(5):  # keep writing: compaction follows the mirror's own txns
                src.ctl("put", "/c/tick", str(time.time()))
            res = dst.ctl("get", "/c/k0", "--rev=2")
            return not res.ok and "compacted" in res.stderr
        try:
            harness.wait_for(old_revision_gone, 15, 0.5, "destination compaction")
            r.check(True, "the destination's old revisions are compacted")
        except TimeoutError:
            r.check(False, "the destination's old revisions are compacted", m.log()[-3000:])
        want = lambda: under(dump(args, src.endpoint), "/c/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 10, 0.2,
                             "converged")
            r.check(True, "the destination still equals the source")
        except TimeoutError:
            r.check(False, "the destination equals the source", m.log()[-2000:])
        r.check(checkpoint(args, dst.endpoint) is not None, "the checkpoint survives compaction")
        r.check("compact" in m.log(), "the compaction is logged", m.log()[-2000:])
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def bad_toml_and_flags_name_the_key():
        path = os.path.join(args.workdir, "mirror.toml")
        with open(path, "w") as f:
            f.write('prefix = "/a/"\n[destination]\nendpoints = ["127.0.0.1:1"]\n')
        bad = os.path.join(args.workdir, "bad.toml")
        with open(bad, "w") as f:
            f.write('prefix = "/a/"\n\nleases = "keep"\n')
        res = harness.run([args.mirror, "--config", bad, "127.0.0.1:1"])
        r.eq(res.rc, 2, "bad TOML value: exit 2")
        r.check(f'{bad}:3:1: leases: must be "drop" or "mirror"' in res.stderr,
                "the error names the file, line and key", res.stderr)
        with open(bad, "w") as f:
            f.write('[source]\nendpoint = ["x"]\n')
        res = harness.run([args.mirror, "--config", bad, "127.0.0.1:1"])
        r.check(res.rc == 2 and 'unknown key "source.endpoint"' in res.stderr,
                "an unknown key is named", res.stderr)
        res = harness.run([args.mirror, "--config", path, "--max-txn-ops=lots"])
        r.check(res.rc == 2 and '--max-txn-ops: invalid value "lots"' in res.stderr,
                "a bad flag value names the flag", res.stderr)
        res = harness.run([args.mirror, "--frobnicate", "127.0.0.1:1"])
        r.check(res.rc == 2 and "unknown flag --frobnicate" in res.stderr, "an unknown flag",
                res.stderr)
        res = harness.run([args.mirror, "--dest-cacert=/no/such/ca.pem", "127.0.0.1:1"])
        r.check(res.rc == 2 and 'destination.cacert: cannot read "/no/such/ca.pem"' in res.stderr,
                "an unreadable CA file is named", res.stderr)
        res = harness.run([args.mirror, "--help"])
        r.check(res.rc == 0 and "\\x00outpost-mirror/<name>" in res.stdout,
                "--help shows the default checkpoint key", res.stdout)

    return r.main()


if __name__ == "__main__":
    sys.exit(main())
