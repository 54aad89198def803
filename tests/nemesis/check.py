#!/usr/bin/env python3
"""Runs every checker on a saved history (to replay the verdicts of a failed nemesis run).

    python3 tests/nemesis/check.py HISTORY.jsonl [--reference EVENTS.jsonl]
        [--current-revision N] [--events-from N] [--unique-values] [--timeout S]
        [--final FINAL.jsonl] [--election-timeout S] [--lease-slack S] [-v]

HISTORY: records as in history.py. EVENTS: the store's reference events, one JSON object per
line with key, event, value, revision (see checkers.py). FINAL: the final range, one JSON object
per line with key, value, mod_revision (outpost-nemesis-client --final). Prints one verdict per checker with
explanations; exits 0 when all are ok, 1 on any violation, else 2 (some unknown).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkers  # noqa: E402
import history  # noqa: E402
import linearizability  # noqa: E402


def run_checkers(ops, reference=None, kvs=None, current_revision=None, timeout_s=60.0,
                 lease_slack_s=2.0, election_timeout_s=1.0, events_from=2,
                 unique_values=True) -> dict:
    """Every checker on one history: {name: (verdict, explanation)}. The watch, final-range and
    revision checks need the reference events (and the final range / current revision)."""
    verdicts = {}
    lin = linearizability.check(ops, timeout_s=timeout_s)
    verdicts["registers"] = (lin.verdict, lin.explain())
    for name, v in (("set", checkers.check_set(ops)),
                    ("revision order", checkers.check_revision_order(ops)),
                    ("leases", checkers.check_leases(ops, lease_slack_s, election_timeout_s))):
        verdicts[name] = (v.verdict, v.explain())
    if reference:
        v = checkers.check_watches(ops, reference)
        verdicts["watches"] = (v.verdict, v.explain())
        if kvs is not None:
            v = checkers.check_final_range(reference, kvs)
            verdicts["final range"] = (v.verdict, v.explain())
        if current_revision is not None:
            v = checkers.check_revisions(reference, current_revision, events_from, ops,
                                         unique_values)
            verdicts["revisions"] = (v.verdict, v.explain())
    return verdicts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("history")
    ap.add_argument("--reference", help="reference events (JSON lines)")
    ap.add_argument("--current-revision", type=int, help="the store's final revision")
    ap.add_argument("--events-from", type=int, default=2,
                    help="first revision the reference is complete from (default 2)")
    ap.add_argument("--unique-values", action="store_true",
                    help="each value was written once (enables the double-apply check)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="linearizability search budget in seconds (default 60)")
    ap.add_argument("--final", help="the final range (JSON lines), checked against --reference")
    ap.add_argument("--election-timeout", type=float, default=1.0,
                    help="the cluster's election timeout in seconds (default 1.0; lease check)")
    ap.add_argument("--lease-slack", type=float, default=2.0,
                    help="extra seconds an abandoned lease may live (default 2.0)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every checker's statistics, not only failures")
    args = ap.parse_args()

    ops = history.load(args.history)
    reference = kvs = None
    if args.reference:
        with open(args.reference, encoding="utf-8") as f:
            reference = [json.loads(line) for line in f if line.strip()]
    if args.final:
        with open(args.final, encoding="utf-8") as f:
            kvs = [json.loads(line) for line in f if line.strip()]
    verdicts = run_checkers(ops, reference, kvs, args.current_revision, args.timeout,
                            args.lease_slack, args.election_timeout, args.events_from,
                            args.unique_values)
    for name, (verdict, text) in verdicts.items():
        print(f"== {name}: {verdict}")
        if verdict != linearizability.OK or args.verbose:
            print(text)
    found = {verdict for verdict, _ in verdicts.values()}
    if linearizability.VIOLATION in found:
        return 1
    return 2 if linearizability.UNKNOWN in found else 0


if __name__ == "__main__":
    sys.exit(main())
