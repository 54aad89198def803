"""History format of the nemesis harness: one JSON object per line.

A history is what the clients of a nemesis run observed, written as they observed it, so that the
checkers (linearizability.py, checkers.py) can judge it afterwards and a failing run can be replayed
from its file. Written by hand: no packaged history library exists for Python here.

Every record has "f" (what happened) and "process" (which client or watcher; an integer). Times
are monotonic nanoseconds (time.monotonic_ns()) of the machine running the clients.

Client operations (f = read, write, cas, delete for registers; add, read_all for sets):

    {"process": 3, "f": "write", "key": "r1", "value": "3-17",
     "invoke": 1200, "complete": 1800, "outcome": "ok", "revision": 42}

  key         the register key, or the set's key (all elements of one set share it).
  value       write: value written; read: value read (null = key absent); cas: new value;
              add: the element added.
  expected    cas only: the value compared against (null = compare "key absent", i.e.
              create_revision == 0).
  succeeded   cas only, outcome ok: whether the compare held (default true). A Txn that returned
              with succeeded = false is an observation that the value differed; a driver may
              record it this way (stronger check) or as outcome fail (dropped, Knossos style).
  values      read_all only: the elements read, in the order the server returned them.
  invoke      when the request was sent; complete: when its answer arrived (null for info when
              no answer came).
  outcome     "ok": acknowledged, it happened with the result recorded.
              "fail": definitely did not happen (a failed compare, or an error etcd guarantees
              means not applied, e.g. a rejected request); checkers drop it or, for a set add,
              require its element to be absent.
              "info": indeterminate (timeout, connection lost): it may have happened at any point
              after invoke, or never. An info read carries no information and is dropped.
  revision    the header revision returned (for a write: the revision it created), when known.
  error       fail / info: the error the client got (gRPC code and message), for the reader.

Watch records (f = watch_start, watch_event, watch_compacted, watch_end), in the order the
watcher received them; "process" is the watcher's id:

    {"process": 100, "f": "watch_start", "key": "r", "range_end": "s", "revision": 1, "time": 5}
    {"process": 100, "f": "watch_event", "key": "r1", "event": "put", "value": "3-17",
     "revision": 42, "time": 1900}
    {"process": 100, "f": "watch_compacted", "revision": 60, "time": 2500}
    {"process": 100, "f": "watch_end", "revision": 95, "time": 9000}

  watch_start     a (re)start of the watcher at start revision "revision" over [key, range_end)
                  (range_end null: the single key; "\\0": every key >= key, as etcd). A restart
                  after a fault is another watch_start from the last seen revision + 1.
  watch_event     one event: key, event ("put" or "delete"), value (null for delete), revision
                  (the event's mod_revision).
  watch_compacted the server cancelled the watch because its start revision was compacted;
                  "revision" is the reported compact revision. Events below it may be missing.
  watch_end       the watcher stopped after it knew the store had reached "revision" (e.g. it saw
                  a progress notification or the final write): every event up to it is due.

Lease records (f = lease_grant, lease_put, lease_keepalive, lease_read, lease_revoke), written by
the lease clients (outpost-nemesis-client, processes 3000+); operations like the others (invoke,
complete, outcome, revision):

    {"process": 3000, "f": "lease_grant", "mode": "keep", "lease": 7587, "ttl": 3,
     "invoke": 100, "complete": 900, "outcome": "ok", "revision": 12}
    {"process": 3000, "f": "lease_put", "key": "l/3000-1", "value": "3000-1", "lease": 7587, ...}
    {"process": 3000, "f": "lease_keepalive", "lease": 7587, "ttl": 3, ...}
    {"process": 3000, "f": "lease_read", "key": "l/3000-1", "lease": 7587, "value": null, ...}
    {"process": 3000, "f": "lease_revoke", "lease": 7587, ...}

  mode        lease_grant only: "keep" (the client keeps it alive with keepalives, reads its key,
              then revokes it) or "abandon" (no keepalive; the client polls the key until it is
              gone).
  lease       the lease id (absent from a grant that got no answer).
  ttl         lease_grant: the TTL granted (the server may raise the one asked to its minimum);
              lease_keepalive: the TTL answered (0: the lease was not found).
  value       lease_read: the key's value, null when absent; lease_put: the value written.

Nemesis records (f = nemesis), written by the driver: when a fault began and ended.

    {"process": -1, "f": "nemesis", "fault": "kill-leader", "phase": "start", "time": 5000}
    {"process": -1, "f": "nemesis", "fault": "kill-leader", "phase": "end", "time": 9000}

Checkers ignore records whose f they do not judge; only the lease checker reads nemesis windows.

Reference events (the store's full event list, used by the watch and revision checkers) use the
watch_event shape without "process"; see checkers.py.
"""

import json
from dataclasses import dataclass, field, asdict
from typing import Any, Iterable, List, Optional

REGISTER_FS = ("read", "write", "cas", "delete")
SET_FS = ("add", "read_all")
WATCH_FS = ("watch_start", "watch_event", "watch_compacted", "watch_end")
LEASE_FS = ("lease_grant", "lease_put", "lease_keepalive", "lease_read", "lease_revoke")
LEASE_MODES = ("keep", "abandon")
NEMESIS_PHASES = ("start", "end")
OUTCOMES = ("ok", "fail", "info")


@dataclass
class Op:
    """One record of a history (operation or watch record); unused fields stay None."""
    process: int
    f: str
    key: Optional[str] = None
    value: Any = None
    expected: Any = None
    succeeded: Optional[bool] = None
    values: Optional[List[Any]] = None
    invoke: Optional[int] = None
    complete: Optional[int] = None
    outcome: Optional[str] = None
    revision: Optional[int] = None
    range_end: Optional[str] = None
    event: Optional[str] = None
    time: Optional[int] = None
    lease: Optional[int] = None
    ttl: Optional[int] = None
    mode: Optional[str] = None
    fault: Optional[str] = None
    phase: Optional[str] = None
    error: Optional[str] = None
    index: int = field(default=-1, compare=False)  # position in the history, set on load

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "index"}
        # Keep "value": null for reads and events (null is meaningful: key absent / delete).
        keep = {"process", "f"}
        if self.f in ("read", "watch_event", "cas", "write", "lease_read"):
            keep.add("value")
        if self.f == "cas":
            keep.add("expected")
        if self.f in REGISTER_FS or self.f in SET_FS or self.f in LEASE_FS:
            keep.update({"invoke", "complete", "outcome"})
        return {k: v for k, v in d.items() if v is not None or k in keep}

    def describe(self) -> str:
        """A one-line human description, used in checker reports."""
        if self.f in WATCH_FS:
            return (f"watcher {self.process} {self.f} key={self.key!r} event={self.event} "
                    f"value={self.value!r} rev={self.revision}")
        if self.f == "nemesis":
            return f"nemesis {self.fault} {self.phase} at {self.time}"
        parts = [f"p{self.process} {self.f}"]
        if self.lease is not None:
            parts.append(f"lease={self.lease}")
        if self.mode is not None:
            parts.append(f"mode={self.mode}")
        if self.ttl is not None:
            parts.append(f"ttl={self.ttl}")
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        if self.f == "cas":
            parts.append(f"{self.expected!r}->{self.value!r}")
            if self.succeeded is False:
                parts.append("(compare failed)")
        elif self.f == "read_all":
            parts.append(f"values={len(self.values or [])} elements")
        elif self.f not in ("delete", "lease_grant", "lease_keepalive", "lease_revoke"):
            parts.append(f"value={self.value!r}")
        parts.append(f"[{self.invoke}, {self.complete if self.complete is not None else 'inf'}]")
        parts.append(self.outcome or "?")
        if self.revision is not None:
            parts.append(f"rev={self.revision}")
        return " ".join(parts)


class HistoryError(ValueError):
    """A record that does not follow the format."""


def validate(op: Op) -> None:
    """Raises HistoryError if op is not a well-formed record."""
    where = f"record {op.index}: "
    if not isinstance(op.process, int):
        raise HistoryError(where + "process must be an integer")
    if op.f in REGISTER_FS or op.f in SET_FS or op.f in LEASE_FS:
        if op.outcome not in OUTCOMES:
            raise HistoryError(where + f"outcome must be one of {OUTCOMES}")
        if op.invoke is None:
            raise HistoryError(where + "invoke time missing")
        if op.outcome != "info" and op.complete is None:
            raise HistoryError(where + "complete time missing for a completed operation")
        if op.complete is not None and op.complete < op.invoke:
            raise HistoryError(where + "complete before invoke")
        if op.key is None and op.f not in LEASE_FS:
            raise HistoryError(where + "key missing")
        if op.f in ("lease_put", "lease_read") and op.key is None:
            raise HistoryError(where + "key missing")
        if op.f == "lease_grant":
            if op.mode not in LEASE_MODES:
                raise HistoryError(where + f"mode must be one of {LEASE_MODES}")
            if op.outcome == "ok" and (op.lease is None or op.ttl is None):
                raise HistoryError(where + "lease_grant ok without lease and ttl")
        elif op.f in LEASE_FS and op.lease is None:
            raise HistoryError(where + "lease missing")
        if op.f == "lease_keepalive" and op.outcome == "ok" and op.ttl is None:
            raise HistoryError(where + "lease_keepalive ok without ttl")
        if op.f == "read_all" and op.outcome == "ok" and op.values is None:
            raise HistoryError(where + "read_all ok without values")
    elif op.f in WATCH_FS:
        if op.f != "watch_end" and op.f != "watch_compacted" and op.key is None:
            raise HistoryError(where + "key missing")
        if op.revision is None:
            raise HistoryError(where + "revision missing")
        if op.f == "watch_event" and op.event not in ("put", "delete"):
            raise HistoryError(where + "event must be put or delete")
    elif op.f == "nemesis":
        if not op.fault:
            raise HistoryError(where + "fault missing")
        if op.phase not in NEMESIS_PHASES:
            raise HistoryError(where + f"phase must be one of {NEMESIS_PHASES}")
        if op.time is None:
            raise HistoryError(where + "time missing")
    else:
        raise HistoryError(where + f"unknown f {op.f!r}")


def from_dict(d: dict, index: int = -1) -> Op:
    known = set(Op.__dataclass_fields__) - {"index"}
    unknown = set(d) - known
    if unknown:
        raise HistoryError(f"record {index}: unknown fields {sorted(unknown)}")
    if "process" not in d or "f" not in d:
        raise HistoryError(f"record {index}: process and f are required")
    op = Op(**d)
    op.index = index
    validate(op)
    return op


def parse_lines(lines: Iterable[str]) -> List[Op]:
    ops = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryError(f"record {len(ops)}: not JSON: {e}") from e
        ops.append(from_dict(d, len(ops)))
    return ops


def load(path: str) -> List[Op]:
    with open(path, encoding="utf-8") as f:
        return parse_lines(f)


def dumps(ops: Iterable[Op]) -> str:
    return "".join(json.dumps(op.to_dict(), sort_keys=True) + "\n" for op in ops)


def dump(ops: Iterable[Op], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(ops))


def indexed(ops: Iterable[Op]) -> List[Op]:
    """Returns ops as a list with index set to each record's position (for built histories)."""
    out = list(ops)
    for i, op in enumerate(out):
        op.index = i
    return out


class Recorder:
    """Append-only writer a driver uses while it runs: one line per finished record, flushed, so
    a crash of the driver still leaves a readable history."""

    def __init__(self, path: str):
        self._f = open(path, "a", encoding="utf-8")

    def record(self, op: Op) -> None:
        self._f.write(json.dumps(op.to_dict(), sort_keys=True) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()
