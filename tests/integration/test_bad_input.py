#!/usr/bin/env python3
"""Bad input: the server refuses it with the right error, keeps serving, and loses nothing.

Requests: a txn with 129 ops, values over the request size limit (1600 KiB: etcd's own check;
2 MiB: over the gRPC message limit, sent raw since etcdctl refuses to send it), malformed protobuf
bodies for KV/Range, KV/Put, KV/Txn and KV/DeleteRange (through tools/outpost-raw-grpc), an
unknown method, and non-HTTP/2 garbage on the client port. After each, a normal put/get works and
the keys written at the start are intact.

Command line: an unknown flag exits 2 naming the flag (etcd does the same). `--config` with a
missing or syntactically broken TOML file exits 2 naming the file: outpost only (etcd has no
TOML config), skipped against etcd.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pb  # noqa: E402

# Request bodies that no protobuf parser accepts.
MALFORMED = {
    "truncated length-delimited field (0a05)": "0a05",
    "truncated varint (08ff)": "08ff",
    "invalid wire type 7 (0f)": "0f",
    "invalid wire type 6 after a good field (0a016b0e)": "0a016b0e",
    "field number 0 (0001)": "0001",
    "random bytes": "deadbeef0badf00d" * 4,
    "length past the end (0affffffff0f)": "0affffffff0f",
}
# What etcd 3.4.23 answers to them: INTERNAL ("grpc: error unmarshalling request: ...").
# INVALID_ARGUMENT is accepted too: both say "your request is bad", neither is a crash.
DESERIALISE_CODES = {13, 3}


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "bad input")
    check, eq, require = runner.check, runner.eq, runner.require
    state: dict = {}

    def member() -> harness.Member:
        if "m" not in state or not state["m"].running():
            m = harness.Member(args, name="bad1").start()
            for i in range(10):
                r = m.ctl("put", f"keep/{i}", f"value-{i}")
                require(r.ok, "seed put", r.describe(), quiet=True)
            state["m"] = m
            state["seed"] = snapshot(m)
        return state["m"]

    def snapshot(m: harness.Member) -> list:
        r = m.ctl("get", "keep/", "--prefix", "-w", "json")
        require(r.ok, "get keep/ --prefix", r.describe(), quiet=True)
        return json.loads(r.stdout).get("kvs", [])

    def still_serving(m: harness.Member, after: str) -> None:
        check(m.running(), f"after {after}: server process still running",
              m.log_tail() if not m.running() else "")
        key = f"probe/{len(state.setdefault('probes', []))}"
        state["probes"].append(key)
        r1 = m.ctl("put", key, "alive")
        r2 = m.ctl("get", key, "--print-value-only")
        check(r1.ok and r2.stdout == "alive\n", f"after {after}: put/get still work",
              r1.describe() + "\n" + r2.describe())
        eq(snapshot(m), state["seed"], f"after {after}: earlier keys intact")

    @runner.test
    def too_many_txn_ops():
        m = member()
        script = "\n" + "".join(f"put many/{i:03d} v\n" for i in range(129)) + "\n\n"
        r = m.ctl("txn", stdin=script)
        check(r.rc == 1 and "Error: etcdserver: too many operations in txn request\n" in r.stderr,
              "txn with 129 ops: etcdserver: too many operations in txn request", r.describe())
        r = m.ctl("get", "many/", "--prefix", "--keys-only")
        eq(r.stdout, "", "nothing of the refused txn was written")
        still_serving(m, "a 129-op txn")

    @runner.test
    def oversized_values():
        m = member()
        r = m.ctl("put", "big", stdin="x" * (1600 * 1024))
        check(r.rc == 1 and r.stderr.endswith("Error: etcdserver: request is too large\n"),
              "1600 KiB put: etcdserver: request is too large", r.describe())
        r = m.ctl("put", "big", stdin="x" * (2 * 1024 * 1024))
        check(r.rc == 1 and "larger than max" in r.stderr,
              "2 MiB put through etcdctl: refused (client-side gRPC limit)", r.describe())
        if not args.raw_grpc:
            runner.skip("2 MiB put sent raw to the server (needs --raw-grpc)")
        else:
            reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/Put",
                            pb.put_request("big", b"x" * (2 * 1024 * 1024)), timeout_ms=20000)
            print(f"       server said: code={reply.code} ({pb.GRPC_CODES.get(reply.code)}) "
                  f"message={reply.message!r}")
            check(reply.code in (8, 3),
                  "2 MiB put sent raw: RESOURCE_EXHAUSTED (etcd) or INVALID_ARGUMENT", repr(reply))
        r = m.ctl("get", "big", "--keys-only")
        eq(r.stdout, "", "no oversized value was stored")
        r = m.ctl("put", "almost-big", stdin="y" * (1024 * 1024))
        check(r.ok, "a 1 MiB value is still accepted", r.describe())
        r = m.ctl("get", "almost-big", "--print-value-only")
        check(r.ok and r.stdout == "y" * (1024 * 1024) + "\n", "and reads back whole",
              f"rc={r.rc} len={len(r.stdout)}")
        still_serving(m, "oversized values")

    @runner.test
    def malformed_protobuf():
        if not args.raw_grpc:
            runner.skip("malformed protobuf requests (needs --raw-grpc PATH to outpost-raw-grpc)")
            return
        m = member()
        for method in ("/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put", "/etcdserverpb.KV/Txn",
                       "/etcdserverpb.KV/DeleteRange"):
            for what, hexbytes in MALFORMED.items():
                reply = pb.call(args.raw_grpc, m.grpc_addr, method, bytes.fromhex(hexbytes))
                check(reply.code in DESERIALISE_CODES,
                      f"{method} with {what}: {pb.GRPC_CODES.get(reply.code)} "
                      f"{reply.message!r}", f"want INTERNAL (etcd) or INVALID_ARGUMENT; {reply!r}")
        # A well-formed but empty Range (no key) is a request error, not a parse error.
        reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/Range", b"")
        check(reply.code == 3 and reply.message == "etcdserver: key is not provided",
              "empty Range request: INVALID_ARGUMENT etcdserver: key is not provided", repr(reply))
        reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/NoSuchMethod", b"")
        check(reply.code == 12, f"unknown method: UNIMPLEMENTED ({reply.message!r})", repr(reply))
        # A valid request still works over the raw path and sees the seeded keys.
        reply = pb.call(args.raw_grpc, m.grpc_addr, "/etcdserverpb.KV/Range",
                        pb.range_request("keep/", "keep0", count_only=True))
        eq((reply.code, {n: v for n, _, v in pb.parse(reply.response)}.get(4)), (0, 10),
           "valid raw Range afterwards: OK, count 10")
        still_serving(m, "malformed protobuf requests")

    @runner.test
    def garbage_on_the_client_port():
        m = member()
        for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096),
                        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512)):
            with socket.create_connection(("127.0.0.1", m.client_port), timeout=5) as s:
                try:
                    s.sendall(payload)
                    s.settimeout(2)
                    s.recv(65536)
                except OSError:
                    pass  # a reset or a timeout are both fine: what matters is the server
        still_serving(m, "non-gRPC bytes on the client port")

    @runner.test
    def unknown_flag():
        # etcd 3.4.23 answers "flag provided but not defined: -bogus" and exits 2; outpost must
        # exit 2 naming the flag as well.
        r = harness.run([harness.server_binary(args), "--bogus"], timeout=20)
        eq(r.rc, 2, f"{args.server} --bogus exits 2", r.describe())
        check("bogus" in r.stdout + r.stderr, "the message names the flag", r.describe())

    @runner.test
    def bad_config_file():
        if args.server != "outpost":
            runner.skip("--config TOML checks are outpost-only (etcd has --config-file, YAML); "
                        "run with --server outpost")
            return
        missing = os.path.join(args.workdir, "does-not-exist.toml")
        r = harness.run([args.outpost, "--config", missing], timeout=20)
        eq(r.rc, 2, "--config with a missing file exits 2", r.describe())
        check(missing in r.stdout + r.stderr, "the message names the missing file", r.describe())
        broken = os.path.join(args.workdir, "broken.toml")
        with open(broken, "w") as f:
            f.write('name = "m1"\n[server\nlisten = \n')
        r = harness.run([args.outpost, "--config", broken], timeout=20)
        eq(r.rc, 2, "--config with broken TOML exits 2", r.describe())
        check(broken in r.stdout + r.stderr, "the message names the broken file", r.describe())

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
