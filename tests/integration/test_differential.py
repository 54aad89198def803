#!/usr/bin/env python3
"""Differential test: one scripted etcdctl session against real etcd and against the server under
test, in the same run; the two transcripts must be identical after masking.

A transcript records, per command, the exact stdout, stderr and exit code of etcdctl (and, for the
few requests etcdctl 3.4 cannot make, the gRPC status and decoded response of outpost-raw-grpc).

What is masked, and why (nothing else is):
  * cluster id and member id (decimal and hex, exact values learnt from `endpoint status`):
    derived from the peer URLs, which use different free ports;
  * the raft term in response headers and `endpoint status` (an election detail);
  * the client and peer URLs / ports (free ports);
  * in `endpoint status` only: the server version string, db size, db size in use, raft index
    and raft applied index (storage and log layout details);
  * lease ids (random in etcd), replaced by <leaseN> in the order they were granted;
  * in etcdctl's own client-side warning log line on stderr: its timestamp and its random client
    UUID (the gRPC code and message in that line are kept);
  * table padding: tables are compared cell by cell (column widths follow the masked cells).
Revisions, keys, values, versions, counts, error messages and exit codes are never masked.

Run with --server etcd the two sides are both real etcd: the diff must be empty, which proves the
masking and the session are deterministic.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pb  # noqa: E402

Vars = dict


@dataclass
class Step:
    """One etcdctl command (argv) or one raw gRPC call (method + payload)."""
    argv: tuple = ()
    stdin: Union[None, str, Callable[[Vars], str]] = None
    stdin_label: str = ""               # shown instead of a big stdin
    capture: Optional[tuple] = None     # (var name, regex with one group, base 16|10)
    method: str = ""                    # raw gRPC method, e.g. /etcdserverpb.KV/Range
    payload: Optional[Callable[[Vars], bytes]] = None
    response: str = ""                  # pb.SCHEMA name of the reply
    label: str = ""                     # human description of a raw call


def ctl(*argv, stdin=None, stdin_label="", capture=None) -> Step:
    return Step(argv=argv, stdin=stdin, stdin_label=stdin_label, capture=capture)


def raw(method: str, response: str, label: str, payload: Callable[[Vars], bytes]) -> Step:
    return Step(method=method, payload=payload, response=response, label=label)


def txn(script: str, *flags) -> Step:
    """`etcdctl txn` non-interactive: compares, blank line, success ops, blank line, failure ops."""
    return ctl("txn", *flags, stdin=script)


# The session is abandoned after this many requests in a row got no answer (dead or hung server).
MAX_UNANSWERED = 5

R = "/etcdserverpb.KV/Range"
P = "/etcdserverpb.KV/Put"
T = "/etcdserverpb.KV/Txn"

ALL = ("", "--from-key")  # etcdctl get "" --from-key: every key


def session() -> list[Step]:
    s: list[Step] = []
    # ---- put
    s += [
        ctl("put", "a", "1"),
        ctl("put", "b", "2"),
        ctl("put", "c", "3"),
        ctl("put", "b", "22", "--prev-kv"),
        ctl("put", "b", "222", "--prev-kv", "-w", "json"),
        ctl("put", "b", "2222", "--prev-kv", "-w", "fields"),
        ctl("put", "new", "nx", "--prev-kv"),                    # no previous: prints only OK
        ctl("put", "absent", "--ignore-value"),                  # error: key not found
        ctl("put", "a", "--ignore-value"),                       # keeps value "1", version 2
        ctl("put", "a", "--ignore-value", "--prev-kv", "-w", "json"),
        ctl("put", "c", "33", "-w", "json"),
        ctl("put", "", "v"),                                     # error: key is not provided
        ctl("put", "sp ace", "multi word value"),
        ctl("put", "foo/1", "x"), ctl("put", "foo/2", "y"), ctl("put", "foo/3", "z"),
        ctl("put", "foo0", "after-prefix"), ctl("put", "fo", "before-prefix"),
        ctl("put", "v1", "b"), ctl("put", "v2", "a"), ctl("put", "v3", "c"),
        ctl("put", "v2", "aa"), ctl("put", "v2", "aaa"), ctl("put", "v3", "cc"),
        ctl("put", "\u20ac-utf8", "\x01\x02bin"),
    ]
    # ---- get, every range option
    s += [
        ctl("get", "a"),
        ctl("get", "a", "-w", "json"),
        ctl("get", "a", "-w", "fields"),
        ctl("get", "a", "--print-value-only"),
        ctl("get", "a", "--keys-only"),
        ctl("get", "missing"),
        ctl("get", "missing", "-w", "json"),
        ctl("get", "missing", "-w", "fields"),
        ctl("get", ""),                                          # error: key is not provided
        ctl("get", "a", "c"),                                    # [a, c)
        ctl("get", "a", "c", "-w", "json"),
        ctl("get", "c", "a"),                                    # empty: end < start
        ctl("get", "foo/", "--prefix"),
        ctl("get", "foo/", "--prefix", "--keys-only"),
        ctl("get", "foo/", "--prefix", "--print-value-only"),
        ctl("get", "foo/", "--prefix", "-w", "json"),
        ctl("get", "foo/", "--prefix", "--keys-only", "-w", "json"),
        ctl("get", "foo/", "--prefix", "-w", "fields"),
        ctl("get", "fo", "--prefix", "--limit=2", "-w", "json"),  # more=true, count=5
        ctl("get", "foo/", "--from-key"),
        ctl("get", "foo/", "--from-key", "--limit=3", "-w", "json"),
        ctl("get", *ALL, "--keys-only"),
        ctl("get", *ALL, "--limit=1", "-w", "fields"),
        ctl("get", "a", "--consistency=s", "-w", "json"),
        ctl("get", "\u20ac-utf8", "-w", "json"),
        ctl("get", "\u20ac-utf8", "--hex"),
        ctl("get", "sp ace", "-w", "json"),
    ]
    for target in ("KEY", "VALUE", "CREATE", "MODIFY", "VERSION"):
        for order in ("ASCEND", "DESCEND"):
            s.append(ctl("get", "fo", "--prefix", f"--sort-by={target}", f"--order={order}"))
            s.append(ctl("get", "v", "--prefix", f"--sort-by={target}", f"--order={order}",
                         "-w", "json"))
    s += [
        ctl("get", *ALL, "--order=DESCEND", "--keys-only"),            # sort by key implied
        ctl("get", *ALL, "--sort-by=VALUE", "--limit=3", "-w", "json"),  # sort then limit
        ctl("get", *ALL, "--sort-by=MODIFY", "--order=DESCEND", "--limit=2", "-w", "json"),
        # Ties (equal versions) over at most 12 keys: Go's sort is an insertion sort there, so
        # etcd keeps key order for ties. Over more keys etcd's order of ties is an artefact of
        # Go's unstable sort algorithm (and differs between Go releases), so every sort over the
        # whole keyspace above has distinct sort values.
        ctl("get", "a", "foo0", "--sort-by=VERSION", "--order=DESCEND", "--keys-only"),
        ctl("get", "a", "foo0", "--sort-by=VALUE", "--order=DESCEND", "--keys-only"),
        ctl("get", "v", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--limit=1",
            "--keys-only", "-w", "json"),
    ]
    # ---- get --rev (history of b: 2 @3, 22 @5, 222 @6, 2222 @7)
    s += [
        ctl("get", "b", "--rev=3"),
        ctl("get", "b", "--rev=5", "-w", "json"),
        ctl("get", "b", "--rev=1"),
        ctl("get", "b", "--rev=2", "-w", "json"),
        ctl("get", *ALL, "--rev=4", "-w", "json"),
        ctl("get", "foo/", "--prefix", "--rev=16", "--keys-only"),
        ctl("get", "b", "--rev=1000"),                           # error: future revision
    ]
    # ---- raw Range fields etcdctl 3.4 cannot set: count_only, min/max mod/create revision
    s += [
        raw(R, "RangeResponse", "count_only over everything",
            lambda v: pb.range_request(b"\0", b"\0", count_only=True)),
        raw(R, "RangeResponse", "count_only prefix foo/ rev 16",
            lambda v: pb.range_request("foo/", "foo0", count_only=True, revision=16)),
        raw(R, "RangeResponse", "min_mod_revision=10 (all keys)",
            lambda v: pb.range_request(b"\0", b"\0", min_mod_revision=10, keys_only=True)),
        raw(R, "RangeResponse", "max_mod_revision=8",
            lambda v: pb.range_request(b"\0", b"\0", max_mod_revision=8)),
        raw(R, "RangeResponse", "min_create_revision=20 max_create_revision=22",
            lambda v: pb.range_request(b"\0", b"\0", min_create_revision=20,
                                       max_create_revision=22)),
        raw(R, "RangeResponse", "max_create_revision=4, limit=1, sort by VALUE DESCEND",
            lambda v: pb.range_request(b"\0", b"\0", max_create_revision=4, limit=1,
                                       sort_target="VALUE", sort_order="DESCEND")),
        raw(R, "RangeResponse", "min_mod_revision=20 with count_only",
            lambda v: pb.range_request("v", "w", min_mod_revision=20, count_only=True)),
        raw(R, "RangeResponse", "serializable keys_only limit=2 on [a, foo/3)",
            lambda v: pb.range_request("a", "foo/3", limit=2, keys_only=True, serializable=True)),
    ]
    # ---- txn: every compare kind, both branches, put/get/del inside
    s += [
        txn('value("a") = "1"\n\nput t1 yes\nget a\n\nput t1 no\n\n'),
        txn('value("a") != "1"\n\nput t2 yes\n\nput t2 no\nget t2\n\n'),
        txn('value("b") > "2"\n\nget b\n\nget a\n\n', "-w", "json"),
        txn('value("b") < "2"\n\nget b\n\nget a\ndel t2\n\n', "-w", "json"),
        txn('version("b") = "4"\n\nput t3 v4\n\n\n'),
        txn('version("b") > "4"\n\n\nput t3 not-gt-4\n\n'),
        txn('version("missing") = "0"\n\nput t4 missing-has-version-0\n\n\n'),
        txn('create("b") = "3"\nmod("b") = "7"\n\nget b\ndel c --prev-kv\n\n\n', "-w", "json"),
        txn('create("b") < "3"\n\n\nget b --rev=5\n\n', "-w", "json"),
        txn('mod("a") > "8"\n\nput t5 mod-gt\n\nput t5 mod-not-gt\n\n', "-w", "fields"),
        txn('mod("a") < "100"\nversion("a") != "1"\nvalue("a") = "1"\n\n'
            'put t6 all-three\nget t --prefix\n\n\n'),
        txn('value("missing") = "x"\n\nput t7 a\n\nput t7 b\n\n'),
        txn('\n\nput t8 empty-compare-succeeds\n\n\n'),
        txn('\n\n\n\n'),                                          # nothing at all
        txn('value("a") = "1"\n\ndel foo/ --prefix --prev-kv\nget foo/ --prefix\n\n\n',
            "-w", "json"),
        txn('value("a") = "1"\n\nput dup 1\nput dup 2\n\n\n'),    # duplicate key
        txn('value("a") = "1"\n\nput dupd 1\ndel dupd\n\n\n'),    # duplicate: put + del
        txn('value("a") = "1"\n\nget x\nget x\n\n\n'),            # two reads are fine
        ctl("txn", stdin='\n' + "".join(f"put many/{i:03d} v\n" for i in range(129)) + '\n\n',
            stdin_label="no compares; success: put many/000 .. many/128 (129 ops)"),
        ctl("txn", stdin='\n' + "".join(f"put many/{i:03d} v\n" for i in range(128)) + '\n\n',
            stdin_label="no compares; success: put many/000 .. many/127 (128 ops)"),
        ctl("get", "many/", "--prefix", "--limit=2", "-w", "json"),
        txn('value("a") = "1"\n\nget b --rev=1000\n\n\n'),       # future revision in a txn
        raw(T, "TxnResponse", "nested txn: outer put + delete of the same key in the inner "
            "failure branch (etcd: duplicate key)",
            lambda v: pb.txn_request(
                [pb.compare("value", "a", "=", "1")],
                [pb.op_put(pb.put_request("nest/outer", "o")),
                 pb.op_txn(pb.txn_request([pb.compare("version", "b", ">", 0)],
                                          [pb.op_put(pb.put_request("nest/inner", "i"))],
                                          [pb.op_delete(pb.delete_request("nest/outer"))]))])),
        raw(T, "TxnResponse", "nested txn: outer value(a)=1 -> put, inner version(b)>0 -> put+get",
            lambda v: pb.txn_request(
                [pb.compare("value", "a", "=", "1")],
                [pb.op_put(pb.put_request("nest/outer", "o")),
                 pb.op_txn(pb.txn_request([pb.compare("version", "b", ">", 0)],
                                          [pb.op_put(pb.put_request("nest/inner", "i")),
                                           pb.op_range(pb.range_request("nest/", "nest0"))],
                                          [pb.op_delete(pb.delete_request("nest/zzz"))])),
                 pb.op_range(pb.range_request("nest/", "nest0", count_only=True))])),
        raw(T, "TxnResponse", "nested txn: inner failure branch deletes what the outer put",
            lambda v: pb.txn_request(
                [],
                [pb.op_txn(pb.txn_request([pb.compare("create", "b", "=", 999)],
                                          [pb.op_put(pb.put_request("nest/never", "n"))],
                                          [pb.op_delete(pb.delete_request("nest/", "nest0",
                                                                          prev_kv=True))]))])),
        raw(T, "TxnResponse", "nested txn: same key put in outer and inner (duplicate)",
            lambda v: pb.txn_request(
                [], [pb.op_put(pb.put_request("nest/dup", "1")),
                     pb.op_txn(pb.txn_request([], [pb.op_put(pb.put_request("nest/dup", "2"))]))])),
        raw(T, "TxnResponse", "nested txn: duplicate only across the two inner branches (allowed)",
            lambda v: pb.txn_request(
                [], [pb.op_txn(pb.txn_request([], [pb.op_put(pb.put_request("nest/alt", "s"))],
                                              [pb.op_put(pb.put_request("nest/alt", "f"))]))])),
        ctl("get", "t", "--prefix"),
    ]
    # ---- del
    s += [
        ctl("del", "missing"),
        ctl("del", "a", "--prev-kv"),
        ctl("del", "a", "--prev-kv", "-w", "json"),              # nothing deleted now
        ctl("put", "a", "1"),
        ctl("del", "fo", "--prefix", "--prev-kv"),
        ctl("del", "t1", "t4", "--prev-kv", "-w", "json"),     # range end
        ctl("del", "v", "--from-key", "-w", "fields"),
        ctl("get", *ALL, "-w", "json"),
    ]
    # ---- request size limits
    s += [
        ctl("put", "big", stdin="m" * (1024 * 1024), stdin_label="1 MiB of 'm'"),   # fits
        ctl("get", "big", "--keys-only", "-w", "json"),
        ctl("del", "big"),
        ctl("put", "toobig", stdin="x" * (1600 * 1024), stdin_label="1600 KiB of 'x'"),
        # etcdctl itself refuses this one (client-side gRPC limit, 2 MiB); the server sees it in
        # test_bad_input.py through outpost-raw-grpc.
        ctl("put", "toobig", stdin="x" * (2 * 1024 * 1024), stdin_label="2 MiB of 'x'"),
        ctl("get", "toobig"),
    ]
    # ---- compaction (current revision is recorded in the transcript just before)
    s += [
        ctl("get", "b", "-w", "json"),
        ctl("compaction", "20"),
        ctl("get", "b", "--rev=19"),                             # error: compacted
        ctl("get", *ALL, "--rev=10", "-w", "json"),              # error: compacted
        ctl("get", "b", "--rev=20", "-w", "json"),               # the compacted revision itself
        ctl("get", "foo/", "--prefix", "--rev=21", "--keys-only"),
        ctl("get", "b", "--rev=10000"),                          # error: future
        ctl("compaction", "15"),                                 # error: already compacted
        ctl("compaction", "20"),                                 # error: already compacted
        ctl("compaction", "10000"),                              # error: future
        raw(R, "RangeResponse", "count_only at the compacted revision",
            lambda v: pb.range_request(b"\0", b"\0", count_only=True, revision=20)),
        raw(R, "RangeResponse", "count_only below the compacted revision",
            lambda v: pb.range_request(b"\0", b"\0", count_only=True, revision=19)),
        txn('value("b") = "2222"\n\nget b --rev=5\n\n\n'),     # compacted inside a txn
        ctl("put", "after", "compaction"),
        ctl("compaction", "--physical", "30"),
        ctl("get", "b", "--rev=29"),
        ctl("get", "b", "--rev=30", "-w", "json"),
        ctl("get", *ALL, "-w", "json"),
    ]
    # ---- leases (ids are random in etcd: captured, used, masked). Late in the session so
    # that a server without leases shows one contained diff, not a cascade of revisions.
    lease = ("lease1", r"^lease ([0-9a-f]+) granted", 16)
    s += [
        ctl("lease", "grant", "100", capture=lease),
        ctl("put", "leased", "v", "--lease={lease1:x}"),
        ctl("put", "leased2", "v", "--lease={lease1:x}"),
        ctl("get", "leased", "-w", "json"),
        ctl("get", "leased", "-w", "fields"),
        ctl("put", "k", "v", "--lease=1234"),                    # error: lease not found
        ctl("put", "leased2", "v2", "--ignore-lease", "--prev-kv"),  # keeps lease1
        ctl("put", "leased2", "v3", "--ignore-lease", "--lease={lease1:x}"),  # lease is provided
        ctl("put", "never-put", "x", "--ignore-lease"),          # error: key not found
        ctl("lease", "list"),
        ctl("lease", "keep-alive", "--once", "{lease1:x}"),
        raw(T, "TxnResponse", "lease(leased) = lease1 -> get leased | put lz no",
            lambda v: pb.txn_request([pb.compare("lease", "leased", "=", v["lease1"])],
                                     [pb.op_range(pb.range_request("leased"))],
                                     [pb.op_put(pb.put_request("lz", "no"))])),
        raw(T, "TxnResponse", "lease(a) = 0 and lease(leased) != 0 -> nested txn",
            lambda v: pb.txn_request(
                [pb.compare("lease", "a", "=", 0), pb.compare("lease", "leased", "!=", 0)],
                [pb.op_txn(pb.txn_request([pb.compare("value", "a", "=", "1")],
                                          [pb.op_put(pb.put_request("nested", "n", prev_kv=True)),
                                           pb.op_range(pb.range_request("nested"))]))])),
        raw(T, "TxnResponse", "lease(leased) > lease1 (false) -> failure: delete lz, count [a, b)",
            lambda v: pb.txn_request([pb.compare("lease", "leased", ">", v["lease1"])],
                                     [pb.op_put(pb.put_request("lz", "yes"))],
                                     [pb.op_delete(pb.delete_request("lz", prev_kv=True)),
                                      pb.op_range(pb.range_request("a", "b", count_only=True))])),
        raw(T, "TxnResponse", "compare over a range: version(t..u) > 0",
            lambda v: pb.txn_request([pb.compare("version", "t", ">", 0, range_end="u")],
                                     [pb.op_range(pb.range_request("t", "u", keys_only=True))])),
        raw(P, "PutResponse", "put with ignore_lease on a leased key keeps the lease",
            lambda v: pb.put_request("leased2", "w", ignore_lease=True, prev_kv=True)),
        ctl("lease", "revoke", "{lease1:x}"),
        ctl("get", "leased", "--prefix", "-w", "json"),
        ctl("lease", "revoke", "{lease1:x}"),                   # error: lease not found
    ]
    # ---- cluster and status
    s += [
        ctl("endpoint", "status", "-w", "json"),
        ctl("endpoint", "status", "-w", "table"),
        ctl("endpoint", "status"),
        ctl("member", "list"),
        ctl("member", "list", "-w", "table"),
        ctl("member", "list", "-w", "json"),
    ]
    return s


# --------------------------------------------------------------------------------------------
# Running and masking


@dataclass
class Context:
    """What one side of the run learnt, for masking."""
    member_id: int = 0
    cluster_id: int = 0
    client_url: str = ""
    peer_url: str = ""
    client_port: int = 0
    peer_port: int = 0
    vars: dict = field(default_factory=dict)
    lease_order: list = field(default_factory=list)


def fmt(text: str, v: Vars) -> str:
    return text.format(**v) if "{" in text else text


def show_arg(a: str) -> str:
    if a == "" or any(ch.isspace() or not ch.isprintable() for ch in a):
        return json.dumps(a, ensure_ascii=False)
    return a


def exact(name: str, text: str) -> list[str]:
    """Transcript lines for one output stream, keeping the exact number of final newlines."""
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    lines = [f"--- {name}"] + ([body] if body else [])
    if trailing != 1 or not body:
        lines.append(f"<{trailing} final newline(s)>")
    return lines


def run_session(args, member: harness.Member, steps: list[Step]) -> tuple[str, Context]:
    ctx = Context(client_url=member.client_url, peer_url=member.peer_url,
                  client_port=member.client_port, peer_port=member.peer_port)
    st = member.ctl("endpoint", "status", "-w", "json")
    try:
        hdr = json.loads(st.stdout)[0]["Status"]["header"]
        ctx.member_id, ctx.cluster_id = int(hdr["member_id"]), int(hdr["cluster_id"])
    except (ValueError, LookupError, TypeError):
        # Leave the ids unmasked (0 = unknown): the transcript diff will show what went wrong.
        print(f"  note: endpoint status on {member.kind} gave no ids: {st.describe()}")

    out: list[str] = []
    unanswered = 0
    for i, step in enumerate(steps, 1):
        if unanswered >= MAX_UNANSWERED:
            out.append(f"[{i}..{len(steps)}] (session aborted: {unanswered} requests in a row got "
                       f"no answer; server running: {member.running()})")
            break
        if step.method:
            out.append(f"[{i}] $ raw {step.method}  # {step.label}")
            if not args.raw_grpc:
                out.append("(skipped: no --raw-grpc tool)")
                continue
            try:
                reply = pb.call(args.raw_grpc, member.grpc_addr, step.method,
                                step.payload(ctx.vars))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                out.append(f"raw call failed: {e}")
                unanswered += 1
                continue
            unanswered = unanswered + 1 if reply.code in (4, 14) else 0
            out.append(f"code={reply.code} ({pb.GRPC_CODES.get(reply.code, '?')}) "
                       f"message={reply.message!r}")
            if reply.code == 0:
                out.append(f"{step.response}{{{pb.render(step.response, reply.response)}}}")
            continue
        argv = [fmt(a, ctx.vars) for a in step.argv]
        stdin = step.stdin(ctx.vars) if callable(step.stdin) else step.stdin
        shown = " ".join(show_arg(a) for a in step.argv)
        out.append(f"[{i}] $ etcdctl {shown}")
        if stdin is not None:
            if step.stdin_label:
                out.append(f"<<< ({step.stdin_label})")
            else:
                out += ["<<< " + line for line in stdin.split("\n")]
        r = member.ctl(*argv, stdin=stdin, timeout=30, command_timeout="3s")
        no_answer = r.timed_out or "context deadline exceeded" in r.stderr
        unanswered = unanswered + 1 if no_answer else 0
        out.append(f"exit={r.rc}{' TIMED OUT' if r.timed_out else ''}")
        out += exact("stdout", r.stdout)
        if r.stderr:
            out += exact("stderr", r.stderr)
        if step.capture:
            name, regex, base = step.capture
            m = re.search(regex, r.stdout, re.M)
            if m:
                ctx.vars[name] = int(m.group(1), base)
                ctx.lease_order.append(ctx.vars[name])
            else:
                ctx.vars[name] = 0
                out.append(f"(could not capture {name}; using 0)")
    out.append(f"server still running at the end: {'yes' if member.running() else 'NO'}")
    return "\n".join(out) + "\n", ctx


TABLE_MASKED_COLUMNS = {"VERSION", "DB SIZE", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX"}


def mask_tables(text: str) -> str:
    """Compare tables cell by cell: strip padding, mask the columns that legitimately differ."""
    out = []
    header: list[str] = []
    for line in text.split("\n"):
        if re.fullmatch(r"\+[-+]+\+", line):
            out.append("+--table-border--+")
            continue
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            if all(c.isupper() or c == "" for c in cells) and any(cells):
                header = cells
            else:
                cells = ["<masked>" if i < len(header) and header[i] in TABLE_MASKED_COLUMNS
                         else c for i, c in enumerate(cells)]
            out.append("| " + " | ".join(cells) + " |")
            continue
        header = header if line.startswith("|") else []
        out.append(line)
    return "\n".join(out)


def mask(text: str, ctx: Context) -> str:
    # Free ports: client and peer URLs, and the bare client address in etcdctl's warning line.
    text = text.replace(ctx.client_url, "<client_url>").replace(ctx.peer_url, "<peer_url>")
    text = text.replace(f"127.0.0.1:{ctx.client_port}", "<client_addr>")
    # Cluster and member ids: exact values, decimal and hex (etcdctl prints %x and %016x).
    for value, name in ((ctx.member_id, "member_id"), (ctx.cluster_id, "cluster_id")):
        if not value:
            continue  # unknown: nothing to mask (never mask a bare 0)
        for form in (str(value), f"{value:016x}", f"{value:x}"):
            text = re.sub(rf"\b{form}\b", f"<{name}>", text)
    # Lease ids, in grant order.
    for n, lease in enumerate(ctx.lease_order, 1):
        if not lease:
            continue
        for form in (str(lease), f"{lease:016x}", f"{lease:x}"):
            text = re.sub(rf"\b{form}\b", f"<lease{n}>", text)
    # Raft term: response headers (json, fields) and endpoint status json. Zero stays visible
    # (nested txn headers carry none).
    text = re.sub(r'"raft_term":[1-9]\d*', '"raft_term":<raft_term>', text)
    text = re.sub(r'"RaftTerm" : [1-9]\d*', '"RaftTerm" : <raft_term>', text)
    # endpoint status json: storage/log layout and version.
    for key in ("raftTerm", "raftIndex", "raftAppliedIndex", "dbSize", "dbSizeInUse"):
        text = re.sub(rf'"{key}":\d+', f'"{key}":<masked>', text)
    text = re.sub(r'("Status":\{.*?"version":)"[^"]*"', r'\1"<masked>"', text)
    # endpoint status simple output: "<url>, <id>, <version>, <db size>, <leader>, <learner>,
    # <term>, <index>, <applied>, <errors>"
    text = re.sub(r"^(<client_url>, <member_id>), [^,]*, [^,]*, (true|false), (true|false), "
                  r"\d+, \d+, \d+, ",
                  r"\1, <masked>, <masked>, \2, \3, <masked>, <masked>, <masked>, ", text, flags=re.M)
    # etcdctl's client-side zap warning: timestamp and random client UUID.
    text = re.sub(r'"ts":"[^"]*"', '"ts":"<ts>"', text)
    text = re.sub(r"endpoint://client-[0-9a-f-]+/", "endpoint://client-<uuid>/", text)
    return mask_tables(text)


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "differential: etcd vs " + args.server)

    @runner.test
    def identical_transcripts():
        steps = session()
        print(f"  session: {len(steps)} steps "
              f"({sum(1 for s in steps if s.method)} raw gRPC calls)")
        if not args.raw_grpc:
            runner.skip("raw gRPC steps (no --raw-grpc given)")
        results = {}
        for side, kind in (("etcd", "etcd"), ("candidate", args.server)):
            member = harness.Member(args, name="m1", kind=kind)
            try:
                member.start()
                text, ctx = run_session(args, member, steps)
            finally:
                member.stop()
            raw_path = os.path.join(args.workdir, f"transcript.{side}-{kind}.raw.txt")
            with open(raw_path, "w") as f:
                f.write(text)
            masked = mask(text, ctx)
            path = os.path.join(args.workdir, f"transcript.{side}-{kind}.txt")
            with open(path, "w") as f:
                f.write(masked)
            print(f"  {side} ({kind}): transcript {path} ({len(masked)} bytes, raw in {raw_path})")
            results[side] = (masked, path)
        (ref, ref_path), (cand, cand_path) = results["etcd"], results["candidate"]
        diff = list(difflib.unified_diff(ref.splitlines(), cand.splitlines(), ref_path, cand_path,
                                         n=4, lineterm=""))
        if diff:
            diff_path = os.path.join(args.workdir, "transcript.diff")
            with open(diff_path, "w") as f:
                f.write("\n".join(diff) + "\n")
            print(f"  diff written to {diff_path}")
        runner.check(not diff, f"transcripts identical after masking ({len(steps)} steps)",
                     "\n".join(diff[:400]) + ("\n... (diff truncated)" if len(diff) > 400 else ""))
        # Sanity: the session did what it claims (guards against a session that errors uniformly).
        for needle in ("etcdserver: duplicate key given in txn request",
                       "etcdserver: too many operations in txn request",
                       "etcdserver: request is too large",
                       "etcdserver: requested lease not found",
                       "etcdserver: key is not provided",
                       "etcdserver: mvcc: required revision has been compacted",
                       "etcdserver: mvcc: required revision is a future revision",
                       "compacted revision 20"):
            runner.check(needle in ref, f"reference transcript contains {needle!r}")
        runner.check(ref.count("exit=0") > len(steps) // 2, "most reference steps succeeded")

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
