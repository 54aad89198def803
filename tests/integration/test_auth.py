#!/usr/bin/env python3
"""Authentication and RBAC (issue 13): a differential etcdctl transcript against etcd, restarts,
a learner, and no clear password on disk or in logs.

identical_auth_transcripts
    One etcdctl session, run against real etcd 3.4.23 and against the server under test in the
    same run, must give identical transcripts after test_differential.py's masking: `user
    add/get/list/delete/passwd/grant-role/revoke-role`, `role add/get/list/delete/
    grant-permission (--prefix, --from-key)/revoke-permission`, `auth enable` without a root
    user, without the root role and with both, then get/put/del/txn/watch/lease revoke as users
    with and without permission (`--user name:pass`), no user, a wrong password, user management
    as a non-root user, root's protections, a changed password, a deleted role and user, `auth
    disable`.
identical_auth_transcripts_over_tls
    The same session with both servers serving https (the same server certificate, etcdctl with
    --cacert): identical transcripts.
client_certificate_names_the_user
    Both servers with --client-cert-auth and auth on: a call with no token is the user its client
    certificate's CN names (alice: may read a/, may not write), a token still wins over the CN,
    and a CN that is no user is refused; the same outcomes on etcd and on the server under test.
auth_survives_restart
    A member with auth enabled, users and roles is stopped and started on the same data dir: auth
    is still enabled (no user: refused), the users, roles and permissions are the same, old
    passwords still work (outpost only: the data dir and log hold no clear password).
learner_enforces_the_same_rules
    Outpost only. A 3-voter cluster plus a learner (--replica-read-policy=serializable
    --replica-writes=forward); auth set up and enabled through a voter. On the learner: a
    serializable get is refused without a user, refused for a user without read permission and
    served for one with it; a write forwarded for a user without write permission is refused by
    the leader with etcd's error and changes nothing; one with permission is applied; user
    management through the learner needs root. A replica that self-joins (--replica-join) without
    a user is refused with etcd's error and exits; with --replica-join-user root it joins and
    serves. No clear password in any member's data dir or log.
"""

from __future__ import annotations

import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import replica_util as ru  # noqa: E402
import tls_util  # noqa: E402
import test_differential as td  # noqa: E402
from test_differential import ctl, txn  # noqa: E402

ROOT = "--user=root:r00t-Secret"
ALICE = "--user=alice:alice-Secret"     # role reader: read a/ (prefix) and k1
ALICE2 = "--user=alice:alice-Secret2"   # alice after `user passwd`
BOB = "--user=bob:bob-Secret"           # role writer: readwrite a/ (prefix), write m.. (from-key)
PASSWORDS = ("r00t-Secret", "alice-Secret", "alice-Secret2", "bob-Secret")
ALL = ("", "--from-key")


def session() -> list[td.Step]:
    lease = ("lease1", r"^lease ([0-9a-f]+) granted", 16)
    return [
        # ---- management with auth disabled
        ctl("auth", "enable"),                                   # no root user
        ctl("user", "add", "root:r00t-Secret"),
        ctl("user", "get", "root"),
        ctl("role", "add", "reader"),
        ctl("role", "add", "writer"),
        ctl("role", "add", "reader"),                            # exists
        ctl("role", "grant-permission", "reader", "read", "a/", "--prefix"),
        ctl("role", "grant-permission", "reader", "read", "k1"),
        ctl("role", "grant-permission", "writer", "readwrite", "a/", "--prefix"),
        ctl("role", "grant-permission", "writer", "write", "m", "--from-key"),
        ctl("role", "grant-permission", "writer", "read", "w1", "w5"),
        ctl("role", "grant-permission", "nope", "read", "x"),    # no such role
        ctl("role", "get", "reader"),
        ctl("role", "get", "writer"),
        ctl("role", "get", "nope"),
        ctl("role", "list"),
        ctl("user", "add", "alice:alice-Secret"),
        ctl("user", "add", "bob:bob-Secret"),
        ctl("user", "add", "alice:other"),                       # exists
        ctl("user", "grant-role", "alice", "reader"),
        ctl("user", "grant-role", "bob", "writer"),
        ctl("user", "grant-role", "bob", "writer"),              # granted already
        ctl("user", "grant-role", "bob", "nope"),
        ctl("user", "grant-role", "nobody", "reader"),
        ctl("user", "get", "alice"),
        ctl("user", "get", "bob"),
        ctl("user", "get", "nobody"),
        ctl("user", "list"),
        ctl("role", "revoke-permission", "writer", "w1", "w5"),
        ctl("role", "revoke-permission", "writer", "zz"),        # not granted
        ctl("user", "revoke-role", "bob", "reader"),             # not granted
        ctl("user", "revoke-role", "nobody", "reader"),
        ctl("put", "a/1", "v1"),
        ctl("put", "k1", "kv"),
        ctl("put", "secret", "s"),
        # ---- auth on: root lacks the root role, so etcdctl creates it, grants it and enables
        # again (it reacts to "root user does not have root role")
        ctl("auth", "enable"),
        ctl(ROOT, "role", "get", "root"),
        ctl(ROOT, "user", "get", "root"),
        ctl("get", "a/1"),                                       # no user
        ctl("put", "a/1", "x"),
        ctl(ROOT, "get", "a/1"),
        ctl("--user=root:wrong", "get", "a/1"),
        ctl("--user=ghost:pw", "get", "a/1"),
        ctl(ALICE, "get", "a/1"),
        ctl(ALICE, "get", "a/", "--prefix"),
        ctl(ALICE, "get", "k1"),
        ctl(ALICE, "get", "secret"),
        ctl(ALICE, "get", *ALL),
        ctl(ALICE, "get", "a/1", "--consistency=s"),
        ctl(ALICE, "put", "a/2", "x"),                           # read only
        ctl(BOB, "put", "a/2", "x"),
        ctl(BOB, "put", "a/3", "y", "--prev-kv"),
        ctl(BOB, "put", "mango", "y"),                           # write from m on
        ctl(BOB, "get", "mango"),                                # no read there
        ctl(BOB, "put", "apple", "y"),
        ctl(BOB, "del", "a/3"),
        ctl(BOB, "del", "a/", "--prefix", "--prev-kv"),
        ctl(BOB, "del", "secret"),
        ctl(BOB, "put", "a/1", "v1"),
        txn('value("a/1") = "v1"\n\nput a/4 t\n\nget a/1\n\n', ALICE),
        txn('value("a/1") = "v1"\n\nput a/4 t\n\nget a/1\n\n', BOB),
        txn('value("secret") = "s"\n\nput a/5 t\n\n\n', BOB),    # compare needs read
        txn('value("a/1") = "v1"\n\nput zebra t\nget secret\n\n\n', BOB),
        txn('value("a/1") = "nope"\n\n\nget k1\n\n', ALICE),
        txn('\n\nget a/1\n\n\n', ALICE),                         # read-only txn
        ctl(ALICE, "watch", "secret"),                           # denied watch create
        ctl(BOB, "compaction", "3"),                             # etcd 3.4: no check
        ctl(ROOT, "lease", "grant", "300", capture=lease),
        ctl(ROOT, "put", "secret", "s2", "--lease={lease1:x}"),
        ctl(BOB, "lease", "revoke", "{lease1:x}"),               # secret on it: no write
        ctl(BOB, "put", "a/6", "z", "--lease={lease1:x}"),       # same
        ctl(ROOT, "lease", "revoke", "{lease1:x}"),
        ctl(ROOT, "get", "secret"),
        ctl(BOB, "endpoint", "hashkv"),                          # root only
        ctl(BOB, "member", "add", "extra", "--peer-urls=http://127.0.0.1:1"),  # root only
        ctl(BOB, "member", "remove", "1234"),
        ctl(BOB, "member", "promote", "1234"),
        ctl(ROOT, "member", "remove", "1234"),                   # allowed: no such member
        # ---- management as non-root, root's protections
        ctl(ALICE, "user", "list"),
        ctl(ALICE, "role", "list"),
        ctl(ALICE, "user", "add", "eve:pw"),
        ctl(ALICE, "user", "get", "alice"),                      # itself
        ctl(ALICE, "user", "get", "bob"),
        ctl(ALICE, "role", "get", "reader"),                     # a role it has
        ctl(ALICE, "role", "get", "writer"),
        ctl(ALICE, "auth", "disable"),
        ctl(ROOT, "user", "revoke-role", "root", "root"),
        ctl(ROOT, "role", "delete", "root"),
        ctl(ROOT, "user", "delete", "root"),
        ctl(ROOT, "user", "passwd", "alice", "--interactive=false", stdin="alice-Secret2\n",
            stdin_label="new password"),
        ctl(ALICE, "get", "a/1"),                                # old password
        ctl(ALICE2, "get", "a/1"),
        ctl(ROOT, "role", "delete", "reader"),
        ctl(ALICE2, "get", "a/1"),                               # role gone
        ctl(ROOT, "user", "get", "alice"),
        ctl(ROOT, "user", "delete", "bob"),
        ctl(BOB, "get", "a/1"),
        ctl(ROOT, "user", "delete", "bob"),
        ctl(ROOT, "role", "revoke-permission", "writer", "m", "--from-key"),
        ctl(ROOT, "role", "get", "writer"),
        ctl(ROOT, "user", "list"),
        ctl(ROOT, "role", "list"),
        ctl(ROOT, "auth", "disable"),
        ctl("get", "a/1"),
        ctl("user", "revoke-role", "root", "root"),
        ctl("user", "get", "root"),
        ctl("role", "delete", "root"),
        ctl("user", "delete", "root"),
        ctl("auth", "enable"),
        ctl("user", "list"),
        ctl("get", *ALL),
    ]


class AuthMember(harness.Member):
    """A single member whose readiness probe works with auth enabled (root's credentials)."""

    def _ready_probes(self):
        return [(ROOT, "endpoint", "health"), (ROOT, "get", "outpost-integ-ready-probe")]


def clear_passwords_in(paths: list[str]) -> list[str]:
    """Files among paths (recursively) holding any test password in clear."""
    found = []
    for top in paths:
        files = [top] if os.path.isfile(top) else glob.glob(os.path.join(top, "**", "*"),
                                                            recursive=True)
        for f in files:
            if not os.path.isfile(f):
                continue
            with open(f, "rb") as fh:
                data = fh.read()
            if any(p.encode() in data for p in PASSWORDS):
                found.append(f)
    return found


def setup_auth(m: harness.Member) -> list[str]:
    """root, alice (reader of a/), bob (writer of a/), auth enabled; returns failures."""
    bad = []
    for cmd in (("user", "add", "root:r00t-Secret"), ("role", "add", "root"),
                ("user", "grant-role", "root", "root"), ("role", "add", "reader"),
                ("role", "add", "writer"),
                ("role", "grant-permission", "reader", "read", "a/", "--prefix"),
                ("role", "grant-permission", "writer", "readwrite", "a/", "--prefix"),
                ("user", "add", "alice:alice-Secret"), ("user", "add", "bob:bob-Secret"),
                ("user", "grant-role", "alice", "reader"), ("user", "grant-role", "bob", "writer"),
                ("put", "a/1", "v1"), ("auth", "enable")):
        r = m.ctl(*cmd, command_timeout="10s")
        if not r.ok:
            bad.append(r.describe())
    return bad


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "auth: etcd vs " + args.server)
    check, eq, require = runner.check, runner.eq, runner.require

    made = []

    def the_pki() -> tls_util.Pki:
        if not made:
            made.append(tls_util.make_pki(os.path.join(args.workdir, "pki")))
        return made[0]

    def tls_member(name: str, kind: str, client_cert: str = "", more=()) -> "AuthMember":
        """A member serving https with the test PKI's server certificate; etcdctl trusts its CA
        (and presents the client certificate of CN client_cert, if given)."""
        pki = the_pki()
        m = AuthMember(args, name=name, kind=kind, extra_flags=[
            "--bcrypt-cost=4", f"--cert-file={pki.server_cert}", f"--key-file={pki.server_key}",
            *more])
        m.client_scheme = "https"
        m.ctl_flags = [f"--cacert={pki.ca}"]
        if client_cert:
            cert, key = pki.client(client_cert)
            m.ctl_flags += [f"--cert={cert}", f"--key={key}"]
        return m

    def compare_transcripts(tls: bool):
        steps = session()
        results = {}
        for side, kind in (("etcd", "etcd"), ("candidate", args.server)):
            member = (tls_member("t1", kind) if tls else
                      AuthMember(args, name="m1", kind=kind, extra_flags=["--bcrypt-cost=4"]))
            try:
                member.start()
                text, ctx = td.run_session(args, member, steps)
            finally:
                member.stop()
            masked = td.mask(text, ctx)
            path = os.path.join(args.workdir, f"auth{'.tls' if tls else ''}.{side}-{kind}.txt")
            with open(path, "w") as f:
                f.write(masked)
            print(f"  {side} ({kind}): transcript {path}")
            results[side] = (masked, path)
            if kind == "outpost":
                leaks = clear_passwords_in([member.data_dir, member.dir])
                check(not leaks, "no clear password in the data dir or the log", "\n".join(leaks))
        (ref, ref_path), (cand, cand_path) = results["etcd"], results["candidate"]
        import difflib
        diff = list(difflib.unified_diff(ref.splitlines(), cand.splitlines(), ref_path, cand_path,
                                         n=3, lineterm=""))
        check(not diff, f"auth transcripts identical after masking ({len(steps)} steps"
              f"{', over TLS' if tls else ''})", "\n".join(diff[:300]))
        for needle in ("etcdserver: root user does not exist",
                       "etcdserver: user name is empty", "etcdserver: permission denied",
                       "etcdserver: authentication failed, invalid user ID or password",
                       "etcdserver: invalid auth management", "Authentication Enabled",
                       "Password updated"):
            check(needle in ref, f"reference transcript contains {needle!r}")

    @runner.test
    def identical_auth_transcripts():
        compare_transcripts(tls=False)

    @runner.test
    def identical_auth_transcripts_over_tls():
        compare_transcripts(tls=True)

    @runner.test
    def client_certificate_names_the_user():
        outcomes = {}
        for kind in ("etcd", args.server):
            got = []
            ca = the_pki().ca
            m = tls_member("cn", kind, client_cert="alice",
                           more=[f"--trusted-ca-file={ca}", "--client-cert-auth"])
            try:
                m.start()
                bad = setup_auth(m)
                require(not bad, f"{kind}: auth set up", "\n".join(bad))
                def outcome(r) -> str:
                    # stdout and etcdctl's "Error: ..." line (its warning lines carry timestamps)
                    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
                    return f"exit {r.rc}: " + " | ".join([r.stdout.strip()] + errs)

                for cmd in (("get", "a/1"), ("put", "a/2", "x"), (BOB, "put", "a/2", "y"),
                            ("get", "a/2")):
                    got.append(f"{' '.join(cmd)} -> {outcome(m.ctl(*cmd))}")
                # A certificate whose CN is no user.
                cert, key = the_pki().client("mallory")
                r = harness.etcdctl(args, m.endpoint, f"--cacert={ca}", f"--cert={cert}",
                                    f"--key={key}", "get", "a/1")
                got.append(f"mallory get a/1 -> {outcome(r)}")
            finally:
                m.stop()
            outcomes[kind] = got
        ref, cand = outcomes["etcd"], outcomes[args.server]
        eq(cand, ref, "CN-as-user outcomes identical to etcd's")
        check(ref[0].startswith("get a/1 -> exit 0") and "a/1" in ref[0],
              "alice's certificate reads a/1 without a token", ref[0])
        check("permission denied" in ref[1], "alice's certificate may not write a/2", ref[1])
        check("exit 0: OK" in ref[2], "a token (bob) wins over the certificate's CN", ref[2])
        check("exit 1" in ref[4], "a certificate whose CN is no user is refused", ref[4])

    @runner.test
    def auth_survives_restart():
        m = AuthMember(args, name="restart", extra_flags=["--bcrypt-cost=4"])
        try:
            m.start()
            bad = setup_auth(m)
            require(not bad, "auth set up and enabled", "\n".join(bad))
            m.stop()
            m.start()
            r = m.ctl("get", "a/1")
            check(not r.ok and "user name is empty" in r.stderr,
                  "after restart: no user is refused (auth still enabled)", r.describe())
            r = m.ctl(ALICE, "get", "a/1", "--print-value-only")
            eq(r.stdout.strip(), "v1", "after restart: alice reads a/1 with her password")
            r = m.ctl(ALICE, "put", "a/1", "x")
            check(not r.ok and "permission denied" in r.stderr,
                  "after restart: alice still may not write", r.describe())
            r = m.ctl(BOB, "put", "a/2", "y")
            check(r.ok, "after restart: bob writes a/2", r.describe())
            r = m.ctl(ROOT, "user", "list")
            eq(r.stdout.split(), ["alice", "bob", "root"], "after restart: the same users")
            r = m.ctl(ROOT, "role", "get", "reader")
            check("[a/, a0) (prefix a/)" in r.stdout, "after restart: reader's permission kept",
                  r.describe())
        finally:
            m.stop()
        if args.server == "outpost":
            leaks = clear_passwords_in([m.dir])
            check(not leaks, "no clear password in the data dir or the logs", "\n".join(leaks))

    @runner.test
    def learner_enforces_the_same_rules():
        if not ru.outpost_only(args, runner):
            return
        c = ru.fast_cluster(args, "auth", extra_flags=["--bcrypt-cost=4", "--max-learners=3"])
        extra_dirs: list[str] = []
        try:
            c.start()
            c.wait_leader(timeout=15)
            learner, r = ru.add_replica(c, "auth4", ["--replica-read-policy=serializable",
                                                     "--replica-writes=forward"])
            require(learner is not None, "learner added and started", r.describe())
            voter = c.members[0]
            bad = setup_auth(voter)
            require(not bad, "auth set up and enabled through a voter", "\n".join(bad))
            c.wait_in_sync(learner, timeout=30)

            def on_learner(*cmd):
                return learner.ctl(*cmd, command_timeout="10s")

            r = on_learner("get", "a/1", "--consistency=s")
            check(not r.ok and "etcdserver: user name is empty" in r.stderr,
                  "learner: serializable get without a user refused", r.describe())
            r = on_learner(BOB, "get", "b", "--consistency=s")
            check(not r.ok and "etcdserver: permission denied" in r.stderr,
                  "learner: serializable get outside the user's roles refused", r.describe())
            r = on_learner(ALICE, "get", "a/1", "--consistency=s", "--print-value-only")
            eq(r.stdout.strip(), "v1", "learner: alice reads a/1 (serializable)")
            r = on_learner(ALICE, "put", "a/1", "forged")
            check(not r.ok and "etcdserver: permission denied" in r.stderr,
                  "learner: forwarded put by a user without write permission refused",
                  r.describe())
            r = on_learner(ALICE, "user", "add", "eve:pw")
            check(not r.ok and "etcdserver: permission denied" in r.stderr,
                  "learner: forwarded user add by a non-root user refused", r.describe())
            r = voter.ctl(ROOT, "get", "a/1", "--print-value-only")
            eq(r.stdout.strip(), "v1", "the refused forwarded put changed nothing")
            r = on_learner(BOB, "put", "a/2", "fw")
            check(r.ok, "learner: forwarded put by a permitted user applied", r.describe())
            r = on_learner(BOB, "get", "a/2", "--consistency=s", "--print-value-only")
            eq(r.stdout.strip(), "fw", "learner: the forwarded put is readable on the learner")
            r = on_learner(ROOT, "user", "add", "carol:c-pw")
            check(r.ok, "learner: forwarded user add by root applied", r.describe())
            r = voter.ctl(ROOT, "user", "list")
            check("carol" in r.stdout.split(), "the user added through the learner exists",
                  r.describe())

            # Self-join into a core with auth on: MemberAdd needs root, as `member add` does.
            urls = [m.client_url for m in c.members[:3]]
            nouser = ru.JoiningMember(args, c, "auth5", urls,
                                      extra_flags=["--replica-join-timeout-s=5"])
            nouser.start(wait=False)
            nouser.proc.wait(timeout=30)
            check(nouser.proc.returncode != 0 and
                  "etcdserver: user name is empty" in nouser.log_tail(80),
                  "self-join without a user: refused with etcd's error, exit non-zero",
                  nouser.log_tail(20))
            joiner = ru.JoiningMember(args, c, "auth6", urls, extra_flags=[
                "--replica-join-timeout-s=30", "--replica-join-user=root",
                "--replica-join-password=r00t-Secret", "--replica-read-policy=serializable",
                "--replica-writes=forward"])
            joiner.start(wait=False)
            extra_dirs.extend([nouser.dir, joiner.dir])

            def joined_and_serves() -> bool:
                r = joiner.ctl(ALICE, "get", "a/1", "--consistency=s", "--print-value-only",
                               command_timeout="2s")
                return r.ok and r.stdout.strip() == "v1"

            try:
                harness.wait_for(joined_and_serves, 40, 0.2, "the self-joined replica")
                ok = True
            except TimeoutError:
                ok = False
            check(ok, "self-join with --replica-join-user root: joined, and serves alice's read",
                  joiner.log_tail(30))
            r = voter.ctl(ROOT, "member", "list")
            check("auth6" in r.stdout and "auth5" not in r.stdout,
                  "member list: the joined replica, and nothing left by the refused one",
                  r.describe())
            joiner.stop()
        finally:
            c.stop()
        dirs = [m.dir for m in c.members] + extra_dirs
        leaks = clear_passwords_in(dirs)
        check(not leaks, "no clear password in any member's data dir or log", "\n".join(leaks))

    @runner.test
    def auto_promotion_works_with_auth_enabled():
        # The learner's own MemberPromote goes to the leader as the member's request, not a
        # client's: auth being on must not stop a when-caught-up replica from promoting itself.
        if not ru.outpost_only(args, runner):
            return
        c = ru.fast_cluster(args, "ap", extra_flags=["--bcrypt-cost=4"])
        try:
            c.start()
            leader, _, _ = c.wait_leader(timeout=15)
            m, r = ru.add_replica(c, "ap4", ["--replica-promote=when-caught-up",
                                             "--replica-promote-after-s=2"], start=False)
            require(m is not None, "member add ap4 --learner (before auth is enabled)",
                    r.describe())
            bad = setup_auth(leader)
            require(not bad, "auth set up and enabled", "\n".join(bad))
            m.start(wait=False)

            def promoted() -> bool:
                ml = c.member_list(leader, timeout=5)
                row = next((x for x in ml or [] if x.name == "ap4"), None)
                return row is not None and row.is_learner is False

            try:
                harness.wait_for(promoted, 30, 0.2, "ap4 promoted")
                ok = True
            except TimeoutError:
                ok = False
            check(ok, "the replica promoted itself with auth enabled", m.log_tail(20))
            m.is_learner = not ok
        finally:
            c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
