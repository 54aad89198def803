#!/usr/bin/env python3
"""Peer TLS: members with https peer URLs and peer certificates (etcd's --peer-* flags).

A test PKI (tls_util.py: CA, other CA, a server certificate for serverAuth+clientAuth with SAN
127.0.0.1, a certificate from the wrong CA) and 3-member clusters whose members have https peer
URLs, --peer-cert-file/--peer-key-file/--peer-trusted-ca-file and --peer-client-cert-auth:
  * the cluster elects a leader and serves puts; kill -9 of the leader: the survivors elect a new
    one, every acknowledged put is there, the killed member restarts and catches up;
  * with --snapshot-count=1000 and enough puts that the log is compacted, a learner added with
    peer TLS catches up by a snapshot streamed over TLS (the leader logs "sent snapshot", the
    learner "installed snapshot") and its hashkv equals the leader's;
  * a member whose certificate another CA signed cannot join: it gives up, the members log the
    refusal with its address and "certificate verify failed", keep serving and stay alive;
  * a plain-text peer (an Outpost handshake without TLS) is refused, told why and logged; a half
    TLS record is closed by the member after its handshake timeout; the member stays alive;
  * a peer certificate whose IP SAN is not the address it connects from is refused (logged with
    Go's "x509: certificate is valid for ..., not ..."), and accepted with
    --experimental-peer-skip-client-san-verification;
  * a cluster with --peer-auto-tls forms (self-signed certificates under
    <data-dir>/fixtures/peer) and serves.
Outpost only (etcd's refusals are logged differently).
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tls_util  # noqa: E402

SNAPSHOT_COUNT = 1000
SMALL_PUTS = 7000  # > snapshot count + the 5000 entries kept behind it: the log is compacted


def bench_path(args) -> str:
    if os.environ.get("OUTPOST_BENCH"):
        return os.environ["OUTPOST_BENCH"]
    here = os.path.dirname(args.outpost) if args.outpost else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.join(here, "outpost-bench")


def tls_flags(pki: tls_util.Pki, cert: str = "", key: str = "") -> list[str]:
    return [f"--peer-cert-file={cert or pki.server_cert}",
            f"--peer-key-file={key or pki.server_key}",
            f"--peer-trusted-ca-file={pki.ca}", "--peer-client-cert-auth"]


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "peer TLS: https peer URLs with etcd's --peer-* flags")
    check, eq, require = runner.check, runner.eq, runner.require
    if args.server != "outpost":
        runner.skip("Outpost only")
        return runner.main()
    pki = tls_util.make_pki(os.path.join(args.workdir, "pki"))

    def put(m: harness.Member, k: str, v: str) -> None:
        r = m.ctl("put", k, v, timeout=20, command_timeout="5s")
        require(r.ok, f"{m.name}: put {k}", r.describe(), quiet=True)

    def get(m: harness.Member, k: str) -> str:
        r = m.ctl("get", k, "--print-value-only", "--consistency=s", timeout=20)
        return r.stdout.strip() if r.ok else f"<error: {r.stderr.strip()}>"

    @runner.test
    def tls_cluster_serves_and_survives_a_leader_kill():
        c = harness.Cluster(args, prefix="tk", peer_scheme="https", extra_flags=tls_flags(pki))
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        check(all(m.peer_url.startswith("https://") for m in c),
              f"3 members with https peer URLs; leader {leader.name} term {term}")
        for i in range(20):
            put(c[i % 3], f"tk/{i}", f"v{i}")
        survivors = [m for m in c if m is not leader]
        leader.kill9()
        new_leader, new_term, _ = c.wait_leader(survivors, timeout=15)
        check(new_leader is not leader and new_term > term,
              f"new leader {new_leader.name} at term {new_term} after kill -9 of {leader.name}")
        for i in range(20, 30):
            put(survivors[i % 2], f"tk/{i}", f"v{i}")
        for m in survivors:
            bad = [i for i in range(30) if get(m, f"tk/{i}") != f"v{i}"]
            check(not bad, f"{m.name}: all 30 puts there", f"missing or wrong: {bad}")
        leader.restart()
        c.check_hashkv_equal(runner, "the killed member restarted and caught up over TLS")
        text = "".join(m.log_text() for m in c)
        check("certificate verify failed" not in text and "cannot connect to peer" not in text,
              "no TLS failure logged between members with good certificates")
        c.stop()

    @runner.test
    def learner_catches_up_by_snapshot_over_tls():
        bench = bench_path(args)
        require(os.access(bench, os.X_OK), f"outpost-bench at {bench} (set OUTPOST_BENCH)")
        c = harness.Cluster(args, prefix="ts", peer_scheme="https",
                            extra_flags=tls_flags(pki) + [f"--snapshot-count={SNAPSHOT_COUNT}"])
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        eps = ",".join(m.grpc_addr for m in c)
        r = harness.run([bench, "--endpoints", eps, "--conns", "3", "--clients", "16",
                         "--timeout", "100s", "put", "--total", str(SMALL_PUTS),
                         "--key-space-size", "2000", "--val-size", "256"], timeout=120)
        require(r.ok, f"{SMALL_PUTS} puts (snapshot every {SNAPSHOT_COUNT}, log compacted)",
                r.describe())
        leader, _, _ = c.wait_leader(timeout=15)
        learner, r = c.add_member("ts4", learner=True, via=leader, timeout=60)
        require(learner is not None, "member add ts4 --learner (https peer URL), started",
                r.describe())
        target = c.status(leader)["revision"]
        try:
            harness.wait_for(lambda: (c.status(learner) or {}).get("revision", 0) >= target,
                             60, 0.2, f"the learner to reach revision {target}")
            check(True, f"the learner reached the leader's revision {target}")
        except TimeoutError:
            require(False, f"the learner reaches revision {target}", learner.log_tail())
        check("sent snapshot" in leader.log_text(), f"{leader.name} logged 'sent snapshot'")
        check("installed snapshot" in learner.log_text(),
              "the learner logged 'installed snapshot' (it caught up by snapshot)")
        c.check_hashkv_equal(runner, "the learner's hashkv equals the voters'", [leader, learner])
        c.stop()

    @runner.test
    def wrong_ca_member_and_plain_text_peer_are_refused():
        c = harness.Cluster(args, prefix="tw", peer_scheme="https", extra_flags=tls_flags(pki))
        c.start()
        c.wait_leader(timeout=15)
        bad, r = c.add_member("tw4", learner=True, start=True, wait=False,
                              extra_flags=tls_flags(pki, pki.wrong_ca_cert, pki.wrong_ca_key))
        require(bad is not None, "member add tw4 --learner (its certificate from another CA)",
                r.describe())
        harness.wait_for(lambda: not bad.running(), 30, 0.2,
                         "the wrong-CA member to give up joining")
        check(bad.proc.returncode != 0,
              f"the wrong-CA member exited with {bad.proc.returncode}",
              bad.log_tail())
        check("cannot fetch cluster info" in bad.log_text(),
              "the wrong-CA member says it could not get the cluster's answer", bad.log_tail())

        def refusal_logged() -> bool:
            return any("certificate verify failed" in m.log_text() for m in c.members[:3])
        harness.wait_for(refusal_logged, 10, 0.2, "a member to log the refused certificate")
        lines = [ln for m in c.members[:3] for ln in m.log_text().splitlines()
                 if "certificate verify failed" in ln]
        check(any("peer 127.0.0.1:" in ln and "unable to get local issuer certificate" in ln
                  for ln in lines),
              "the refusal names the peer address and the reason", lines[0] if lines else "")
        print(f"  {lines[0] if lines else ''}")
        for i in range(5):
            put(c[i % 3], f"tw/{i}", "x")
        check(all(m.running() for m in c.members[:3]),
              "the three members serve puts and are alive after the bad handshakes")

        # A plain-text peer: Outpost's handshake without TLS.
        target = c[0]
        hs = b"OUTP" + bytes([2]) + struct.pack(">QQ", 1, 2)
        with socket.create_connection(("127.0.0.1", target.peer_port), timeout=5) as s:
            s.sendall(hs)
            said = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                said += chunk
        check(b"rejected" in said and b"TLS" in said,
              f"a plain-text peer is told why and hung up on: {said.decode(errors='replace')!r}")
        harness.wait_for(lambda: "first record does not look like a TLS handshake"
                         in target.log_text(), 10, 0.1, "the plain-text refusal in the log")
        check(True, f"{target.name} logged 'first record does not look like a TLS handshake'")
        # A half handshake: one TLS record header, then silence; closed by the member.
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", target.peer_port), timeout=20) as s:
            s.sendall(b"\x16\x03\x01\x00")
            try:
                closed = s.recv(1) == b""
            except OSError:
                closed = True
        took = time.monotonic() - started
        check(closed and took < 15,
              f"a half TLS handshake was closed by the member after {took:.1f}s")
        check(all(m.running() for m in c.members[:3]), "every member alive afterwards")
        put(target, "tw/after", "y")
        c.stop()

    @runner.test
    def peer_certificate_sans_are_checked_against_the_address():
        # A certificate from the right CA whose only SAN is another address: etcd's checkSAN
        # refuses it from 127.0.0.1, unless --experimental-peer-skip-client-san-verification.
        cert, key = pki.with_san("elsewhere", "IP:10.9.9.9")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        ctx.load_cert_chain(cert, key)

        def answer(m: harness.Member) -> bytes:
            """Connects with that certificate, sends an Outpost handshake for another cluster and
            returns what the member says before it hangs up."""
            said = b""
            with socket.create_connection(("127.0.0.1", m.peer_port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    try:
                        s.sendall(b"OUTP" + bytes([2]) + struct.pack(">QQ", 1, 2))
                        while chunk := s.recv(4096):
                            said += chunk
                    except (ssl.SSLError, OSError):
                        pass
            return said

        for skip in (False, True):
            flags = tls_flags(pki) + (["--experimental-peer-skip-client-san-verification"]
                                      if skip else [])
            c = harness.Cluster(args, prefix="ts" if not skip else "tk", size=1,
                                peer_scheme="https", extra_flags=flags)
            c.start()
            said = answer(c[0])
            refusal = "x509: certificate is valid for 10.9.9.9, not 127.0.0.1"
            if not skip:
                check(b"rejected" not in said, "without the flag the handshake frame is not "
                      f"read: the connection is closed after TLS ({said!r})")
                harness.wait_for(lambda: refusal in c[0].log_text(), 10, 0.1, "the SAN refusal")
                line = next(ln for ln in c[0].log_text().splitlines() if refusal in ln)
                check("peer 127.0.0.1:" in line, "the refusal names the peer and Go's reason",
                      line)
                print(f"  {line}")
            else:
                check(b"rejected" in said, "with the flag the certificate passes and the frame "
                      f"is answered: {said.decode(errors='replace')!r}")
                check(refusal not in c[0].log_text(), "no SAN refusal is logged")
            put(c[0], "ts/k", "v")
            check(c[0].running(), "the member serves and is alive")
            c.stop()

    @runner.test
    def auto_tls_cluster_forms():
        c = harness.Cluster(args, prefix="ta", peer_scheme="https", extra_flags=["--peer-auto-tls"])
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        check(True, f"auto-TLS cluster elected {leader.name} at term {term}")
        put(c[1], "ta/k", "auto")
        harness.wait_for(lambda: all(get(m, "ta/k") == "auto" for m in c), 10, 0.1,
                         "the put on every member")
        check(all(os.path.exists(os.path.join(m.data_dir, "fixtures", "peer", "cert.pem"))
                  for m in c), "each member's self-signed certificate is under fixtures/peer")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
