#!/usr/bin/env python3
"""Self-test of the integration suite: it passes against real etcd and fails against wrong servers.

1. Every test_*.py run with --server etcd (real etcd standing in for outpost) must pass; the
   differential test then compares etcd with etcd, so its diff must be empty.
2. Each test is run against deliberately wrong stand-ins (small shell wrappers around real etcd,
   passed as --server outpost --outpost WRAPPER) and must FAIL, with the expected complaint:
     etcd-fewer-txn-ops  etcd with --max-txn-ops=127: a 128-op txn is refused
                         -> test_differential must show a diff
     etcd-extra-write    writes one extra key right after start: every later revision is one off
                         -> test_differential must show a diff (revisions are not masked)
     etcd-amnesia        wipes its data dir whenever it starts
                         -> test_basic (restart) and test_crash (kill -9) must fail
     etcd-lax-flags      exits 0 on --bogus, exits 1 without a message on --config
                         -> test_bad_input must fail
Usage: selftest.py [--raw-grpc PATH] [--etcd PATH] [--etcdctl PATH]
Exit status 0 when every expectation held.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

STANDINS = {
    "etcd-fewer-txn-ops": 'exec "$ETCD" "$@" --max-txn-ops=127\n',
    "etcd-extra-write": r'''
for a in "$@"; do case "$a" in --listen-client-urls=*) url="${a#--listen-client-urls=}";; esac; done
(
  i=0
  while [ $i -lt 400 ]; do
    ETCDCTL_API=3 "$ETCDCTL" --endpoints="$url" --command-timeout=1s put standin-extra x \
      >/dev/null 2>&1 && exit 0
    i=$((i + 1)); sleep 0.05
  done
) </dev/null >/dev/null 2>&1 &
exec "$ETCD" "$@"
''',
    "etcd-amnesia": r'''
for a in "$@"; do case "$a" in --data-dir=*) dir="${a#--data-dir=}";; esac; done
[ -n "$dir" ] && rm -rf "$dir"
exec "$ETCD" "$@"
''',
    "etcd-lax-flags": r'''
case "$1" in
  --bogus) echo "fine"; exit 0;;
  --config) exit 1;;
esac
exec "$ETCD" "$@"
''',
}

# (test, stand-in, text that must appear in the output)
MUST_FAIL = [
    ("test_differential.py", "etcd-fewer-txn-ops", "too many operations in txn request"),
    ("test_differential.py", "etcd-extra-write", "FAIL transcripts identical after masking"),
    ("test_basic.py", "etcd-amnesia", "FAIL revision kept over restart"),
    ("test_crash.py", "etcd-amnesia", "acknowledged keys present"),
    ("test_bad_input.py", "etcd-lax-flags", "FAIL outpost --bogus exits 2"),
]

TESTS = ["test_basic.py", "test_differential.py", "test_crash.py", "test_bad_input.py"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--raw-grpc", dest="raw_grpc", default=os.environ.get("OUTPOST_RAW_GRPC", ""))
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    args = p.parse_args()
    common = ["--etcd", args.etcd, "--etcdctl", args.etcdctl]
    if args.raw_grpc:
        common += ["--raw-grpc", args.raw_grpc]

    tmp = tempfile.mkdtemp(prefix="outpost-integ-selftest-")
    for name, body in STANDINS.items():
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(f'#!/bin/sh\n# Deliberately wrong stand-in for outpost (selftest.py).\n'
                    f'ETCD="{args.etcd}"\nETCDCTL="{args.etcdctl}"\n{body}')
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)

    failures = []
    runs = [0]

    def run(test: str, extra: list[str]) -> tuple[int, str]:
        started = time.monotonic()
        runs[0] += 1
        workdir = os.path.join(tmp, f"run{runs[0]}-{test[:-3]}")
        proc = subprocess.run([sys.executable, os.path.join(HERE, test), "--workdir", workdir]
                              + common + extra,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        out = proc.stdout.decode(errors="replace")
        summary = [line for line in out.splitlines() if " passed, " in line]
        last = summary[-1] if summary else (out.strip().splitlines() or [""])[-1]
        print(f"  {test} {' '.join(extra)} -> exit {proc.returncode} "
              f"({time.monotonic() - started:.0f}s): {last}")
        return proc.returncode, out

    print("== against real etcd: every test must pass")
    for test in TESTS:
        rc, out = run(test, ["--server", "etcd"])
        if rc != 0:
            failures.append(f"{test} failed against real etcd")
            print(out)
    print("== against wrong stand-ins: every test must fail, for the right reason")
    for test, standin, needle in MUST_FAIL:
        rc, out = run(test, ["--server", "outpost", "--outpost", os.path.join(tmp, standin)])
        if rc == 0:
            failures.append(f"{test} passed against {standin}")
        elif needle not in out:
            failures.append(f"{test} failed against {standin} but without {needle!r}")
            print(out[-4000:])
    if failures:
        print(f"work dirs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("SELFTEST FAILURE:", f)
    print(f"{len(TESTS) + len(MUST_FAIL) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
