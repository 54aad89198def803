#!/usr/bin/env python3
"""outpost-mirror: initial sync and live updates, txns atomic at the destination, kill -9 and
resume from the checkpoint, metrics, a stalled link (watchdog) and convergence after it. Real etcd plays the source or the destination in two tests.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from proxy import Proxy  # noqa: E402
from mirror_util import MirrorProc, checkpoint, dump, revision, user_keys  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    r = harness.Runner(args, "outpost-mirror: sync, atomic txns, resume")

    def under(d, prefix):
        return None if d is None else {k: v for k, v in d.items() if k.startswith(prefix)}

    @r.test
    def sync_and_live_updates():
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        for i in range(30):
            src.ctl("put", f"/app/k{i:02}", f"v{i}")
        src.ctl("put", "/other/x", "not mirrored")
        port = harness.free_port()
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/app/",
                              f"--metrics-listen=127.0.0.1:{port}", "--log-interval-s=1",
                              dst.endpoint]).start()
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) ==
                             under(dump(args, src.endpoint), "/app/"), 15, 0.2, "initial sync")
            r.check(True, "initial sync: the destination holds the 30 keys under /app/ only")
        except TimeoutError:
            r.require(False, "initial sync", m.log()[-3000:])
        src.ctl("put", "/app/k00", "changed")
        src.ctl("del", "/app/k01")
        src.ctl("del", "/app/k1", "--prefix")
        src.ctl("txn", stdin="\nput /app/t1 a\nput /app/t2 b\n\n\n")
        src.ctl("put", "/other/y", "z")
        want = lambda: under(dump(args, src.endpoint), "/app/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 15, 0.2,
                             "live updates")
            r.check(True, "live puts, deletes, prefix deletes and a txn reach the destination")
        except TimeoutError:
            r.check(False, "live updates", m.log()[-3000:])
        srev = revision(args, src.endpoint)
        try:
            harness.wait_for(lambda: checkpoint(args, dst.endpoint) == srev, 10, 0.2, "checkpoint")
            r.check(True, "the checkpoint reaches the source revision (progress notifications)")
        except TimeoutError:
            r.check(False, "checkpoint == source revision",
                    f"checkpoint {checkpoint(args, dst.endpoint)}, source {srev}")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        r.check(f"outpost_mirror_mirrored_revision {srev}" in text and
                "outpost_mirror_lag_revisions 0" in text and "outpost_mirror_events_total" in text,
                "GET /metrics shows the mirrored revision and no lag", text)
        time.sleep(1.2)
        recs = harness.log_records(m.log(), "mirror status")
        r.check(bool(recs) and "lag_revisions" in recs[-1], "a periodic JSON status line is logged")
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def txn_is_atomic_at_the_destination():
        # Real etcd as the source, the server under test as the destination.
        src = harness.Member(args, "esrc", kind="etcd").start()
        dst = harness.Member(args, "dst").start()
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/t/", dst.endpoint]).start()
        seen, bad = [], []
        done = threading.Event()

        def reader():
            while not done.is_set():
                d = under(dump(args, dst.endpoint), "/t/")
                if d is None:
                    continue
                seen.append(d)
                if len(set(d.values())) > 1 or len(d) not in (0, 10):
                    bad.append(d)

        t = threading.Thread(target=reader)
        t.start()
        for i in range(8):
            body = "".join(f"put /t/{j} round{i}\n" for j in range(10))
            res = src.ctl("txn", stdin="\n" + body + "\n\n")
            r.require(res.ok, "etcdctl txn", res.describe(), quiet=True)
            time.sleep(0.05)
        try:
            harness.wait_for(lambda: under(dump(args, dst.endpoint), "/t/") ==
                             {f"/t/{j}": "round7" for j in range(10)}, 10, 0.1, "last round")
        except TimeoutError:
            pass
        done.set()
        t.join()
        r.check(under(dump(args, dst.endpoint), "/t/") == {f"/t/{j}": "round7" for j in range(10)},
                "the destination ends with the last txn", m.log()[-2000:])
        r.check(len(seen) > 5 and not bad,
                f"a concurrent destination reader never saw half a 10-key txn ({len(seen)} reads)",
                f"bad reads: {bad[:3]}")
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def kill9_and_resume_from_the_checkpoint():
        # The server under test as the source, real etcd as the destination.
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "edst", kind="etcd").start()
        flags = [f"--endpoints={src.endpoint}", "--prefix=/w/", dst.endpoint]
        m = MirrorProc(args, flags).start()
        stop_writing = threading.Event()

        def writer():
            i = 0
            while not stop_writing.is_set() and i < 400:
                src.ctl("put", f"/w/{i % 37}", f"v{i}")
                if i % 5 == 0:
                    src.ctl("del", f"/w/{(i * 7) % 37}")
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.5)
        m.kill9()
        mid = checkpoint(args, dst.endpoint)
        time.sleep(0.5)
        m.start()
        time.sleep(1.5)
        stop_writing.set()
        t.join()
        want = lambda: under(dump(args, src.endpoint), "/w/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 15, 0.2,
                             "convergence")
            r.check(True, "after kill -9 and restart the destination equals the source")
        except TimeoutError:
            r.check(False, "destination equals source after kill -9", m.log()[-3000:])
        srev = revision(args, src.endpoint)
        try:
            harness.wait_for(lambda: checkpoint(args, dst.endpoint) == srev, 10, 0.2, "checkpoint")
            r.check(True, "the checkpoint equals the source revision")
        except TimeoutError:
            r.check(False, "checkpoint == source revision",
                    f"checkpoint {checkpoint(args, dst.endpoint)}, source {srev}")
        r.check(mid is not None and "resuming from the checkpoint" in m.log() and
                "initial sync" not in m.log(),
                f"the restart resumed from checkpoint {mid} instead of copying again", m.log()[:2000])
        r.eq(m.stop(), 0, "SIGTERM: exit 0")

    @r.test
    def stalled_link_watchdog_and_convergence():
        # The source sits behind a 25 ms delaying proxy (another "region"); the link stalls for
        # 8 s: the watch goes silent, the watchdog restarts it, and after the stall it converges.
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        link = Proxy(src.client_port, "src-link", delay_ms=25)
        m = MirrorProc(args, [f"--endpoints={link.url}", "--prefix=/s/", "--watch-idle-s=3",
                              "--log-interval-s=1", dst.endpoint]).start()
        src.ctl("put", "/s/before", "1")
        try:
            harness.wait_for(lambda: (dump(args, dst.endpoint) or {}).get("/s/before") == "1", 10,
                             0.2, "before the stall")
        except TimeoutError:
            r.require(False, "mirrored before the stall", m.log()[-2000:])
        link.hold()
        for i in range(20):
            src.ctl("put", f"/s/k{i}", str(i))
        src.ctl("del", "/s/before")
        time.sleep(8)
        r.check("watch saw neither events nor progress" in m.log(),
                "the watchdog restarts a watch silent for watch_idle_s", m.log()[-2000:])
        link.release()
        want = lambda: under(dump(args, src.endpoint), "/s/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 15, 0.2,
                             "convergence after the stall")
            r.check(True, "the destination converges once the link is back")
        except TimeoutError:
            r.check(False, "convergence after the stall", m.log()[-3000:])
        time.sleep(1.5)
        recs = harness.log_records(m.log(), "mirror status")
        r.check(bool(recs) and recs[-1].get("reconnects_total", 0) > 0,
                "reconnects_total counts the restarts", str(recs[-1:]))
        r.eq(m.stop(), 0, "SIGTERM: exit 0")
        link.close()

    return r.main()


if __name__ == "__main__":
    sys.exit(main())
