"""Checkers for the set, watch and revision workloads of the nemesis harness (pure functions over
histories; see history.py for the format). Written by hand with the standard library only.

Each checker returns a Verdict: "ok", "violation" (with one message per problem found) or
"unknown" (the history lacks what the check needs, e.g. no final read).

Reference events: the store's complete event list, as dicts or Ops with key, event ("put" or
"delete"), value (None for delete) and revision (the event's mod_revision). The driver obtains it
after the run, before any compaction, by a watch from revision 1 over the whole keyspace (etcd
serves it from its history), and checks it against the final full range with
check_final_range(), so that the reference itself is tied to the store's final state.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from history import Op

OK = "ok"
VIOLATION = "violation"
UNKNOWN = "unknown"


@dataclass
class Verdict:
    verdict: str
    problems: List[str] = field(default_factory=list)
    stats: Dict[str, int] = field(default_factory=dict)

    def explain(self) -> str:
        head = f"{self.verdict}" + (f" {self.stats}" if self.stats else "")
        return "\n".join([head] + ["  " + p for p in self.problems])


def _verdict(problems: List[str], stats: Dict[str, int], unknown: bool = False) -> Verdict:
    if problems:
        return Verdict(VIOLATION, problems, stats)
    return Verdict(UNKNOWN if unknown else OK, problems, stats)


def _field(ev: Any, name: str) -> Any:
    return ev.get(name) if isinstance(ev, dict) else getattr(ev, name)


# ---------------------------------------------------------------------------------------------
# (b) set / append


def check_set(history: Sequence[Op]) -> Verdict:
    """Per set (key): the final read is the last ok read_all of that key.

    * every acknowledged (ok) add is in the final read exactly once (else: lost / duplicated);
    * an info add may be present (once) or absent;
    * a fail add (definitely not applied) must be absent;
    * nothing is present that was never attempted;
    * every ok read_all (final or not) holds each ok add that completed before it was invoked:
      an acknowledged element never disappears, even for a while.
    Unknown when a set has adds but no ok read_all.
    """
    problems: List[str] = []
    stats = {"acknowledged": 0, "indeterminate": 0, "indeterminate_present": 0, "failed": 0}
    unknown = False
    keys = sorted({op.key for op in history if op.f in ("add", "read_all")})
    for key in keys:
        adds = [op for op in history if op.f == "add" and op.key == key]
        reads = [op for op in history if op.f == "read_all" and op.key == key
                 and op.outcome == "ok"]
        by_value: Dict[Any, List[Op]] = {}
        for op in adds:
            by_value.setdefault(op.value, []).append(op)
        ok_adds = [op for op in adds if op.outcome == "ok"]
        stats["acknowledged"] += len(ok_adds)
        stats["indeterminate"] += sum(1 for op in adds if op.outcome == "info")
        stats["failed"] += sum(1 for op in adds if op.outcome == "fail")
        if not reads:
            if adds:
                unknown = True
            continue
        for read in reads:
            present = set(read.values)
            for op in ok_adds:
                if op.complete < read.invoke and op.value not in present:
                    problems.append(f"set {key!r}: acknowledged element {op.value!r} "
                                    f"missing from the read at {read.invoke} "
                                    f"(added by {op.describe()})")
        final = max(reads, key=lambda op: (op.complete, op.index))
        counts: Dict[Any, int] = {}
        for v in final.values:
            counts[v] = counts.get(v, 0) + 1
        for v, n in sorted(counts.items(), key=lambda kv: repr(kv[0])):
            attempts = by_value.get(v)
            if not attempts:
                problems.append(f"set {key!r}: final read holds {v!r}, never added")
                continue
            if n > len([a for a in attempts if a.outcome != "fail"]):
                problems.append(f"set {key!r}: {v!r} present {n} times in the final read")
            outcomes = {a.outcome for a in attempts}
            if outcomes == {"fail"}:
                problems.append(f"set {key!r}: {v!r} present but its add failed "
                                "(definitely not applied)")
            elif "ok" not in outcomes:
                stats["indeterminate_present"] += 1
        for op in ok_adds:
            if op.value not in counts:
                problems.append(f"set {key!r}: acknowledged element {op.value!r} lost "
                                f"(added by {op.describe()})")
    return _verdict(problems, stats, unknown)


# ---------------------------------------------------------------------------------------------
# (c) watches


def _in_range(key: str, start: str, range_end: Optional[str]) -> bool:
    if range_end is None:
        return key == start
    if range_end == "\0":
        return key >= start
    return start <= key < range_end


def _reference_index(reference: Iterable[Any]) -> Dict[Tuple[int, str], Any]:
    return {(_field(ev, "revision"), _field(ev, "key")): ev for ev in reference}


def check_watches(history: Sequence[Op], reference: Iterable[Any]) -> Verdict:
    """Each watcher (process of watch_* records, in history order):

    * sees every reference event in its range from its first start revision up to its due
      revision (its watch_end revision, else the last revision it received) exactly once;
    * in non-decreasing revision order (several events of one Txn share a revision);
    * each event equal to the reference (same key, type, value at that revision) and in range;
    * the only gaps allowed are below a compact revision reported to it (watch_compacted): the
      events between its position then and the compact revision.
    """
    ref = _reference_index(reference)
    # The reference ends at the final revision; a watcher may receive later events (a lease that
    # expires after the clients stopped) before its watch_end: nothing to compare them with.
    ref_end = max((rev for rev, _ in ref), default=0)
    problems: List[str] = []
    stats = {"watchers": 0, "events": 0, "beyond_reference": 0}
    watchers: Dict[int, List[Op]] = {}
    for op in history:
        if op.f in ("watch_start", "watch_event", "watch_compacted", "watch_end"):
            watchers.setdefault(op.process, []).append(op)
    for w, records in sorted(watchers.items()):
        stats["watchers"] += 1
        starts = [r for r in records if r.f == "watch_start"]
        if not starts:
            problems.append(f"watcher {w}: events without a watch_start")
            continue
        key, range_end = starts[0].key, starts[0].range_end
        first = starts[0].revision
        seen: Dict[Tuple[int, str], Op] = {}
        last_rev = first - 1
        allowed_gaps: List[Tuple[int, int]] = []  # [from, to) revisions that may be missing
        due = None
        for r in records:
            if r.f == "watch_compacted":
                allowed_gaps.append((last_rev + 1, r.revision))
            elif r.f == "watch_end":
                due = r.revision
            elif r.f == "watch_start":
                if (r.key, r.range_end) != (key, range_end):
                    problems.append(f"watcher {w}: restarted on another range")
            elif r.f == "watch_event":
                stats["events"] += 1
                ident = (r.revision, r.key)
                if ident in seen:
                    problems.append(f"watcher {w}: event seen twice: {r.describe()}")
                    continue
                seen[ident] = r
                if r.revision < last_rev:
                    problems.append(f"watcher {w}: out of order, revision {r.revision} after "
                                    f"{last_rev}: {r.describe()}")
                if r.revision < first:
                    problems.append(f"watcher {w}: event below its start revision {first}: "
                                    f"{r.describe()}")
                if not _in_range(r.key, key, range_end):
                    problems.append(f"watcher {w}: event outside its range: {r.describe()}")
                expected = ref.get(ident)
                if expected is None and r.revision > ref_end:
                    stats["beyond_reference"] += 1
                elif expected is None:
                    problems.append(f"watcher {w}: event not in the store's history: "
                                    f"{r.describe()}")
                elif (_field(expected, "event"), _field(expected, "value")) != (r.event, r.value):
                    problems.append(f"watcher {w}: event differs from the store's history "
                                    f"({_field(expected, 'event')} "
                                    f"{_field(expected, 'value')!r}): {r.describe()}")
                last_rev = max(last_rev, r.revision)
        if due is None:
            due = last_rev
        for (rev, k), ev in sorted(ref.items()):
            if rev < first or rev > due or not _in_range(k, key, range_end) or (rev, k) in seen:
                continue
            if any(lo <= rev < hi for lo, hi in allowed_gaps):
                continue
            problems.append(f"watcher {w}: missed event at revision {rev} on {k!r} "
                            f"({_field(ev, 'event')} {_field(ev, 'value')!r})")
    return _verdict(problems, stats)


# ---------------------------------------------------------------------------------------------
# (e) revisions


def check_revisions(reference: Iterable[Any], current_revision: int, events_from: int = 2,
                    history: Sequence[Op] = (), unique_values: bool = False) -> Verdict:
    """The store's event list against its revision counter and the clients' acknowledgements.

    * no event twice: a (revision, key) pair appears once;
    * no revision without an event: each revision in [events_from, current_revision] has at
      least one (revision 1 is the empty store's, so events_from defaults to 2; after a
      compaction at C, pass events_from = C + 1);
    * no event above current_revision;
    * every acknowledged mutation of the history (write / delete / succeeded cas / add with a
      known revision) has its event at that revision, with its value (an add: a put at that
      revision, of any key, whose value is the element or its decimal text);
    * unique_values (writes and adds write each value once): a put value appearing at two
      revisions of one key means a write applied twice.
    """
    problems: List[str] = []
    events = list(reference)
    seen: Dict[Tuple[int, str], Any] = {}
    revisions = set()
    for ev in events:
        ident = (_field(ev, "revision"), _field(ev, "key"))
        if ident in seen:
            problems.append(f"event twice: revision {ident[0]} key {ident[1]!r}")
        seen[ident] = ev
        revisions.add(ident[0])
        if ident[0] > current_revision:
            problems.append(f"event at revision {ident[0]} above the current revision "
                            f"{current_revision}")
    by_revision: Dict[int, List[Any]] = {}
    for ev in events:
        by_revision.setdefault(_field(ev, "revision"), []).append(ev)
    missing = [r for r in range(events_from, current_revision + 1) if r not in revisions]
    if missing:
        shown = ", ".join(str(r) for r in missing[:20]) + (" ..." if len(missing) > 20 else "")
        problems.append(f"{len(missing)} revisions without any event: {shown}")
    for op in history:
        if op.outcome != "ok" or op.revision is None:
            continue
        if op.f == "cas" and op.succeeded is False:
            continue
        if op.f not in ("write", "delete", "cas", "add"):
            continue
        if op.f == "add":
            # A set element lives under a key of its own (the client puts "s/<elem>" = the
            # element's text); its event is the put at that revision with the element as value.
            ev = next((e for e in by_revision.get(op.revision, [])
                       if _field(e, "event") == "put"
                       and _field(e, "value") in (op.value, str(op.value))), None)
            if ev is None and op.revision >= events_from:
                problems.append(f"acknowledged at revision {op.revision} but no put of "
                                f"{op.value!r} there: {op.describe()}")
            continue
        ev = seen.get((op.revision, op.key))
        if ev is None:
            if op.revision >= events_from:
                problems.append(f"acknowledged at revision {op.revision} but no event there: "
                                f"{op.describe()}")
            continue
        want = ("delete", None) if op.f == "delete" else ("put", op.value)
        if (_field(ev, "event"), _field(ev, "value")) != want:
            problems.append(f"event at revision {op.revision} is {_field(ev, 'event')} "
                            f"{_field(ev, 'value')!r}, not what was acknowledged: "
                            f"{op.describe()}")
    if unique_values:
        where: Dict[Tuple[str, Any], int] = {}
        for ev in events:
            if _field(ev, "event") != "put":
                continue
            k = (_field(ev, "key"), _field(ev, "value"))
            rev = _field(ev, "revision")
            if k in where and where[k] != rev:
                problems.append(f"value {k[1]!r} of {k[0]!r} put at revisions {where[k]} and "
                                f"{rev}: a write applied twice")
            where.setdefault(k, rev)
    return _verdict(problems, {"events": len(events), "revision": current_revision})


def check_final_range(reference: Iterable[Any], kvs: Iterable[Dict[str, Any]]) -> Verdict:
    """Ties the reference event list to the final full range (etcdctl get "" --prefix -w json,
    decoded: dicts with key, value, mod_revision): each key's last event must be a put of its
    value at its mod_revision; a key whose last event is a delete must be absent."""
    problems: List[str] = []
    last: Dict[str, Any] = {}
    for ev in sorted(reference, key=lambda e: _field(e, "revision")):
        last[_field(ev, "key")] = ev
    present = {}
    for kv in kvs:
        present[kv["key"]] = kv
        ev = last.get(kv["key"])
        if ev is None:
            problems.append(f"key {kv['key']!r} in the final range has no event")
        elif (_field(ev, "event"), _field(ev, "value"), _field(ev, "revision")) != \
                ("put", kv["value"], kv["mod_revision"]):
            problems.append(f"key {kv['key']!r}: final range has {kv['value']!r} at "
                            f"{kv['mod_revision']}, last event is {_field(ev, 'event')} "
                            f"{_field(ev, 'value')!r} at {_field(ev, 'revision')}")
    for k, ev in last.items():
        if _field(ev, "event") == "put" and k not in present:
            problems.append(f"key {k!r}: last event is a put at {_field(ev, 'revision')}, "
                            "but the key is absent from the final range")
    return _verdict(problems, {"keys": len(present)})


def check_revision_order(history: Sequence[Op]) -> Verdict:
    """Real-time order of the revisions the clients were told (all keys together).

    etcd's header revision is the store's revision when the request was served, and the store's
    revision only grows. So for ok operations A and B with known revisions, if A completed
    before B was invoked: rev(B) >= rev(A), and if B is a mutation (write, delete, succeeded cas,
    add) it created a new revision: rev(B) > rev(A). A read served by a member that lags (a
    stale read after a partition) shows up here even on a key nobody else reads.
    """
    problems: List[str] = []
    ops = [op for op in history if op.outcome == "ok" and op.revision is not None
           and op.f in ("read", "write", "delete", "cas", "add", "read_all")]
    by_complete = sorted(ops, key=lambda op: op.complete)
    best: Optional[Op] = None  # the completed op with the highest revision so far
    i = 0
    for op in sorted(ops, key=lambda op: op.invoke):
        while i < len(by_complete) and by_complete[i].complete < op.invoke:
            done = by_complete[i]
            if best is None or done.revision > best.revision:
                best = done
            i += 1
        if best is None:
            continue
        mutation = op.f in ("write", "delete", "add") or (op.f == "cas" and op.succeeded is not False)
        if op.revision < best.revision or (mutation and op.revision == best.revision):
            problems.append(f"revision {op.revision} of {op.describe()} is "
                            f"{'not above' if mutation else 'below'} revision {best.revision} "
                            f"of {best.describe()}, which completed before it began")
    return _verdict(problems, {"operations": len(ops)})


# ---------------------------------------------------------------------------------------------
# (d) leases

_INF = float("inf")


def nemesis_windows(history: Sequence[Any]) -> List[Tuple[float, float]]:
    """The [start, end] times of the faults the driver recorded (f = nemesis; Ops or dicts):
    each start is paired with the next end of the same fault; a start never ended lasts
    forever."""
    windows: List[Tuple[float, float]] = []
    open_: Dict[str, List[int]] = {}
    records = [op for op in history if _field(op, "f") == "nemesis"]
    for op in sorted(records, key=lambda op: _field(op, "time")):
        fault, t = _field(op, "fault"), _field(op, "time")
        if _field(op, "phase") == "start":
            open_.setdefault(fault, []).append(t)
        elif open_.get(fault):
            windows.append((open_[fault].pop(0), t))
    for starts in open_.values():
        windows.extend((t, _INF) for t in starts)
    return sorted(windows)


def check_leases(history: Sequence[Op], ttl_slack_s: float = 2.0, election_timeout_s: float = 1.0,
                 windows: Optional[Sequence[Tuple[float, float]]] = None,
                 nemesis_records: Sequence[Any] = ()) -> Verdict:
    """Lease records (history.py: lease_grant / lease_put / lease_keepalive / lease_read /
    lease_revoke), per lease id of an ok lease_grant. Times are the client's; the server renews
    a lease when a keepalive reaches the leader, which is after the keepalive's invoke.

    Every lease (kept or abandoned) is alive at least until
        P = max(grant.invoke + ttl, max over ok keepalives with ttl > 0 of invoke + ttl),
    unless revoked (R = the earliest invoke of a lease_revoke of it, any outcome). Violations:
    * an ok lease_read that found the key absent, invoked after an ok lease_put of the key
      completed, and completed before min(P, R) (the lease, hence the key, was still there);
    * an ok keepalive answering ttl <= 0 (lease not found) completed before min(P, R).
    Any lease: an ok lease_read invoked after an ok lease_revoke completed that still sees the key.

    Abandoned leases (mode "abandon", never kept alive): the key must be gone within
    ttl + election timeout (a new leader extends every lease by it) + ttl_slack_s after the grant
    completed. Violation: an ok lease_read invoked later than that which still sees the key,
    unless a fault window (windows; default: from the nemesis records of the history and of
    nemesis_records, dicts or Ops kept apart by a driver) overlaps
    [grant.invoke, read.complete]; those are counted as "excused".
    """
    if windows is None:
        windows = nemesis_windows(list(history) + list(nemesis_records))
    problems: List[str] = []
    stats = {"kept": 0, "abandoned": 0, "reads": 0, "keepalives": 0, "excused": 0}
    grants: Dict[int, Op] = {}
    by_lease: Dict[int, List[Op]] = {}
    for op in history:
        if op.f == "lease_grant" and op.outcome == "ok":
            grants[op.lease] = op
        elif op.f in ("lease_put", "lease_keepalive", "lease_read", "lease_revoke"):
            by_lease.setdefault(op.lease, []).append(op)
    for lease, grant in sorted(grants.items(), key=lambda kv: kv[1].invoke):
        ops = by_lease.get(lease, [])
        puts = [op for op in ops if op.f == "lease_put" and op.outcome == "ok"]
        keepalives = [op for op in ops if op.f == "lease_keepalive" and op.outcome == "ok"]
        reads = [op for op in ops if op.f == "lease_read" and op.outcome == "ok"]
        revokes = [op for op in ops if op.f == "lease_revoke"]
        stats["reads"] += len(reads)
        stats["keepalives"] += len(keepalives)
        revoke_invoke = min((op.invoke for op in revokes), default=_INF)
        for rv in revokes:
            if rv.outcome != "ok":
                continue
            for r in reads:
                if r.invoke > rv.complete and r.value is not None:
                    problems.append(f"lease {lease}: key {r.key!r} read after the revoke was "
                                    f"acknowledged: {r.describe()} (revoke: {rv.describe()})")
        # Both modes: alive at least until the grant's invoke + ttl, and each ok keepalive's.
        alive = [grant.invoke + grant.ttl * 1e9] + [
            ka.invoke + ka.ttl * 1e9 for ka in keepalives if ka.ttl > 0]
        until = min(max(alive), revoke_invoke)
        for r in reads:
            if r.value is not None or r.complete >= until:
                continue
            if not any(p.complete < r.invoke and p.key == r.key for p in puts):
                continue
            problems.append(f"lease {lease}: key {r.key!r} gone while the lease was alive "
                            f"(until {(until - grant.invoke) / 1e9:.2f} s after the grant's "
                            f"invoke, by {grant.describe()} and its keepalives): {r.describe()}")
        for ka in keepalives:
            if ka.ttl <= 0 and ka.complete < until:
                problems.append(f"lease {lease}: keepalive found no lease while it was alive "
                                f"(until {(until - grant.invoke) / 1e9:.2f} s after the grant's "
                                f"invoke): {ka.describe()}")
        if grant.mode == "keep":
            stats["kept"] += 1
        else:
            stats["abandoned"] += 1
            if keepalives:
                continue  # renewed after all: nothing to expect of its expiry
            due = grant.complete + (grant.ttl + election_timeout_s + ttl_slack_s) * 1e9
            for r in reads:
                if r.value is None or r.invoke <= due:
                    continue
                if any(lo <= r.complete and hi >= grant.invoke for lo, hi in windows):
                    stats["excused"] += 1
                    continue
                problems.append(f"lease {lease}: key {r.key!r} still present "
                                f"{(r.invoke - grant.complete) / 1e9:.2f} s after the grant of "
                                f"an abandoned lease (ttl {grant.ttl} s, due by "
                                f"{(due - grant.complete) / 1e9:.2f} s): {r.describe()}")
    return _verdict(problems, stats)
