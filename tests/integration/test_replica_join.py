#!/usr/bin/env python3
"""Self-join (issue 11, `--replica-join URL,URL`): a replica with a bad peer URL leaves no member
behind; a good one serves within the join timeout. Outpost only.

3 voters (heartbeat 100 ms, election 1000 ms) holding a few keys. Each replica is started with
`--replica-join` (the voters' client URLs, a follower first), `--replica-join-timeout-s` and no
`--initial-cluster*` flags, and no `member add` beforehand.

unreachable_peer_url_adds_nothing
    The replica advertises a peer URL nobody listens on (join timeout 5 s): the leader's dial
    fails, so MemberAdd is refused; the member list (polled all along) never shows a fourth
    member; the process exits non-zero within join timeout + 15 s, and a join-failure line of
    its output names the cause (the peer URL, and that it cannot be reached).
silent_peer_url_leaves_no_member_behind
    The replica advertises a peer URL where a silent TCP listener accepts and never answers
    (join timeout 5 s): whether or not it was added for a while, once the process has exited
    (non-zero, within join timeout + 15 s, naming the cause) the member list is the three voters
    again, and writes still succeed; a join-failure line names the cause (the peer URL, or the
    join timeout / not caught up).
good_replica_serves_within_the_join_timeout
    A replica with its real peer URL (join timeout 20 s) answers a serializable get of the keys
    written before it joined within the timeout; `member list` (through a voter) shows it as a
    learner under its name with its peer URL; its GET /replica says role "learner"; a key put
    afterwards on a voter reaches it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "replica: self-join")
    check, eq, require = runner.check, runner.eq, runner.require
    if not ru.outpost_only(args, runner):
        return runner.main()

    def silent_listener() -> tuple[socket.socket, int]:
        """A TCP listener that accepts and reads everything, never answering."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)

        def loop() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return

                def drain(conn=conn) -> None:
                    try:
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                threading.Thread(target=drain, daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()
        return srv, srv.getsockname()[1]

    def ids(c: harness.Cluster, via: harness.Member) -> list:
        ml = c.member_list(via)
        return sorted((x.name, x.id, x.is_learner) for x in ml) if ml is not None else None

    def bad_join(c: harness.Cluster, name: str, peer_url: str, what: str,
                 names: list, alt: list = ()) -> int:
        """A line naming the cause holds every one of `names` and one of `alt` (lower case)."""
        alt = list(alt)
        leader, _, _ = c.wait_leader(c.voters(), timeout=15)
        follower = next(m for m in c.voters() if m is not leader)
        before = ids(c, leader)
        require(before is not None and len(before) == 3, "member list: 3 voters", quiet=True)
        join_timeout = 5
        m = ru.JoiningMember(args, c, name, [follower.client_url, leader.client_url],
                             extra_flags=[f"--replica-join-timeout-s={join_timeout}"])
        m.advertised_peer_url = peer_url
        started = time.monotonic()
        m.start(wait=False)
        most = len(before)
        while m.running() and time.monotonic() - started < join_timeout + 15:
            now = ids(c, leader)
            if now is not None:
                most = max(most, len(now))
            time.sleep(0.1)
        took = time.monotonic() - started
        exited = not m.running()
        if not exited:
            m.kill9()
        rc = m.proc.returncode
        check(exited and rc not in (0, None), f"{what}: the replica exits non-zero within the "
              f"join timeout + 15 s (exit status {rc} after {took:.1f} s)", m.log_tail(15))
        lines = [ln for ln in m.log_text().splitlines() if "join" in ln.lower() and
                 any(w in ln.lower() for w in ("fail", "cannot", "refus", "error"))]
        check(any(all(n in ln for n in names) and (not alt or any(a in ln.lower() for a in alt))
                  for ln in lines),
              f"{what}: a join-failure line names the cause ({' '.join(names + alt)})",
              "\n".join(lines[-5:]) or m.log_tail(15))
        after = ids(c, leader)
        eq(after, before, f"{what}: member list unchanged afterwards (no member left behind)")
        return most

    @runner.test
    def unreachable_peer_url_adds_nothing():
        c = ru.fast_cluster(args, "ju")
        c.start()
        c.wait_leader(timeout=15)
        dead = harness.free_port()
        url = f"http://127.0.0.1:{dead}"
        most = bad_join(c, "ju4", url, "unreachable peer URL", [url],
                        ["unreachable", "cannot be reached", "cannot connect", "refused"])
        eq(most, 3, "unreachable peer URL: no fourth member ever listed (the leader dials "
           "before adding)")
        c.stop()

    @runner.test
    def silent_peer_url_leaves_no_member_behind():
        c = ru.fast_cluster(args, "js")
        c.start()
        c.wait_leader(timeout=15)
        srv, port = silent_listener()
        try:
            url = f"http://127.0.0.1:{port}"
            most = bad_join(c, "js4", url, "silent peer URL", [],
                            [url, "join_timeout", "join-timeout", "timed out", "not caught up"])
            print(f"  (a fourth member was {'listed for a while' if most > 3 else 'never listed'})")
        finally:
            srv.close()
        r = c.voters()[0].ctl("put", "js-after", "x")
        eq((r.rc, r.stdout), (0, "OK\n"), "writes still succeed", r.describe())
        c.stop()

    @runner.test
    def good_replica_serves_within_the_join_timeout():
        c = ru.fast_cluster(args, "jg")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        for i in range(20):
            r = leader.ctl("put", f"jg/{i}", f"v{i}")
            require(r.ok, f"put jg/{i}", r.describe(), quiet=True)
        follower = next(m for m in c.voters() if m is not leader)
        join_timeout = 20
        m = ru.JoiningMember(args, c, "jg4", [follower.client_url, leader.client_url],
                             extra_flags=[f"--replica-join-timeout-s={join_timeout}"])
        started = time.monotonic()
        m.start(wait=False)
        got: dict = {}

        def serves() -> bool:
            if not m.running():
                raise RuntimeError(f"the joining replica exited ({m.proc.returncode})\n"
                                   f"{m.log_tail(20)}")
            g = m.ctl("get", "jg/19", "--consistency=s", "--print-value-only", timeout=5,
                      command_timeout="1s")
            got["r"] = g
            return g.ok and g.stdout == "v19\n"
        try:
            harness.wait_for(serves, join_timeout, 0.1, "the replica to serve jg/19")
            check(True, f"the self-joined replica serves the data within the join timeout "
                  f"({time.monotonic() - started:.1f} s)")
        except (TimeoutError, RuntimeError) as e:
            require(False, "the self-joined replica serves the data within the join timeout",
                    f"{e}\n{got['r'].describe() if 'r' in got else ''}\n{m.log_tail(20)}")
        c.members.append(m)
        ml = c.member_list(leader)
        row = next((x for x in ml or [] if x.name == "jg4"), None)
        eq(row and (row.is_learner, row.peer_urls), (True, [m.advertised_peer_url]),
           "member list: jg4 is a learner with its peer URL", str(ml))
        st = ru.replica_status(m) or {}
        eq(st.get("role"), "learner", "GET /replica on it: role learner", str(st))
        r = leader.ctl("put", "jg/after", "late")
        require(r.ok, "put jg/after", r.describe(), quiet=True)
        try:
            harness.wait_for(lambda: m.ctl("get", "jg/after", "--consistency=s",
                                           "--print-value-only").stdout == "late\n", 10, 0.1)
            check(True, "a later put on a voter reaches the replica")
        except TimeoutError:
            check(False, "a later put on a voter reaches the replica")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
