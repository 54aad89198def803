#!/usr/bin/env python3
"""outpost-mirror across a failing network and onto secured clusters: a 60 s cut of the link to
the source (leases kept alive at the destination throughout, convergence after), failover onto a
second member of a live 3-member destination while a member dies (no revision applied twice), and
real etcd with TLS and authentication as the source and as the destination.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tls_util  # noqa: E402
from proxy import Proxy  # noqa: E402
from mirror_util import CHECKPOINT, MirrorProc, checkpoint, dump, revision, user_keys  # noqa: E402

CUT_S = 60


def under(d, prefix):
    return None if d is None else {k: v for k, v in d.items() if k.startswith(prefix)}


def versions(args, endpoint: str, prefix: str) -> dict[str, int]:
    r = harness.etcdctl(args, endpoint, "get", prefix, "--prefix", "-w", "json")
    if not r.ok:
        return {}
    return {base64.b64decode(kv["key"]).decode(): int(kv.get("version", 0))
            for kv in json.loads(r.stdout).get("kvs", [])}


class SecureEtcd(harness.Member):
    """Real etcd serving https with client certificates required, and auth enabled for root."""

    def __init__(self, args, name: str, pki: tls_util.Pki, extra_flags=()):
        self.pki = pki
        self.client_cert, self.client_key = pki.client("root")
        super().__init__(args, name, kind="etcd", extra_flags=[
            f"--cert-file={pki.server_cert}", f"--key-file={pki.server_key}",
            f"--trusted-ca-file={pki.ca}", "--client-cert-auth"] + list(extra_flags))
        self.auth = False

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    def tls_flags(self) -> list[str]:
        return [f"--cacert={self.pki.ca}", f"--cert={self.client_cert}",
                f"--key={self.client_key}"]

    def ctl(self, *cmd: str, **kw) -> harness.Result:
        user = ["--user=root:rootpw"] if self.auth else []
        return harness.etcdctl(self.args, self.endpoint, *self.tls_flags(), *user, *cmd, **kw)

    def enable_auth(self) -> None:
        for cmd in (("user", "add", "root:rootpw"), ("role", "add", "root"),
                    ("user", "grant-role", "root", "root"), ("auth", "enable")):
            res = self.ctl(*cmd)
            if not res.ok:
                raise RuntimeError(res.describe())
        self.auth = True

    def dump(self):
        r = self.ctl("get", "", "--from-key", "-w", "json")
        if not r.ok:
            return None
        return {base64.b64decode(kv["key"]).decode(errors="replace"):
                base64.b64decode(kv.get("value", "")).decode(errors="replace")
                for kv in json.loads(r.stdout).get("kvs", [])}


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    r = harness.Runner(args, "outpost-mirror: link cut, destination failover, TLS and auth")

    @r.test
    def link_cut_60s_then_convergence():
        src = harness.Member(args, "src").start()
        dst = harness.Member(args, "dst").start()
        link = Proxy(src.client_port, "src-link")
        keeper = None
        try:
            for i in range(20):
                src.ctl("put", f"/app/k{i:02}", f"v{i}")
            live = src.ctl("lease", "grant", "8").stdout.split()[1]
            dies = src.ctl("lease", "grant", "5").stdout.split()[1]
            src.ctl("put", "--lease=" + live, "/app/live", "kept alive at the source")
            src.ctl("put", "--lease=" + dies, "/app/dies", "expires during the cut")
            keeper = subprocess.Popen([args.etcdctl, f"--endpoints={src.endpoint}", "lease",
                                       "keep-alive", live], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=harness.etcdctl_env(),
                                      preexec_fn=harness._die_with_parent)
            harness._live_processes[keeper.pid] = keeper
            m = MirrorProc(args, [f"--endpoints={link.url}", "--prefix=/app/", "--leases=mirror",
                                  "--watch-idle-s=5", "--log-interval-s=5", dst.endpoint]).start()
            want = lambda: under(dump(args, src.endpoint), "/app/")  # noqa: E731
            harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 20, 0.2,
                             "initial sync")

            link.hold()
            cut_at = time.monotonic()
            src.ctl("put", "/app/k00", "changed during the cut")
            src.ctl("del", "/app/k01")
            src.ctl("txn", stdin="\nput /app/t1 a\nput /app/t2 b\n\n\n")
            missing_live = 0
            polls = 0
            while time.monotonic() - cut_at < CUT_S:
                d = dump(args, dst.endpoint)
                polls += 1
                if d is None or "/app/live" not in d:
                    missing_live += 1
                time.sleep(1)
            r.check(m.running(), "the mirror is still running after a 60 s cut")
            r.eq(missing_live, 0, f"the kept-alive key stayed at the destination through the "
                 f"cut ({polls} polls)")
            r.check(src.ctl("get", "/app/dies").stdout == "",
                    "the unrefreshed lease expired at the source during the cut")
            link.release()
            released = time.monotonic()
            try:
                harness.wait_for(lambda: user_keys(dump(args, dst.endpoint)) == want(), 60, 0.2,
                                 "convergence after the cut")
                took = time.monotonic() - released
                r.check(True, f"converged {took:.1f} s after the link came back: the changes "
                        f"made during the cut are there and the expired lease's key is gone")
            except TimeoutError:
                r.check(False, "convergence after the cut",
                        f"dst={user_keys(dump(args, dst.endpoint))}\nsrc={want()}\n"
                        f"{m.log()[-4000:]}")
            srev = revision(args, src.endpoint)
            harness.wait_for(lambda: checkpoint(args, dst.endpoint) == srev, 20, 0.2,
                             "checkpoint after the cut")
            r.eq(checkpoint(args, dst.endpoint), srev, "the checkpoint reaches the source revision")
            r.eq(m.stop(), 0, "SIGTERM: exit 0")
        finally:
            link.close()
            if keeper and keeper.poll() is None:
                keeper.kill()
                keeper.wait()

    @r.test
    def failover_onto_a_second_member_of_a_live_destination():
        src = harness.Member(args, "fsrc").start()
        dcl = harness.Cluster(args, prefix="fd", size=3).start()
        eps = ",".join(mb.endpoint for mb in dcl)
        m = MirrorProc(args, [f"--endpoints={src.endpoint}", "--prefix=/app/", eps]).start()
        harness.wait_for(lambda: checkpoint(args, dcl[1].endpoint) is not None, 20, 0.1,
                         "initial sync")
        stop = threading.Event()
        written = []

        def writer():
            i = 0
            while not stop.is_set():
                if src.ctl("put", f"/app/seq{i:05}", f"v{i}").ok:
                    written.append(i)
                i += 1

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        harness.wait_for(lambda: len(written) >= 40, 30, 0.05, "writes flowing")
        harness.wait_for(lambda: len(versions(args, dcl[1].endpoint, "/app/")) >= 20, 20, 0.1,
                         "mirrored writes")
        dcl[0].kill9()  # the mirror's destination endpoint, mid-stream
        n_at_kill = len(written)
        harness.wait_for(lambda: len(written) >= n_at_kill + 60, 60, 0.05, "writes after the kill")
        stop.set()
        t.join(30)
        want = lambda: under(dump(args, src.endpoint), "/app/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(dump(args, dcl[1].endpoint)) == want(), 30, 0.2,
                             "convergence on the surviving members")
            r.check(True, f"after member 1 died mid-stream the mirror went on with member 2: "
                    f"{len(written)} puts, all there")
        except TimeoutError:
            r.check(False, "convergence on the surviving members", m.log()[-4000:])
        vs = versions(args, dcl[2].endpoint, "/app/")
        twice = {k: v for k, v in vs.items() if v != 1}
        r.check(len(vs) == len(written) and not twice,
                "every key is at version 1 at the destination: no revision applied twice",
                f"{len(vs)} keys, {len(written)} written; versions != 1: {twice}")
        srev = revision(args, src.endpoint)
        harness.wait_for(lambda: checkpoint(args, dcl[2].endpoint) == srev, 20, 0.2, "checkpoint")
        r.eq(checkpoint(args, dcl[2].endpoint), srev, "the checkpoint equals the source revision")
        r.check("endpoint failed; switching" in m.log(), "the mirror logged the failover",
                m.log()[-2000:])
        r.eq(m.stop(), 0, "SIGTERM: exit 0")
        dcl.stop()

    @r.test
    def tls_and_auth_on_real_etcd_both_sides():
        pki = tls_util.make_pki(os.path.join(args.workdir, "pki"))
        esrc = SecureEtcd(args, "tlssrc", pki)
        esrc.start()
        esrc.enable_auth()
        # The destination's tokens live 2 s, so the mirror must authenticate again mid-run.
        edst = SecureEtcd(args, "tlsdst", pki, extra_flags=["--auth-token-ttl=2"])
        edst.start()
        edst.enable_auth()
        mid = harness.Member(args, "plainmid").start()
        for i in range(10):
            esrc.ctl("put", f"/app/k{i}", f"v{i}")
        cert, key = esrc.client_cert, esrc.client_key
        # etcd (TLS, auth) -> the server under test (plain) -> etcd (TLS, auth).
        m1 = MirrorProc(args, [f"--endpoints={esrc.endpoint}", f"--cacert={pki.ca}",
                               f"--cert={cert}", f"--key={key}", "--user=root:rootpw",
                               "--prefix=/app/", mid.endpoint]).start()
        m2 = MirrorProc(args, [f"--endpoints={mid.endpoint}", "--prefix=/app/",
                               f"--dest-cacert={pki.ca}", f"--dest-cert={cert}",
                               f"--dest-key={key}", "--dest-user=root",
                               "--dest-password=rootpw", edst.endpoint]).start()
        want = lambda: under(esrc.dump(), "/app/")  # noqa: E731
        try:
            harness.wait_for(lambda: user_keys(edst.dump() or {}) == want(), 30, 0.2,
                             "TLS + auth sync")
            r.check(True, "etcd (TLS, auth) -> outpost -> etcd (TLS, auth): initial sync")
        except TimeoutError:
            r.check(False, "TLS + auth sync", m1.log()[-2000:] + "\n---\n" + m2.log()[-2000:])
        time.sleep(3)  # let the destination's 2 s tokens expire (what is tested is the re-auth)
        esrc.ctl("put", "/app/k0", "after the token expired")
        esrc.ctl("del", "/app/k1")
        try:
            harness.wait_for(lambda: user_keys(edst.dump() or {}) == want(), 30, 0.2,
                             "updates after the token expired")
            r.check("token refused; authenticating again" in m2.log(),
                    "live updates keep flowing after the destination token expired (the mirror "
                    "authenticated again)", m2.log()[-2000:])
        except TimeoutError:
            r.check(False, "updates after the token expired", m2.log()[-3000:])
        r.check(CHECKPOINT in (edst.dump() or {}), "the checkpoint is at the TLS destination")
        m3 = MirrorProc(args, [f"--endpoints={esrc.endpoint}", f"--cacert={pki.ca}",
                               f"--cert={cert}", f"--key={key}", "--user=root:wrong",
                               "--prefix=/app/", "--once", mid.endpoint]).start()
        m3.proc.wait(timeout=30)
        r.check(m3.proc.returncode == 1 and
                "authentication failed, invalid user ID or password" in m3.log(),
                "a wrong password stops the mirror with etcd's error", m3.log()[-2000:])
        for mp in (m1, m2):
            r.eq(mp.stop(), 0, "SIGTERM: exit 0")

    return r.main()


if __name__ == "__main__":
    sys.exit(main())
