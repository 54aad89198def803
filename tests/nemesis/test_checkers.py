#!/usr/bin/env python3
"""Unit tests of the nemesis checkers on known-good and known-bad histories (plain unittest).

Run: python3 tests/nemesis/test_checkers.py   (CTest: nemesis.checkers, label unit)
"""

import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkers  # noqa: E402
import history  # noqa: E402
import linearizability as lin  # noqa: E402
from history import Op  # noqa: E402


def w(p, key, value, t0, t1, outcome="ok", rev=None):
    return Op(process=p, f="write", key=key, value=value, invoke=t0,
              complete=None if outcome == "info" and t1 is None else t1, outcome=outcome,
              revision=rev)


def r(p, key, value, t0, t1, outcome="ok"):
    return Op(process=p, f="read", key=key, value=value, invoke=t0, complete=t1, outcome=outcome)


def cas(p, key, expected, value, t0, t1, outcome="ok", succeeded=None):
    return Op(process=p, f="cas", key=key, expected=expected, value=value, invoke=t0,
              complete=t1, outcome=outcome, succeeded=succeeded)


def check(ops, **kw):
    return lin.check(history.indexed(ops), **kw)


class RegisterTest(unittest.TestCase):
    def test_sequential_ok(self):
        res = check([w(0, "x", "a", 0, 1), r(0, "x", "a", 2, 3), w(0, "x", "b", 4, 5),
                     r(1, "x", "b", 6, 7)])
        self.assertEqual(res.verdict, lin.OK)

    def test_read_of_absent_key_initially(self):
        self.assertEqual(check([r(0, "x", None, 0, 1), w(1, "x", "a", 2, 3)]).verdict, lin.OK)

    def test_stale_read_after_completed_write_is_violation(self):
        res = check([w(0, "x", "a", 0, 1), w(0, "x", "b", 2, 3), r(1, "x", "a", 4, 5)])
        self.assertEqual(res.verdict, lin.VIOLATION)
        kr = res.keys["x"]
        self.assertEqual([op.value for op in kr.prefix], ["a", "b"])
        self.assertEqual(kr.state_after_prefix, "b")
        self.assertEqual([op.f for op in kr.unplaced], ["read"])
        self.assertIn("NOT linearizable", res.explain())

    def test_concurrent_write_and_read_either_order(self):
        for seen in (None, "a"):
            res = check([w(0, "x", "a", 0, 10), r(1, "x", seen, 2, 8)])
            self.assertEqual(res.verdict, lin.OK, seen)

    def test_read_of_value_never_written_is_violation(self):
        res = check([w(0, "x", "a", 0, 1), r(1, "x", "zz", 2, 3)])
        self.assertEqual(res.verdict, lin.VIOLATION)

    def test_cas_chain_ok(self):
        res = check([w(0, "x", 0, 0, 1), cas(1, "x", 0, 1, 2, 5), cas(2, "x", 1, 2, 3, 8),
                     cas(0, "x", 2, 3, 9, 10), r(1, "x", 3, 11, 12)])
        self.assertEqual(res.verdict, lin.OK)

    def test_cas_chain_two_winners_is_violation(self):
        # Both cas 0->1 and 0->2 succeeded: only one can have seen 0.
        res = check([w(0, "x", 0, 0, 1), cas(1, "x", 0, 1, 2, 5), cas(2, "x", 0, 2, 3, 6)])
        self.assertEqual(res.verdict, lin.VIOLATION)

    def test_failed_compare_observation(self):
        # cas recorded as ok with succeeded false: value was not 0 at that point.
        good = [w(0, "x", 0, 0, 1), w(1, "x", 5, 2, 3),
                cas(2, "x", 0, 9, 4, 5, succeeded=False)]
        self.assertEqual(check(good).verdict, lin.OK)
        bad = [w(0, "x", 0, 0, 1), cas(2, "x", 0, 9, 4, 5, succeeded=False)]
        self.assertEqual(check(bad).verdict, lin.VIOLATION)
        # Recorded as fail instead: dropped.
        dropped = [w(0, "x", 0, 0, 1), cas(2, "x", 0, 9, 4, 5, outcome="fail")]
        self.assertEqual(check(dropped).verdict, lin.OK)

    def test_info_write_taking_effect_later_ok(self):
        # The write timed out at 2, yet a read long after sees it.
        res = check([w(0, "x", "a", 0, 1), w(1, "x", "b", 1, None, outcome="info"),
                     r(2, "x", "a", 10, 11), r(2, "x", "b", 50, 51)])
        self.assertEqual(res.verdict, lin.OK)

    def test_info_write_never_happening_ok(self):
        res = check([w(0, "x", "a", 0, 1), w(1, "x", "b", 2, 3, outcome="info"),
                     r(2, "x", "a", 10, 11), r(2, "x", "a", 20, 21)])
        self.assertEqual(res.verdict, lin.OK)

    def test_info_write_seen_by_read_ok(self):
        # An info write whose value a read sees: it happened (before the read).
        res = check([w(1, "x", "b", 2, 3, outcome="info"), r(2, "x", "b", 10, 11)])
        self.assertEqual(res.verdict, lin.OK)

    def test_info_write_cannot_happen_before_its_invoke(self):
        res = check([r(2, "x", "b", 0, 1), w(1, "x", "b", 2, None, outcome="info")])
        self.assertEqual(res.verdict, lin.VIOLATION)

    def test_info_write_cannot_flip_back(self):
        # a, then info b, read b, read a: only one write of a, already before b.
        res = check([w(0, "x", "a", 0, 1), w(1, "x", "b", 2, None, outcome="info"),
                     r(2, "x", "b", 10, 11), r(2, "x", "a", 20, 21)])
        self.assertEqual(res.verdict, lin.VIOLATION)

    def test_info_read_dropped(self):
        res = check([w(0, "x", "a", 0, 1), r(1, "x", "garbage", 2, None, outcome="info")])
        self.assertEqual(res.verdict, lin.OK)

    def test_structured_values(self):
        res = check([w(0, "x", {"a": [1, 2]}, 0, 1), r(1, "x", {"a": [1, 2]}, 2, 3),
                     w(1, "x", [3], 4, None, "info")])
        self.assertEqual(res.verdict, lin.OK)

    def test_keys_checked_independently(self):
        res = check([w(0, "x", "a", 0, 1), w(0, "y", "b", 2, 3), r(1, "x", "a", 4, 5),
                     r(1, "y", "a", 6, 7)])
        self.assertEqual(res.verdict, lin.VIOLATION)
        self.assertEqual(res.keys["x"].verdict, lin.OK)
        self.assertEqual(res.keys["y"].verdict, lin.VIOLATION)

    def test_budget_gives_unknown_never_ok(self):
        ops = generate(random.Random(1), processes=5, ops_per_process=200, keys=1)
        res = check(ops, max_steps=10)
        self.assertEqual(res.verdict, lin.UNKNOWN)

    def test_history_round_trip(self):
        ops = history.indexed([w(0, "x", "a", 0, 1, rev=2), w(1, "x", "b", 2, None, "info"),
                               cas(2, "x", None, "c", 3, 4, succeeded=False),
                               r(0, "x", None, 5, 6)])
        back = history.parse_lines(history.dumps(ops).splitlines())
        self.assertEqual(back, ops)
        with self.assertRaises(history.HistoryError):
            history.parse_lines(['{"process": 1, "f": "read", "key": "x", "outcome": "ok"}'])


def generate(rng, processes, ops_per_process, keys, info_rate=0.02):
    """A linearizable history: each op takes effect at a random point inside its interval, ops
    applied to a register in that order. Processes are sequential; values unique."""
    pending = []  # (lin point, op)
    for p in range(processes):
        t = rng.randint(0, 10)
        for i in range(ops_per_process):
            start = t + rng.randint(1, 20)
            end = start + rng.randint(1, 60)
            point = rng.uniform(start, end)
            key = f"k{rng.randrange(keys)}"
            kind = rng.choice(("read", "read", "write", "cas"))
            op = Op(process=p, f=kind, key=key, invoke=start, complete=end, outcome="ok")
            if kind != "read":
                op.value = f"{p}-{i}"
            pending.append((point, op))
            t = end
    state = {}
    recent = {}
    for point, op in sorted(pending, key=lambda x: x[0]):
        cur = state.get(op.key)
        if op.f == "read":
            op.value = cur
        elif op.f == "write":
            state[op.key] = op.value
        else:
            op.expected = cur if rng.random() < 0.6 else recent.get(op.key)
            if op.expected == cur:
                state[op.key] = op.value
            else:
                op.succeeded = False
        recent[op.key] = cur
        if op.f != "read" and rng.random() < info_rate:
            op.outcome = "info"
            op.complete = None
    ops = [op for _, op in pending]
    ops.sort(key=lambda op: op.invoke)
    return history.indexed(ops)


class RegisterPerformanceTest(unittest.TestCase):
    def test_five_processes_2000_ops_three_keys(self):
        ops = generate(random.Random(15), processes=5, ops_per_process=2000, keys=3)
        t0 = time.monotonic()
        res = check(ops, timeout_s=60)
        elapsed = time.monotonic() - t0
        self.assertEqual(res.verdict, lin.OK, res.explain())
        self.assertLess(elapsed, 10.0)

    def test_stale_read_in_large_history_with_timeouts(self):
        ops = generate(random.Random(7), processes=5, ops_per_process=2000, keys=3,
                       info_rate=0.1)
        reads = [op for op in ops if op.f == "read" and op.outcome == "ok"
                 and op.value is not None]
        victim = reads[len(reads) // 2]
        older = [op for op in ops if op.f == "write" and op.key == victim.key
                 and op.outcome == "ok" and op.complete < victim.invoke - 200]
        victim.value = older[-5].value
        t0 = time.monotonic()
        res = check(ops, timeout_s=60)
        self.assertEqual(res.verdict, lin.VIOLATION)
        self.assertIn(victim, res.keys[victim.key].unplaced)
        self.assertLess(time.monotonic() - t0, 10.0)

    def test_pruning_keeps_verdicts(self):
        # prune_unobserved must change no verdict: compare with the unpruned search on small
        # histories full of timeouts, both linearizable and corrupted.
        for seed in range(40):
            rng = random.Random(1000 + seed)
            ops = generate(rng, processes=3, ops_per_process=12, keys=1, info_rate=0.4)
            if seed % 2:
                reads = [op for op in ops if op.f == "read" and op.outcome == "ok"]
                writes = [op.value for op in ops if op.f == "write"]
                if reads and writes:
                    rng.choice(reads).value = rng.choice(writes)
            pruned = check(ops, timeout_s=30).verdict
            full = check(ops, timeout_s=30, prune=False).verdict
            self.assertEqual(pruned, full, seed)
            self.assertNotEqual(full, lin.UNKNOWN, seed)

    def test_random_histories_ok_and_corrupted(self):
        for seed in range(20):
            rng = random.Random(seed)
            ops = generate(rng, processes=4, ops_per_process=60, keys=2)
            self.assertEqual(check(ops, timeout_s=30).verdict, lin.OK, seed)
            # A read of a value nobody wrote is always a violation.
            reads = [op for op in ops if op.f == "read" and op.outcome == "ok"]
            rng.choice(reads).value = "never-written"
            self.assertEqual(check(ops, timeout_s=30).verdict, lin.VIOLATION, seed)


def add(p, key, value, t0, t1, outcome="ok"):
    return Op(process=p, f="add", key=key, value=value, invoke=t0, complete=t1, outcome=outcome)


def read_all(p, key, values, t0, t1):
    return Op(process=p, f="read_all", key=key, values=values, invoke=t0, complete=t1,
              outcome="ok")


class SetTest(unittest.TestCase):
    def test_all_present_ok(self):
        h = history.indexed([add(0, "s", 1, 0, 1), add(1, "s", 2, 0, 2),
                             add(2, "s", 3, 0, None, "info"), add(2, "s", 4, 3, 4, "fail"),
                             read_all(0, "s", [1, 2], 10, 11)])
        v = checkers.check_set(h)
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        self.assertEqual(v.stats["acknowledged"], 2)

    def test_info_add_present_ok(self):
        h = history.indexed([add(0, "s", 1, 0, None, "info"), read_all(0, "s", [1], 10, 11)])
        v = checkers.check_set(h)
        self.assertEqual(v.verdict, checkers.OK)
        self.assertEqual(v.stats["indeterminate_present"], 1)

    def test_lost_acknowledged_add_is_violation(self):
        h = history.indexed([add(0, "s", 1, 0, 1), add(1, "s", 2, 0, 2),
                             read_all(0, "s", [2], 10, 11)])
        v = checkers.check_set(h)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("lost", v.explain())

    def test_duplicate_and_unknown_elements_are_violations(self):
        h = history.indexed([add(0, "s", 1, 0, 1), read_all(0, "s", [1, 1, 7], 10, 11)])
        v = checkers.check_set(h)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertEqual(len(v.problems), 2)

    def test_failed_add_present_is_violation(self):
        h = history.indexed([add(0, "s", 1, 0, 1, "fail"), read_all(0, "s", [1], 10, 11)])
        self.assertEqual(checkers.check_set(h).verdict, checkers.VIOLATION)

    def test_element_vanishing_in_an_intermediate_read_is_violation(self):
        h = history.indexed([add(0, "s", 1, 0, 1), read_all(1, "s", [], 5, 6),
                             read_all(0, "s", [1], 10, 11)])
        self.assertEqual(checkers.check_set(h).verdict, checkers.VIOLATION)

    def test_no_final_read_is_unknown(self):
        h = history.indexed([add(0, "s", 1, 0, 1)])
        self.assertEqual(checkers.check_set(h).verdict, checkers.UNKNOWN)


def ev(key, event, value, rev):
    return {"key": key, "event": event, "value": value, "revision": rev}


REFERENCE = [ev("a", "put", "1", 2), ev("b", "put", "1", 3), ev("a", "put", "2", 4),
             ev("a", "delete", None, 5), ev("a", "put", "3", 6), ev("b", "put", "2", 6)]


def wstart(wid, key, range_end, rev):
    return Op(process=wid, f="watch_start", key=key, range_end=range_end, revision=rev)


def wev(wid, e):
    return Op(process=wid, f="watch_event", key=e["key"], event=e["event"], value=e["value"],
              revision=e["revision"])


class WatchTest(unittest.TestCase):
    def all_events(self, wid=1):
        return [wstart(wid, "", "\0", 1)] + [wev(wid, e) for e in REFERENCE]

    def test_complete_watch_ok(self):
        v = checkers.check_watches(history.indexed(self.all_events()), REFERENCE)
        self.assertEqual(v.verdict, checkers.OK, v.explain())

    def test_single_key_watch_with_restart_ok(self):
        h = [wstart(2, "a", None, 3), wev(2, REFERENCE[2]), wstart(2, "a", None, 5),
             wev(2, REFERENCE[3]), wev(2, REFERENCE[4]),
             Op(process=2, f="watch_end", revision=6)]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.OK, v.explain())

    def test_duplicate_event_is_violation(self):
        h = self.all_events()
        h.insert(3, wev(1, REFERENCE[1]))
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("twice", v.explain())

    def test_gap_is_violation(self):
        h = self.all_events()
        del h[3]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("missed event at revision 4", v.explain())

    def test_gap_at_end_before_watch_end_is_violation(self):
        h = self.all_events()[:-2] + [Op(process=1, f="watch_end", revision=6)]
        self.assertEqual(checkers.check_watches(history.indexed(h), REFERENCE).verdict,
                         checkers.VIOLATION)

    def test_out_of_order_is_violation(self):
        h = self.all_events()
        h[2], h[3] = h[3], h[2]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("out of order", v.explain())

    def test_gap_below_reported_compaction_ok(self):
        h = [wstart(1, "", "\0", 1), wev(1, REFERENCE[0]),
             Op(process=1, f="watch_compacted", revision=5), wstart(1, "", "\0", 5)] + \
            [wev(1, e) for e in REFERENCE[3:]]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.OK, v.explain())

    def test_event_after_the_reference_ends_ok(self):
        # seen in a nemesis run: a lease expired after the final revision was read; its delete
        # reached the watchers, not the reference (which ends at the final revision)
        later = {"key": "l/1", "event": "delete", "value": None,
                 "revision": REFERENCE[-1]["revision"] + 1}
        h = self.all_events() + [wev(1, later)]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        self.assertEqual(v.stats["beyond_reference"], 1)

    def test_unknown_event_inside_the_reference_is_violation(self):
        ghost = {"key": "zz", "event": "put", "value": "x", "revision": 3}
        h = self.all_events()
        h.insert(3, wev(1, ghost))
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("not in the store's history", v.explain())

    def test_wrong_value_or_out_of_range_is_violation(self):
        bad = dict(REFERENCE[0], value="other")
        h = [wstart(1, "a", None, 2), wev(1, bad), wev(1, REFERENCE[1])]
        v = checkers.check_watches(history.indexed(h), REFERENCE)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertEqual(len(v.problems), 2)


class RevisionTest(unittest.TestCase):
    def test_ok(self):
        hist = history.indexed([w(0, "a", "2", 0, 1, rev=4), w(0, "b", "2", 2, 3, rev=6)])
        v = checkers.check_revisions(REFERENCE, 6, history=hist, unique_values=True)
        self.assertEqual(v.verdict, checkers.OK, v.explain())

    def test_revision_without_event_is_violation(self):
        v = checkers.check_revisions([e for e in REFERENCE if e["revision"] != 4], 6)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("revisions without any event: 4", v.explain())

    def test_event_twice_is_violation(self):
        v = checkers.check_revisions(REFERENCE + [REFERENCE[2]], 6)
        self.assertEqual(v.verdict, checkers.VIOLATION)

    def test_empty_revisions_after_leader_kill_is_violation(self):
        # Issue 15: revisions advancing with no key behind them.
        v = checkers.check_revisions(REFERENCE, 41)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("35 revisions without any event", v.explain())

    def test_acknowledged_write_mismatch_and_double_apply(self):
        hist = history.indexed([w(0, "a", "9", 0, 1, rev=4)])
        self.assertEqual(checkers.check_revisions(REFERENCE, 6, history=hist).verdict,
                         checkers.VIOLATION)
        twice = REFERENCE + [ev("b", "put", "1", 7)]
        self.assertEqual(checkers.check_revisions(twice, 7, unique_values=True).verdict,
                         checkers.VIOLATION)

    def test_revision_order(self):
        good = history.indexed([w(0, "a", "1", 0, 1, rev=2), r(1, "b", None, 2, 3),
                                w(2, "b", "1", 2, 9, rev=4), r(1, "a", "1", 4, 5)])
        good[1].revision, good[3].revision = 2, 3
        self.assertEqual(checkers.check_revision_order(good).verdict, checkers.OK)
        # A read on another key served at a revision older than a completed write: stale.
        stale = history.indexed([w(0, "a", "1", 0, 1, rev=5), r(1, "b", None, 2, 3)])
        stale[1].revision = 4
        v = checkers.check_revision_order(stale)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        # Two writes in real-time order with the same revision.
        same = history.indexed([w(0, "a", "1", 0, 1, rev=5), w(1, "b", "1", 2, 3, rev=5)])
        self.assertEqual(checkers.check_revision_order(same).verdict, checkers.VIOLATION)

    def test_final_range(self):
        good = [{"key": "a", "value": "3", "mod_revision": 6},
                {"key": "b", "value": "2", "mod_revision": 6}]
        self.assertEqual(checkers.check_final_range(REFERENCE, good).verdict, checkers.OK)
        self.assertEqual(checkers.check_final_range(REFERENCE, good[:1]).verdict,
                         checkers.VIOLATION)

S = 1_000_000_000  # nanoseconds per second


def lop(f, t0, t1, outcome="ok", lease=7, **kw):
    return Op(process=3000, f=f, lease=lease, invoke=t0, complete=t1, outcome=outcome, **kw)


def grant(mode, t0, t1, ttl=3, lease=7):
    return lop("lease_grant", t0, t1, lease=lease, ttl=ttl, mode=mode)


def lput(t0, t1, key="l/1", lease=7):
    return lop("lease_put", t0, t1, lease=lease, key=key, value="1")


def lread(t0, t1, value, key="l/1", lease=7):
    return lop("lease_read", t0, t1, lease=lease, key=key, value=value)


def keepalive(t0, t1, ttl=3, lease=7, outcome="ok"):
    return lop("lease_keepalive", t0, t1 if outcome != "info" else None, lease=lease,
               ttl=ttl if outcome == "ok" else None, outcome=outcome)


def nemesis(fault, phase, t):
    return Op(process=-1, f="nemesis", fault=fault, phase=phase, time=t)


class LeaseTest(unittest.TestCase):
    def leases(self, ops, **kw):
        return checkers.check_leases(history.indexed(ops), **kw)

    def kept(self):
        # Granted at 0 (ttl 3), key put at 0.1 s, keepalives at 1 and 2 s (alive until >= 5 s),
        # reads see the key, revoked at 4 s, a read after the revoke finds it gone.
        return [grant("keep", 0, S // 10), lput(S // 10, S // 5), lread(S // 2, S // 2 + 1, "1"),
                keepalive(1 * S, 1 * S + 5, ttl=3), lread(3 * S // 2, 3 * S // 2 + 1, "1"),
                keepalive(2 * S, 2 * S + 5, ttl=3), lread(3 * S, 3 * S + 1, "1"),
                lop("lease_revoke", 4 * S, 4 * S + 5), lread(5 * S, 5 * S + 1, None)]

    def test_kept_alive_ok(self):
        v = self.leases(self.kept())
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        self.assertEqual(v.stats["kept"], 1)

    def test_kept_lease_key_gone_early_is_violation(self):
        # Absent at 3.5 s although the keepalive invoked at 2 s renewed it for 3 s.
        ops = self.kept()[:7] + [lread(7 * S // 2, 7 * S // 2 + 1, None)]
        v = self.leases(ops)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("gone while the lease was alive", v.explain())

    def test_kept_lease_gone_after_keepalives_stopped_ok(self):
        # Keepalives failed (info) after 2 s: the lease may expire at 5 s; absent at 6 s is fine,
        # at 4.9 s it is not.
        base = self.kept()[:7] + [keepalive(3 * S, None, outcome="info")]
        self.assertEqual(self.leases(base + [lread(6 * S, 6 * S + 1, None)]).verdict,
                         checkers.OK)
        self.assertEqual(self.leases(base + [lread(49 * S // 10, 49 * S // 10 + 1,
                                                   None)]).verdict, checkers.VIOLATION)

    def test_keepalive_lease_not_found_is_violation(self):
        ops = self.kept()[:6] + [keepalive(3 * S, 3 * S + 5, ttl=0)]
        v = self.leases(ops)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("keepalive found no lease while it was alive", v.explain())
        # Once the protection ran out (last renewal at 2 s + 3 s), "not found" is allowed.
        late = self.kept()[:6] + [keepalive(6 * S, 6 * S + 5, ttl=0)]
        self.assertEqual(self.leases(late).verdict, checkers.OK)

    def test_absent_before_put_completed_is_not_judged(self):
        ops = [grant("keep", 0, 1), lput(2, S, "l/1"), lread(10, 20, None)]
        self.assertEqual(self.leases(ops).verdict, checkers.OK)

    def test_key_seen_after_acknowledged_revoke_is_violation(self):
        ops = self.kept()[:8] + [lread(5 * S, 5 * S + 1, "1")]
        self.assertEqual(self.leases(ops).verdict, checkers.VIOLATION)

    def abandoned(self, last_seen_s):
        # Granted (ttl 3) at 0..0.1 s, never kept alive; polled until absent.
        ops = [grant("abandon", 0, S // 10), lput(S // 10, S // 5)]
        t = S // 2
        while t < last_seen_s * S:
            ops.append(lread(t, t + 1000, "1"))
            t += S // 5
        ops.append(lread(t, t + 1000, None))
        return ops

    def test_abandoned_expires_in_time_ok(self):
        v = self.leases(self.abandoned(4.0), election_timeout_s=1.0, ttl_slack_s=1.0)
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        self.assertEqual(v.stats["abandoned"], 1)

    def test_abandoned_gone_before_ttl_is_violation(self):
        # Granted at 0 with ttl 3: the key cannot be gone at 2.5 s.
        ops = [grant("abandon", 0, S // 10), lput(S // 10, S // 5), lread(S // 2, S // 2 + 1, "1"),
               lread(5 * S // 2, 5 * S // 2 + 1, None)]
        v = self.leases(ops)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("gone while the lease was alive", v.explain())

    def test_abandoned_outliving_ttl_is_violation(self):
        v = self.leases(self.abandoned(8.0), election_timeout_s=1.0, ttl_slack_s=1.0)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        self.assertIn("still present", v.explain())

    def test_abandoned_outliving_ttl_during_fault_is_excused(self):
        ops = self.abandoned(8.0) + [nemesis("kill-leader", "start", 2 * S),
                                     nemesis("kill-leader", "end", 3 * S)]
        v = self.leases(ops, election_timeout_s=1.0, ttl_slack_s=1.0)
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        self.assertGreater(v.stats["excused"], 0)
        # A fault that ended before the grant excuses nothing.
        early = [nemesis("pause", "start", -3 * S), nemesis("pause", "end", -2 * S)]
        v = self.leases(self.abandoned(8.0) + early, election_timeout_s=1.0, ttl_slack_s=1.0)
        self.assertEqual(v.verdict, checkers.VIOLATION)
        # Windows from records kept apart from the history (the driver's, as dicts).
        v = self.leases(self.abandoned(8.0), election_timeout_s=1.0, ttl_slack_s=1.0,
                        nemesis_records=[{"process": -1, "f": "nemesis", "fault": "kill",
                                          "phase": "start", "time": S},
                                         {"process": -1, "f": "nemesis", "fault": "kill",
                                          "phase": "end", "time": 2 * S}])
        self.assertEqual(v.verdict, checkers.OK, v.explain())
        # Explicit windows instead of the history's.
        v = self.leases(self.abandoned(8.0), election_timeout_s=1.0, ttl_slack_s=1.0,
                        windows=[(S, 2 * S)])
        self.assertEqual(v.verdict, checkers.OK)

    def test_unfinished_fault_lasts_forever(self):
        self.assertEqual(checkers.nemesis_windows(history.indexed([nemesis("x", "start", 5)])),
                         [(5, float("inf"))])

    def test_other_checkers_skip_lease_and_nemesis_records(self):
        ops = history.indexed(self.kept() + [nemesis("kill", "start", 1), nemesis("kill", "end", 2),
                                             w(0, "x", "a", 0, 1, rev=2), r(1, "x", "a", 2, 3)])
        self.assertEqual(lin.check(ops).verdict, lin.OK)
        self.assertEqual(checkers.check_set(ops).verdict, checkers.OK)
        self.assertEqual(checkers.check_revision_order(ops).verdict, checkers.OK)
        self.assertEqual(checkers.check_watches(ops, []).verdict, checkers.OK)
        ref = [ev("x", "put", "a", 2)]
        self.assertEqual(checkers.check_revisions(ref, 2, 2, ops).verdict, checkers.OK)
        # And they round-trip through the file format.
        again = history.parse_lines(history.dumps(ops).splitlines())
        self.assertEqual([op.to_dict() for op in again], [op.to_dict() for op in ops])

    def test_validate_rejects_malformed_lease_records(self):
        for bad in ['{"process":1,"f":"lease_grant","invoke":1,"complete":2,"outcome":"ok",'
                    '"mode":"keep"}',  # ok without lease / ttl
                    '{"process":1,"f":"lease_grant","invoke":1,"complete":2,"outcome":"fail",'
                    '"mode":"sometimes"}',
                    '{"process":1,"f":"lease_read","lease":1,"invoke":1,"complete":2,'
                    '"outcome":"ok","value":null}',  # no key
                    '{"process":1,"f":"lease_keepalive","lease":1,"invoke":1,"complete":2,'
                    '"outcome":"ok"}',  # no ttl
                    '{"process":-1,"f":"nemesis","fault":"kill","phase":"middle","time":1}']:
            with self.assertRaises(history.HistoryError, msg=bad):
                history.parse_lines([bad])


class SetEventTest(unittest.TestCase):
    def test_add_found_by_element_under_its_own_key(self):
        # The client puts s/<elem> = "<elem>" and records the add under the set's key.
        ref = [ev("s/5", "put", "5", 2), ev("s/6", "put", "6", 3)]
        hist = history.indexed([add(0, "set", 5, 0, 1), add(0, "set", 6, 2, 3)])
        hist[0].revision, hist[1].revision = 2, 3
        self.assertEqual(checkers.check_revisions(ref, 3, 2, hist).verdict, checkers.OK)
        hist[1].revision = 2  # acknowledged at a revision where another element was put
        self.assertEqual(checkers.check_revisions(ref, 3, 2, hist).verdict, checkers.VIOLATION)


class CommandLineTest(unittest.TestCase):
    def run_check(self, ops):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "history.jsonl")
            history.dump(history.indexed(ops), path)
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.py")
            return subprocess.run([sys.executable, script, path], capture_output=True,
                                  text=True, timeout=60)

    def test_exit_codes(self):
        good = self.run_check([w(0, "x", "a", 0, 1), r(1, "x", "a", 2, 3)])
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        bad = self.run_check([w(0, "x", "a", 0, 1), r(1, "x", "b", 2, 3)])
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("NOT linearizable", bad.stdout)


if __name__ == "__main__":
    unittest.main()
