"""A few etcd v3 messages encoded and decoded by hand (Python stdlib only).

Used with tools/raw_grpc.cc to reach request fields that etcdctl 3.4 cannot send (count_only,
min/max mod and create revisions, lease compares: etcdctl 3.4.23's `txn` panics on `lease(...)`,
nested txns) and to send deliberately malformed requests. Field numbers are etcd's
(api/etcdserverpb/rpc.proto, api/mvccpb/kv.proto).

Encoding: `msg(field=value, ...)` helpers below build bytes in field-number order, skipping
proto3 defaults, as both Go (gogo) and C++ protobuf serialise. Decoding: `render(name, bytes)` turns
a response into a stable one-line text, field by field, with the schema below; unknown fields
show as ?N=hex so nothing is silently dropped.
"""

from __future__ import annotations

import subprocess
from typing import Optional

# --------------------------------------------------------------------------------------------
# Wire format


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num: int, value: int) -> bytes:
    return varint(num << 3) + varint(value) if value else b""


def field_bytes(num: int, value: bytes | str, keep_empty: bool = False) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if not value and not keep_empty:
        return b""
    return varint((num << 3) | 2) + varint(len(value)) + value


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def parse(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) in wire order; value is int or bytes."""
    fields = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_varint(data, pos)
        elif wt == 2:
            n, pos = read_varint(data, pos)
            if pos + n > len(data):
                raise ValueError("truncated length-delimited field")
            v = data[pos:pos + n]
            pos += n
        elif wt == 1:
            v = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            v = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"bad wire type {wt}")
        fields.append((num, wt, v))
    return fields


# --------------------------------------------------------------------------------------------
# Requests (etcdserverpb)

SORT_ORDER = {"NONE": 0, "ASCEND": 1, "DESCEND": 2}
SORT_TARGET = {"KEY": 0, "VERSION": 1, "CREATE": 2, "MOD": 3, "VALUE": 4}
CMP_RESULT = {"=": 0, ">": 1, "<": 2, "!=": 3}
CMP_TARGET = {"version": 0, "create": 1, "mod": 2, "value": 3, "lease": 4}


def range_request(key, range_end=b"", limit=0, revision=0, sort_order="NONE", sort_target="KEY",
                  serializable=False, keys_only=False, count_only=False, min_mod_revision=0,
                  max_mod_revision=0, min_create_revision=0, max_create_revision=0) -> bytes:
    return (field_bytes(1, key) + field_bytes(2, range_end) + field_varint(3, limit)
            + field_varint(4, revision) + field_varint(5, SORT_ORDER[sort_order])
            + field_varint(6, SORT_TARGET[sort_target]) + field_varint(7, int(serializable))
            + field_varint(8, int(keys_only)) + field_varint(9, int(count_only))
            + field_varint(10, min_mod_revision) + field_varint(11, max_mod_revision)
            + field_varint(12, min_create_revision) + field_varint(13, max_create_revision))


def put_request(key, value=b"", lease=0, prev_kv=False, ignore_value=False,
                ignore_lease=False) -> bytes:
    return (field_bytes(1, key) + field_bytes(2, value) + field_varint(3, lease)
            + field_varint(4, int(prev_kv)) + field_varint(5, int(ignore_value))
            + field_varint(6, int(ignore_lease)))


def delete_request(key, range_end=b"", prev_kv=False) -> bytes:
    return field_bytes(1, key) + field_bytes(2, range_end) + field_varint(3, int(prev_kv))


def compare(target: str, key, op: str, value, range_end=b"") -> bytes:
    """Compare{result, target, key, <target_union>}; value is int (or bytes/str for value)."""
    union_field = {"version": 4, "create": 5, "mod": 6, "value": 7, "lease": 8}[target]
    body = (field_varint(1, CMP_RESULT[op]) + field_varint(2, CMP_TARGET[target])
            + field_bytes(3, key))
    if target == "value":
        body += field_bytes(union_field, value, keep_empty=True)
    else:
        # A oneof member is written even when zero (it is set).
        body += varint(union_field << 3) + varint(int(value))
    return body + field_bytes(64, range_end)


def op_range(req: bytes) -> bytes:
    return field_bytes(1, req, keep_empty=True)


def op_put(req: bytes) -> bytes:
    return field_bytes(2, req, keep_empty=True)


def op_delete(req: bytes) -> bytes:
    return field_bytes(3, req, keep_empty=True)


def op_txn(req: bytes) -> bytes:
    return field_bytes(4, req, keep_empty=True)


def txn_request(compares=(), success=(), failure=()) -> bytes:
    out = b""
    for c in compares:
        out += field_bytes(1, c, keep_empty=True)
    for o in success:
        out += field_bytes(2, o, keep_empty=True)
    for o in failure:
        out += field_bytes(3, o, keep_empty=True)
    return out


# --------------------------------------------------------------------------------------------
# Responses: schema-driven rendering

# message name -> {field number: (field name, kind)}; kind is 'int', 'bool', 'bytes' or a
# message name. Repeated fields simply appear once per element.
SCHEMA: dict[str, dict[int, tuple[str, str]]] = {
    "ResponseHeader": {1: ("cluster_id", "int"), 2: ("member_id", "int"), 3: ("revision", "int"),
                       4: ("raft_term", "int")},
    "KeyValue": {1: ("key", "bytes"), 2: ("create_revision", "int"), 3: ("mod_revision", "int"),
                 4: ("version", "int"), 5: ("value", "bytes"), 6: ("lease", "int")},
    "RangeResponse": {1: ("header", "ResponseHeader"), 2: ("kvs", "KeyValue"), 3: ("more", "bool"),
                      4: ("count", "int")},
    "PutResponse": {1: ("header", "ResponseHeader"), 2: ("prev_kv", "KeyValue")},
    "DeleteRangeResponse": {1: ("header", "ResponseHeader"), 2: ("deleted", "int"),
                            3: ("prev_kvs", "KeyValue")},
    "TxnResponse": {1: ("header", "ResponseHeader"), 2: ("succeeded", "bool"),
                    3: ("responses", "ResponseOp")},
    "ResponseOp": {1: ("response_range", "RangeResponse"), 2: ("response_put", "PutResponse"),
                   3: ("response_delete_range", "DeleteRangeResponse"),
                   4: ("response_txn", "TxnResponse")},
    "CompactionResponse": {1: ("header", "ResponseHeader")},
}

# The response header fields that legitimately differ between two clusters.
MASKED_HEADER_FIELDS = {"cluster_id", "member_id", "raft_term"}


def render(name: str, data: bytes, mask_header: bool = True) -> str:
    try:
        fields = parse(data)
    except ValueError as e:
        return f"<unparseable {name}: {e}: {data.hex()}>"
    schema = SCHEMA.get(name, {})
    parts = []
    for num, wt, v in fields:
        fname, kind = schema.get(num, (f"?{num}", "raw"))
        if kind == "int" and wt == 0:
            # ResponseHeader's ids and term are uint64; every other int field here is int64.
            signed = v - (1 << 64) if v >= 1 << 63 and name != "ResponseHeader" else v
            shown = "<masked>" if (mask_header and name == "ResponseHeader"
                                   and fname in MASKED_HEADER_FIELDS) else str(signed)
            parts.append(f"{fname}={shown}")
        elif kind == "bool" and wt == 0:
            parts.append(f"{fname}={'true' if v else 'false'}")
        elif kind == "bytes" and wt == 2:
            parts.append(f"{fname}={bytes(v)!r}")
        elif kind in SCHEMA and wt == 2:
            parts.append(f"{fname}{{{render(kind, bytes(v), mask_header)}}}")
        else:
            parts.append(f"{fname}=wt{wt}:{v.hex() if isinstance(v, bytes) else v}")
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Calling the server


class RawReply:
    def __init__(self, code: Optional[int], message: str, response: bytes, raw: str):
        self.code = code
        self.message = message
        self.response = response
        self.raw = raw

    def __repr__(self) -> str:
        return f"RawReply(code={self.code}, message={self.message!r}, response={self.response.hex()})"


GRPC_CODES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
              5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
              9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
              13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}


def call(tool: str, addr: str, method: str, payload: bytes, timeout_ms: int = 5000) -> RawReply:
    """One unary call through outpost-raw-grpc; payload goes over stdin as hex."""
    proc = subprocess.run([tool, addr, method, "-", str(timeout_ms)], input=payload.hex().encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout_ms / 1000 + 10)
    out = proc.stdout.decode(errors="replace")
    code, message, response = None, "", b""
    for line in out.splitlines():
        if line.startswith("code="):
            head, _, message = line.partition(" message=")
            code = int(head[len("code="):])
        elif line.startswith("response="):
            response = bytes.fromhex(line[len("response="):])
    if proc.returncode != 0 or code is None:
        raise RuntimeError(f"outpost-raw-grpc failed (rc={proc.returncode}): {out!r} "
                           f"{proc.stderr.decode(errors='replace')!r}")
    return RawReply(code, message, response, out)
