"""Linearizability checker for a key-value register history (read / write / cas / delete).

Written by hand (no linearizability checker is packaged for Python here), after Wing & Gong's
search, Lowe's "just-in-time linearization" and Porcupine's implementation of both:

* The history is partitioned by key; a KV store is linearizable iff each key's sub-history is
  (registers on different keys compose: linearizability is local). Each key is checked alone.
* A key's operations become a list of call and return entries ordered by time (a call before a
  return at the same instant, so touching operations count as concurrent). The search walks the
  list: at a call entry it tries to linearize that operation now (the model accepts it from the
  current state); if so the operation's call and return are lifted out of the list and the search
  restarts at the head. Reaching a return entry means an operation finished without being
  linearized: backtrack by undoing the last linearized operation and trying the next candidate.
  The key is linearizable when the list empties; not when backtracking finds the stack empty.
* Memoisation: a (set of linearized operations as a bitset, model state) pair already explored is
  never explored again; this makes typical histories (low concurrency) near-linear.
* Indeterminate operations (outcome "info") are Porcupine's / Knossos' way: their return is at
  infinity, so they may take effect at any point after their invoke, or never (taking effect
  after every other operation is indistinguishable from never). An info read returned nothing
  and is dropped; outcome "fail" operations definitely did not happen and are dropped.
* Unobserved indeterminate mutations are pruned before the search (prune_unobserved below): an
  info write, delete or cas whose value no read returned and no cas expected can be left out,
  which keeps a history with many timeouts from making the search exponential.
* A budget (steps and seconds) bounds the search; exceeding it gives "unknown", never "ok".

The model: the register's value, None when the key is absent (the initial state).
  write v        -> value becomes v
  delete         -> value becomes None
  read v         -> allowed iff value == v
  cas e->v ok    -> allowed iff value == e; value becomes v   (succeeded true, the default)
  cas e->v ok, succeeded false -> allowed iff value != e; no change
  cas e->v info  -> always allowed: if value == e it becomes v, else no change
"""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from history import Op

OK = "ok"
VIOLATION = "violation"
UNKNOWN = "unknown"

_INF = float("inf")


@dataclass
class KeyResult:
    key: str
    verdict: str
    operations: int = 0
    steps: int = 0
    # For a violation: the longest linearizable prefix found (ops in linearization order), the
    # register value after it, and the operations none of which could be placed next.
    prefix: List[Op] = field(default_factory=list)
    state_after_prefix: Any = None
    unplaced: List[Op] = field(default_factory=list)

    def explain(self, max_prefix: int = 10) -> str:
        if self.verdict == OK:
            return f"key {self.key!r}: linearizable ({self.operations} ops, {self.steps} steps)"
        if self.verdict == UNKNOWN:
            return (f"key {self.key!r}: unknown, search budget exhausted after {self.steps} steps "
                    f"({self.operations} ops)")
        lines = [f"key {self.key!r}: NOT linearizable ({self.operations} ops). "
                 f"Longest linearizable prefix: {len(self.prefix)} ops"
                 + (f", last {max_prefix}:" if len(self.prefix) > max_prefix else ":")]
        lines += ["    " + op.describe() for op in self.prefix[-max_prefix:]]
        lines.append(f"  value after the prefix: {self.state_after_prefix!r}; "
                     "none of these could come next:")
        lines += ["    " + op.describe() for op in self.unplaced]
        return "\n".join(lines)


@dataclass
class Result:
    verdict: str
    keys: Dict[str, KeyResult]

    def explain(self) -> str:
        return "\n".join(r.explain() for r in self.keys.values() if r.verdict != OK) or \
            f"linearizable ({len(self.keys)} keys)"


def _step(state: Any, op: Op) -> Tuple[bool, Any]:
    """The register model: (allowed, new state)."""
    f = op.f
    if f == "write":
        return True, op.value
    if f == "delete":
        return True, None
    if f == "read":
        return state == op.value, state
    if f == "cas":
        if op.outcome == "info":
            return True, (op.value if state == op.expected else state)
        if op.succeeded is False:
            return state != op.expected, state
        if state == op.expected:
            return True, op.value
        return False, state
    raise ValueError(f"not a register operation: {op.f}")


def relevant(op: Op) -> bool:
    """Whether op takes part in the register check."""
    if op.f not in ("read", "write", "cas", "delete"):
        return False
    if op.outcome == "fail":
        return False
    if op.outcome == "info" and op.f == "read":
        return False
    return True


def prune_unobserved(ops: Sequence[Op]) -> List[Op]:
    """Drops the info mutations of one key's operations that nothing observed.

    An info write / delete / cas X (value v) is dropped when (1) no ok read returned v, (2) no cas
    compared against v, and (3) no ok cas with succeeded false completed after X's invoke.
    Sound and complete: dropping X never turns a violation into "ok", because X may always be
    linearized last (its return is at infinity), which is the same as dropping it. And it never
    turns "ok" into a violation: take a linearization containing X and remove X; between X and
    the next write or delete the register held v; by (1)-(3) no read, successful cas or failed
    compare was placed in that window (each would have needed v, or not v with (3) excluded);
    an info cas placed there was a no-op (its expected is not v by (2)) and moves to the end.
    So the rest still linearizes with the register holding the previous value in that window.
    """
    read_values = set()
    expected_values = set()
    failed_compare_completions = []
    for op in ops:
        if op.f == "read" and op.outcome == "ok":
            read_values.add(_hashable(op.value))
        elif op.f == "cas":
            expected_values.add(_hashable(op.expected))
            if op.outcome == "ok" and op.succeeded is False:
                failed_compare_completions.append(op.complete)
    latest_failed_compare = max(failed_compare_completions, default=-_INF)
    kept = []
    for op in ops:
        if op.outcome == "info" and op.f in ("write", "delete", "cas"):
            v = _hashable(None if op.f == "delete" else op.value)
            if v not in read_values and v not in expected_values and \
                    latest_failed_compare < op.invoke:
                continue
        kept.append(op)
    return kept


def _hashable(v: Any) -> Any:
    """A hashable stand-in for a value read from JSON (lists and objects become canonical
    JSON text), for the memo and value sets; equal values give equal stand-ins."""
    if isinstance(v, (str, int, float, bool, type(None))):
        return v
    return "\0json:" + json.dumps(v, sort_keys=True)


class _Entry:
    __slots__ = ("op", "id", "is_call", "time", "match", "prev", "next")

    def __init__(self, op, op_id, is_call, t):
        self.op = op
        self.id = op_id
        self.is_call = is_call
        self.time = t
        self.match = None
        self.prev = None
        self.next = None


def _build_list(ops: Sequence[Op]) -> _Entry:
    """Returns the head sentinel of the doubly-linked entry list."""
    entries = []
    for i, op in enumerate(ops):
        call = _Entry(op, i, True, op.invoke)
        ret_time = _INF if op.outcome == "info" else op.complete
        ret = _Entry(op, i, False, ret_time)
        call.match = ret
        entries.append(call)
        entries.append(ret)
    # Calls before returns at equal times; stable by op id otherwise.
    entries.sort(key=lambda e: (e.time, 0 if e.is_call else 1, e.id))
    head = _Entry(None, -1, False, -_INF)
    prev = head
    for e in entries:
        prev.next = e
        e.prev = prev
        prev = e
    return head


def _lift(call: _Entry) -> None:
    call.prev.next = call.next
    if call.next is not None:
        call.next.prev = call.prev
    ret = call.match
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(call: _Entry) -> None:
    ret = call.match
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    call.prev.next = call
    if call.next is not None:
        call.next.prev = call


class _Budget:
    def __init__(self, max_steps: Optional[int], deadline: Optional[float]):
        self.max_steps = max_steps
        self.deadline = deadline
        self.steps = 0

    def exhausted(self) -> bool:
        if self.max_steps is not None and self.steps >= self.max_steps:
            return True
        if self.deadline is not None and self.steps % 4096 == 0 and \
                time.monotonic() > self.deadline:
            return True
        return False


def check_key(key: str, ops: Sequence[Op], initial: Any = None,
              budget: Optional[_Budget] = None) -> KeyResult:
    """Checks one key's operations (already filtered by relevant())."""
    budget = budget or _Budget(None, None)
    result = KeyResult(key=key, verdict=OK, operations=len(ops))
    if not ops:
        return result
    head = _build_list(ops)
    state = initial
    linearized = 0
    cache = set()
    calls: List[Tuple[_Entry, Any]] = []  # (call entry, state before it)
    best_len = -1
    best_prefix: List[int] = []
    best_state = initial
    start_steps = budget.steps
    entry = head.next
    while head.next is not None:
        budget.steps += 1
        if budget.exhausted():
            result.verdict = UNKNOWN
            result.steps = budget.steps - start_steps
            return result
        if entry.is_call:
            allowed, new_state = _step(state, entry.op)
            if allowed:
                new_linearized = linearized | (1 << entry.id)
                memo = (new_linearized, _hashable(new_state))
                if memo not in cache:
                    cache.add(memo)
                    calls.append((entry, state))
                    state = new_state
                    linearized = new_linearized
                    _lift(entry)
                    if len(calls) > best_len:
                        best_len = len(calls)
                        best_prefix = [c.id for c, _ in calls]
                        best_state = state
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # An operation returned without being linearized: undo the last choice.
            if not calls:
                result.verdict = VIOLATION
                break
            top, state = calls.pop()
            linearized &= ~(1 << top.id)
            _unlift(top)
            entry = top.next
    result.steps = budget.steps - start_steps
    if result.verdict == VIOLATION:
        _explain(result, ops, best_prefix, best_state)
    return result


def _explain(result: KeyResult, ops: Sequence[Op], prefix_ids: List[int], state: Any) -> None:
    """The frontier after the longest prefix: every operation not in it that was invoked before
    the earliest return among the operations not in it. One of them had to come next; none can."""
    placed = set(prefix_ids)
    result.prefix = [ops[i] for i in prefix_ids]
    result.state_after_prefix = state
    rest = [op for i, op in enumerate(ops) if i not in placed]
    if not rest:
        return
    earliest_return = min(_INF if op.outcome == "info" else op.complete for op in rest)
    result.unplaced = sorted((op for op in rest if op.invoke <= earliest_return),
                             key=lambda op: op.invoke)


def _is_failed_compare(op: Op) -> bool:
    return op.f == "cas" and op.outcome == "ok" and op.succeeded is False


def _check_key_two_pass(key: str, ops: Sequence[Op], initial: Any, budget: _Budget,
                        prune: bool) -> KeyResult:
    """Failed-compare observations (cas ok, succeeded false) only say "the value was not e"; with
    many info operations pending they make the search space explode. So a key that has some is
    first checked without them: dropping operations can only make a history easier to
    linearize, so a violation then is a violation of the whole. Otherwise the whole is checked."""
    if not any(_is_failed_compare(op) for op in ops):
        return check_key(key, ops, initial, budget)
    weaker = [op for op in ops if not _is_failed_compare(op)]
    if prune:
        weaker = prune_unobserved(weaker)
    first = check_key(key, weaker, initial, budget)
    if first.verdict != OK:
        first.operations = len(ops)
        return first
    return check_key(key, ops, initial, budget)


def check(history: Sequence[Op], initial: Optional[Dict[str, Any]] = None,
          max_steps: Optional[int] = None, timeout_s: Optional[float] = None,
          prune: bool = True) -> Result:
    """Checks the register operations of a history, key by key.

    initial: a key's value before the history (default: absent, None).
    max_steps / timeout_s: the budget for the whole history; when exhausted, the key being
    checked and all the keys after it are "unknown" (never "ok").
    prune: drop unobserved info mutations first (prune_unobserved; same verdict, faster).
    """
    initial = initial or {}
    by_key: Dict[str, List[Op]] = {}
    for op in history:
        if relevant(op):
            by_key.setdefault(op.key, []).append(op)
    deadline = time.monotonic() + timeout_s if timeout_s is not None else None
    budget = _Budget(max_steps, deadline)
    results: Dict[str, KeyResult] = {}
    for key in sorted(by_key):
        ops = prune_unobserved(by_key[key]) if prune else by_key[key]
        if budget.max_steps is not None and budget.steps >= budget.max_steps or \
                deadline is not None and time.monotonic() > deadline:
            results[key] = KeyResult(key=key, verdict=UNKNOWN, operations=len(ops))
            continue
        results[key] = _check_key_two_pass(key, ops, initial.get(key), budget, prune)
    verdicts = {r.verdict for r in results.values()}
    if VIOLATION in verdicts:
        verdict = VIOLATION
    elif UNKNOWN in verdicts:
        verdict = UNKNOWN
    else:
        verdict = OK
    return Result(verdict=verdict, keys=results)
