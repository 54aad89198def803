#!/usr/bin/env python3
"""gRPC JSON gateway: one scripted curl session against real etcd 3.4.23 and against the server
under test, in the same run; the two transcripts must be identical after masking.

A transcript records, per curl call, the HTTP status line, the header lines grpc-gateway and
etcd set (Content-Type, Grpc-Metadata-Content-Type, Access-Control-*, X-Content-Type-Options, and
Transfer-Encoding for streams), and the exact body. Streams (Watch, LeaseKeepAlive) are read
line by line while the session writes: a watch is opened, two keys are put and deleted through the
gateway, and the streamed {"result":...} lines are recorded.

What is masked beyond test_differential.mask (ids, URLs, ports; reused here), and why:
  * "raft_term" / "raftTerm", and in maintenance/status "raftIndex", "raftAppliedIndex",
    "dbSize", "dbSizeInUse" (election and storage layout details);
  * the simple-auth token (random);
  * the remaining TTL in lease/timetolive (a second may tick on one side only);
  * the error text of two bodies protobuf's JSON parser rejects in other words than Go's
    (bad base64, a bad watch body): status, code and shape are kept;
  * headers not compared: Date, Content-Length (ids differ in length), etcd's "Trailer:
    Grpc-Trailer-Content-Type" on unary errors and the chunked encoding that comes with it
    (an artefact of Go's trailers; the body is the same).

Run with --server etcd both sides are real etcd: the diff must be empty, which proves the
masking and the session are deterministic.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_differential as diffh  # noqa: E402  (Context and mask: ids, URLs, ports)

CURL = "curl"
KEPT_HEADERS = ("access-control-allow-headers", "access-control-allow-methods",
                "access-control-allow-origin", "content-type", "grpc-metadata-content-type",
                "x-content-type-options")


def b64(s: str) -> str:
    import base64
    return base64.b64encode(s.encode()).decode()


@dataclass
class Call:
    path: str
    body: Optional[str] = None
    method: str = "POST"
    token: bool = False            # send the captured token as Authorization
    bad_token: bool = False        # send a token no server issued
    stream: int = 0                # a stream: read this many lines, then close
    mask_message: bool = False     # error text legitimately worded otherwise (see docstring)
    capture_token: bool = False
    label: str = ""


def curl_args(base: str, c: Call, vars: dict) -> list[str]:
    argv = [CURL, "-s", "-i", "-N", "--max-time", "10", "-X", c.method, base + c.path]
    if c.body is not None:
        argv += ["--data-binary", c.body]
    if c.token:
        argv += ["-H", f"Authorization: {vars.get('token', '')}"]
    if c.bad_token:
        argv += ["-H", "Authorization: bogus.1"]
    return argv


def split_answer(raw: bytes, stream: bool) -> list[str]:
    """Status line, kept headers (sorted by name), body."""
    text = raw.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    out = [lines[0] if lines else "<no answer>"]
    hdrs = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        n = name.strip().lower()
        if n in KEPT_HEADERS or (stream and n == "transfer-encoding"):
            hdrs.append(f"{name.strip()}: {value.strip()}")
    out += sorted(hdrs, key=str.lower)
    # curl -i prints trailers after the body: etcd's "Grpc-Trailer-Content-Type" (see above).
    body = re.sub(r"Grpc-Trailer-[^\r\n]*(\r\n)*", "", body)
    out.append("--- body")
    out += body.split("\n") if body else ["<empty>"]
    return out


class Stream:
    """A curl call whose answer is read while the session goes on."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        harness._live_processes[self.proc.pid] = self.proc
        self.data = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def body_lines(self) -> int:
        with self.lock:
            _, sep, body = self.data.partition(b"\r\n\r\n")
            return body.count(b"\n") if sep else 0

    def wait_lines(self, n: int, timeout: float = 10) -> bool:
        try:
            harness.wait_for(lambda: self.body_lines() >= n or self.proc.poll() is not None,
                             timeout, what=f"{n} streamed lines")
        except TimeoutError:
            return False
        if self.proc.poll() is not None:
            self.reader.join(2)  # curl ended the stream itself: take its last bytes
        return self.body_lines() >= n

    def close(self) -> bytes:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        harness._live_processes.pop(self.proc.pid, None)
        self.reader.join(2)
        return self.data


def session() -> list[Call]:
    foo, bar, baz = b64("foo"), b64("bar"), b64("baz")
    return [
        # KV
        Call("/v3/kv/put", json.dumps({"key": foo, "value": bar})),
        Call("/v3/kv/range", json.dumps({"key": foo})),
        Call("/v3beta/kv/range", json.dumps({"key": foo}), label="v3beta prefix"),
        Call("/v3/kv/put", json.dumps({"key": b64("k1"), "value": b64("v1"), "prev_kv": True})),
        Call("/v3/kv/put", json.dumps({"key": b64("k1"), "value": b64("v2"), "prev_kv": True})),
        Call("/v3/kv/range", json.dumps({"key": b64("k"), "range_end": b64("l"),
                                         "count_only": True})),
        Call("/v3/kv/range", json.dumps({"key": b64("k1"), "revision": "3"})),
        Call("/v3/kv/txn", json.dumps({
            "compare": [{"key": foo, "result": "EQUAL", "target": "VALUE", "value": bar}],
            "success": [{"request_put": {"key": foo, "value": baz}},
                        {"request_range": {"key": foo}}],
            "failure": [{"request_range": {"key": foo}}]})),
        Call("/v3/kv/txn", json.dumps({
            "compare": [{"key": foo, "result": "EQUAL", "target": "VALUE", "value": bar}],
            "success": [{"request_put": {"key": foo, "value": baz}}],
            "failure": [{"request_delete_range": {"key": b64("nothing")}}]})),
        Call("/v3/kv/deleterange", json.dumps({"key": b64("k1"), "prev_kv": True})),
        Call("/v3/kv/compaction", json.dumps({"revision": "3"})),
        Call("/v3/kv/range", json.dumps({"key": foo, "revision": "2"})),
        Call("/v3/kv/compaction", json.dumps({"revision": "1000"})),
        # Watch: a compacted start revision (created, then canceled), and several creates in one
        # body
        Call("/v3/watch", json.dumps({"create_request": {"key": foo, "start_revision": "1"}}),
             stream=2),
        Call("/v3/watch", json.dumps({"create_request": {"key": foo}}) +
             json.dumps({"create_request": {"key": bar, "prev_kv": True}}), stream=2),
        # Leases (explicit ids: etcd's own are random)
        Call("/v3/lease/grant", json.dumps({"ID": "7777", "TTL": "60"})),
        Call("/v3/lease/grant", json.dumps({"ID": "7777", "TTL": "60"})),
        Call("/v3/kv/put", json.dumps({"key": b64("leased"), "value": bar, "lease": "7777"})),
        Call("/v3/lease/keepalive", json.dumps({"ID": "7777"}), stream=1),
        Call("/v3/lease/timetolive", json.dumps({"ID": "7777", "keys": True})),
        Call("/v3/kv/lease/timetolive", json.dumps({"ID": "7777"})),
        Call("/v3/lease/leases", "{}"),
        Call("/v3/lease/revoke", json.dumps({"ID": "7777"})),
        Call("/v3/lease/revoke", json.dumps({"ID": "7777"})),
        Call("/v3/lease/timetolive", json.dumps({"ID": "7777"})),
        Call("/v3/kv/range", json.dumps({"key": b64("leased")})),
        # Maintenance, cluster
        Call("/v3/maintenance/status", "{}"),
        Call("/v3/cluster/member/list", "{}"),
        # Errors: grpc-gateway's and the services'
        Call("/v3/kv/range", None, method="GET", label="wrong method"),
        Call("/v3/kv/range", "{}", method="PUT", label="wrong method"),
        Call("/v3/kv/range", None, method="OPTIONS", label="CORS preflight"),
        Call("/v3/kv/nothing", "{}", label="unknown path under /v3/"),
        Call("/v3alpha/kv/range", "{}", label="v3alpha is not served by 3.4"),
        Call("/v3/kv/range", '{"key":', label="cut short"),
        Call("/v3/kv/range", "xyz", label="not JSON"),
        Call("/v3/kv/range", json.dumps({"key": foo, "no_such_field": 1}),
             label="unknown field ignored"),
        Call("/v3/kv/range", json.dumps({"key": "!!!"}), mask_message=True, label="bad base64"),
        Call("/v3/kv/range", "", label="empty body"),
        Call("/v3/kv/put", json.dumps({"key": ""})),
        Call("/v3/kv/range", json.dumps({"key": foo, "sort_order": "NOPE"}), mask_message=True,
             label="bad enum"),
        Call("/v3/watch", '{"create_request":', label="watch body cut short"),
        # Auth: the Authorization header is the call's token
        Call("/v3/auth/authenticate", json.dumps({"name": "root", "password": "pw"})),
        Call("/v3/auth/user/add", json.dumps({"name": "root", "password": "pw"})),
        Call("/v3/auth/role/add", json.dumps({"name": "root"})),
        Call("/v3/auth/user/grant", json.dumps({"user": "root", "role": "root"})),
        Call("/v3/auth/enable", "{}"),
        Call("/v3/auth/authenticate", json.dumps({"name": "root", "password": "bad"})),
        Call("/v3/auth/authenticate", json.dumps({"name": "root", "password": "pw"}),
             capture_token=True),
        Call("/v3/kv/range", json.dumps({"key": foo}), label="no token"),
        Call("/v3/kv/range", json.dumps({"key": foo}), token=True),
        Call("/v3/kv/range", json.dumps({"key": foo}), bad_token=True, label="bad token"),
        Call("/v3/watch", json.dumps({"create_request": {"key": foo}}), stream=1,
             label="watch without a token"),
        Call("/v3/auth/user/list", "{}", token=True),
        Call("/v3/auth/disable", "{}", token=True),
        Call("/v3/kv/range", json.dumps({"key": foo}), label="auth disabled again"),
    ]


def mask_json(text: str) -> str:
    for key in ("raft_term", "raftTerm", "raftIndex", "raftAppliedIndex", "dbSize", "dbSizeInUse"):
        text = re.sub(rf'"{key}":"\d+"', f'"{key}":"<masked>"', text)
    text = re.sub(r'"token":"[^"]*"', '"token":"<token>"', text)
    text = re.sub(r'(Authorization: )\S+', r'\1<token>', text)
    return text


def run_session(member: harness.Member) -> tuple[str, diffh.Context, list[str]]:
    ctx = diffh.Context(client_url=member.client_url, peer_url=member.peer_url,
                        client_port=member.client_port, peer_port=member.peer_port)
    st = member.ctl("endpoint", "status", "-w", "json")
    try:
        hdr = json.loads(st.stdout)[0]["Status"]["header"]
        ctx.member_id, ctx.cluster_id = int(hdr["member_id"]), int(hdr["cluster_id"])
    except (ValueError, LookupError, TypeError):
        print(f"  note: endpoint status on {member.kind} gave no ids: {st.describe()}")
    base = member.client_url
    out: list[str] = []
    problems: list[str] = []
    vars: dict = {}

    # A watch held open across writes made through the gateway.
    watch = Stream(curl_args(base, Call("/v3/watch", json.dumps(
        {"create_request": {"key": b64("w/"), "range_end": b64("w0"), "prev_kv": True}})), vars))
    if not watch.wait_lines(1):
        problems.append("watch: no created line")
    # More streams than the listener has HTTP threads: unary calls must still be served.
    extra = [Stream(curl_args(base, Call("/v3/watch", json.dumps(
        {"create_request": {"key": b64(f"x{i}")}})), vars)) for i in range(3)]
    for s in extra:
        if not s.wait_lines(1):
            problems.append("extra watch: no created line")
    started = time.monotonic()
    for c in (Call("/v3/kv/put", json.dumps({"key": b64("w/a"), "value": b64("1")})),
              Call("/v3/kv/put", json.dumps({"key": b64("w/b"), "value": b64("2")})),
              Call("/v3/kv/put", json.dumps({"key": b64("w/a"), "value": b64("3")})),
              Call("/v3/kv/deleterange", json.dumps({"key": b64("w/"), "range_end": b64("w0")}))):
        r = harness.run(curl_args(base, c, vars), timeout=15)
        if not r.stdout.startswith("HTTP/1.1 200"):
            problems.append(f"put under watch: {r.describe()}")
    elapsed = time.monotonic() - started
    if elapsed > 5:
        problems.append(f"4 writes with 4 streams open took {elapsed:.1f}s")
    got = watch.wait_lines(5)
    if not got:
        problems.append("watch: fewer than 5 lines")
    out.append("[watch] $ curl -X POST /v3/watch (held open; 3 puts, 1 delete of 2 keys)")
    out += split_answer(watch.close(), stream=True)
    for s in extra:
        s.close()

    for i, c in enumerate(session(), 1):
        argv = curl_args(base, c, vars)
        shown = f"curl -X {c.method} {c.path}" + (f" -d {c.body!r}" if c.body is not None else "")
        if c.token or c.bad_token:
            shown += f" -H 'Authorization: {'<token>' if c.token else 'bogus.1'}'"
        out.append(f"[{i}] $ {shown}" + (f"  # {c.label}" if c.label else ""))
        if c.stream:
            s = Stream(argv)
            s.wait_lines(c.stream)
            raw = s.close()
        else:
            r = harness.run(argv, timeout=15)
            raw = r.stdout.encode()
        lines = split_answer(raw, stream=bool(c.stream))
        if c.mask_message:
            lines = [re.sub(r'"(error|message)":"(?:[^"\\]|\\.)*"', r'"\1":"<masked>"', ln)
                     for ln in lines]
        if "timetolive" in c.path:
            lines = [re.sub(r'"TTL":"\d+"', '"TTL":"<ttl>"', ln) for ln in lines]
        if c.capture_token:
            m = re.search(r'"token":"([^"]*)"', "\n".join(lines))
            vars["token"] = m.group(1) if m else ""
        out += lines
    out.append(f"server still running at the end: {'yes' if member.running() else 'NO'}")
    return "\n".join(out) + "\n", ctx, problems


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "JSON gateway: etcd vs " + args.server)

    @runner.test
    def identical_transcripts():
        results = {}
        for side, kind in (("etcd", "etcd"), ("candidate", args.server)):
            member = harness.Member(args, name="m1", kind=kind)
            try:
                member.start()
                text, ctx, problems = run_session(member)
            finally:
                member.stop()
            for p in problems:
                runner.check(False, f"{side}: {p}")
            masked = mask_json(diffh.mask(text, ctx))
            path = os.path.join(args.workdir, f"gateway.{side}-{kind}.txt")
            with open(path, "w") as f:
                f.write(masked)
            with open(path + ".raw", "w") as f:
                f.write(text)
            print(f"  {side} ({kind}): transcript {path} ({len(masked)} bytes)")
            results[side] = (masked, path)
        (ref, ref_path), (cand, cand_path) = results["etcd"], results["candidate"]
        diff = list(difflib.unified_diff(ref.splitlines(), cand.splitlines(), ref_path, cand_path,
                                         n=3, lineterm=""))
        runner.check(not diff, "gateway transcripts identical after masking",
                     "\n".join(diff[:300]))
        # Sanity: the session did what it claims.
        for needle in ('"events":[{"kv":{"key":"dy9h"', '"type":"DELETE"', '"canceled":true',
                       '"compact_revision":"3"', "HTTP/1.1 405 Method Not Allowed",
                       "etcdserver: requested lease not found", '"token":"<token>"',
                       "etcdserver: user name is empty", "etcdserver: invalid auth token",
                       "etcdserver: authentication failed",
                       '{"error":"unexpected EOF","message":"unexpected EOF","code":3}',
                       '"code":2}', "Transfer-Encoding: chunked", '"count":"1"'):
            runner.check(needle in ref, f"reference transcript contains {needle!r}")

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
