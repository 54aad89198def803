#!/usr/bin/env python3
"""procrun: run the processes of a Procfile in the foreground, goreman-style.

Each line of output is prefixed with the process name; Ctrl-C (or SIGTERM) stops every process
(SIGTERM, then SIGKILL after a grace period). If one process exits, the others are stopped too.
Usage: procrun.py [Procfile] [--then COMMAND]
  (paths in the Procfile are relative to the repository root)
--then runs COMMAND once beside the processes and prints its output as it is (not prefixed); its
exit stops nothing (scripts/run-local.sh prints the endpoints with it once the cluster serves).
"""
import os
import re
import signal
import subprocess
import sys
import threading

COLORS = ["\033[32m", "\033[36m", "\033[33m", "\033[35m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


def parse(path):
    procs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
            if not m:
                sys.exit(f"procrun: {path}:{n}: expected 'name: command'")
            procs.append((m.group(1), m.group(2)))
    return procs


def main():
    argv = sys.argv[1:]
    then = ""
    if "--then" in argv:
        i = argv.index("--then")
        if i + 1 >= len(argv):
            sys.exit("procrun: --then needs a command")
        then = argv[i + 1]
        del argv[i:i + 2]
    procfile = argv[0] if argv else "deploy/Procfile"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = parse(procfile)
    width = max(len(n) for n, _ in procs)
    color = sys.stdout.isatty()
    lock = threading.Lock()
    children = []
    done = threading.Event()

    def pump(name, idx, p):
        prefix = f"{name:<{width}} | "
        if color:
            prefix = COLORS[idx % len(COLORS)] + prefix + RESET
        for raw in iter(p.stdout.readline, b""):
            with lock:
                sys.stdout.write(prefix + raw.decode(errors="replace"))
                sys.stdout.flush()
        p.wait()
        with lock:
            sys.stdout.write(f"{name:<{width}} | exited with code {p.returncode}\n")
            sys.stdout.flush()
        done.set()

    for idx, (name, cmd) in enumerate(procs):
        p = subprocess.Popen(cmd, shell=True, cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        children.append(p)
        threading.Thread(target=pump, args=(name, idx, p), daemon=True).start()

    if then:
        def announce():
            p = subprocess.Popen(then, shell=True, cwd=root, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            children.append(p)
            out = p.communicate()[0]
            with lock:
                sys.stdout.write(out.decode(errors="replace"))
                sys.stdout.flush()
        threading.Thread(target=announce, daemon=True).start()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    done.wait()
    for p in children:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in children:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


if __name__ == "__main__":
    main()
