"""The faults of the nemesis driver (issue 15): what each does to the cluster and how it is undone.

Each fault is a function `fault(ctx, rng) -> Optional[Healer]`: it injects the fault at once and
returns what undoes it (None when there is nothing to undo: a leader transfer, a membership
change). The driver (nemesis.py) calls it from its schedule, holds the fault for a while, then
calls the healer. `ctx` is the driver's Nemesis object: the cluster (tests/integration/harness.py
Cluster with a proxy.PeerNetwork in front of every peer port), the leader lookup, the record of
what was done. Only one fault is active at a time; several members are hit at once by the faults
that say so (kill "minority"/"majority"/"all").

    kill        kill -9 of the leader, a follower, a learner, a minority, a majority or every
                member; healed by restarting them on their data dirs
    pause       SIGSTOP of the leader or another member for longer than the election timeout;
                healed by SIGCONT
    partition   one member (often the leader) cut off both ways, or (5 voters) the voters split
                into a majority and a minority; healed by reconnecting
    oneway      what one member sends is dropped (the leader's, or a follower's to the leader)
                while what it receives still arrives
    delay       every peer link of one member delayed 20-150 ms each way
    transfer    leader transfer (etcdctl move-leader) to a random voter
    member      a voter removed while writes go on, then a new voter added on a fresh data dir
    snapshot    a follower held back (isolated) until the leader has compacted its log past it
                (--snapshot-count), so that on heal it must receive a snapshot
    diskfull    the member whose data dir is on a small tmpfs: the tmpfs filled to the last
                byte, held, then emptied (and the member restarted if it stopped)

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import os
import random
import signal
import time
from typing import Callable, Optional

Healer = Callable[[], None]

ALL = ("kill", "pause", "partition", "oneway", "delay", "transfer", "member", "snapshot",
       "diskfull")


def _pick(rng: random.Random, items):
    items = list(items)
    return items[rng.randrange(len(items))] if items else None


def kill(ctx, rng: random.Random) -> Optional[Healer]:
    voters = ctx.running_voters()
    leader = ctx.leader()
    learners = [m for m in ctx.cluster.running() if m.is_learner]
    choices = ["leader", "follower", "minority", "majority", "all"]
    if learners:
        choices.append("learner")
    how = _pick(rng, choices)
    quorum = len(ctx.voters_all()) // 2 + 1
    if how == "leader" and leader is not None:
        victims = [leader]
    elif how == "learner":
        victims = [_pick(rng, learners)]
    elif how == "minority":
        victims = rng.sample(voters, min(len(voters), len(ctx.voters_all()) - quorum))
    elif how == "majority":
        victims = rng.sample(voters, min(len(voters), quorum))
    elif how == "all":
        victims = list(ctx.cluster.running())
    else:
        how = "follower"
        victims = [_pick(rng, [m for m in voters if m is not leader] or voters)]
    victims = [v for v in victims if v is not None]
    ctx.note(f"kill -9 {how}: {', '.join(v.name for v in victims)}")
    for v in victims:
        ctx.expect_down(v)
        v.kill9()

    def heal() -> None:
        ctx.restart(victims)
    return heal


def pause(ctx, rng: random.Random) -> Optional[Healer]:
    leader = ctx.leader()
    running = ctx.cluster.running()
    victim = leader if (leader is not None and rng.random() < 0.6) else _pick(rng, running)
    if victim is None:
        return None
    ctx.note(f"SIGSTOP {victim.name}{' (leader)' if victim is leader else ''}")
    os.kill(victim.pid, signal.SIGSTOP)
    ctx.paused.add(victim.name)

    def heal() -> None:
        ctx.paused.discard(victim.name)
        try:
            os.kill(victim.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return heal


def partition(ctx, rng: random.Random) -> Optional[Healer]:
    voters = ctx.voters_all()
    leader = ctx.leader()
    net = ctx.network
    if len(voters) >= 5 and rng.random() < 0.5:
        members = list(ctx.cluster.members)
        rng.shuffle(members)
        minority = members[:len(voters) // 2]
        majority = members[len(voters) // 2:]
        pairs = {(a.name, b.name) for a in minority for b in majority}
        pairs |= {(b, a) for a, b in pairs}
        cut = net.cut_links(pairs)
        ctx.note(f"partition {{{', '.join(m.name for m in minority)}}} | "
                 f"{{{', '.join(m.name for m in majority)}}} ({cut} connections cut)")
    else:
        victim = leader if (leader is not None and rng.random() < 0.5) else _pick(
            rng, ctx.cluster.members)
        mode = _pick(rng, ["drop", "refuse"])
        cut = net.isolate(victim.name, mode)
        ctx.note(f"isolate {victim.name}{' (leader)' if victim is leader else ''}, new "
                 f"connections {mode} ({cut} connections cut)")

    def heal() -> None:
        net.heal()
    return heal


def oneway(ctx, rng: random.Random) -> Optional[Healer]:
    leader = ctx.leader()
    names = [m.name for m in ctx.cluster.members]
    if leader is not None and rng.random() < 0.5:
        src = leader.name
        pairs = {(src, n) for n in names if n != src}
        what = f"{src} (leader) -> everyone"
    else:
        src = _pick(rng, [n for n in names if leader is None or n != leader.name])
        dst = leader.name if leader is not None else _pick(rng, [n for n in names if n != src])
        pairs = {(src, dst)}
        what = f"{src} -> {dst}"
    cut = ctx.network.cut_links(pairs)
    ctx.note(f"one-way drop {what} ({cut} connections cut)")

    def heal() -> None:
        ctx.network.heal()
    return heal


def delay(ctx, rng: random.Random) -> Optional[Healer]:
    victim = _pick(rng, ctx.cluster.members)
    ms = rng.choice([20, 50, 100, 150])
    ctx.network.set_delay(victim.name, ms)
    ctx.note(f"delay {ms} ms each way on every peer link of {victim.name}")

    def heal() -> None:
        ctx.network.set_delay(victim.name, 0)
    return heal


def transfer(ctx, rng: random.Random) -> Optional[Healer]:
    leader = ctx.leader()
    if leader is None:
        ctx.note("leader transfer skipped: no leader")
        return None
    targets = [m for m in ctx.running_voters() if m is not leader]
    if not targets:
        return None
    to = _pick(rng, targets)
    r = leader.ctl("move-leader", f"{ctx.cluster.member_id(to):x}", timeout=15,
                   command_timeout="10s")
    ctx.note(f"move-leader {leader.name} -> {to.name}: "
             f"{'ok' if r.ok else (r.stderr.strip().splitlines() or ['failed'])[-1]}")
    return None


def member(ctx, rng: random.Random) -> Optional[Healer]:
    voters = ctx.running_voters()
    if len(voters) < len(ctx.voters_all()) or len(voters) < 3:
        ctx.note("member change skipped: not every voter is up")
        return None
    leader = ctx.leader()
    # the tmpfs member stays: the disk-full fault needs it
    candidates = [v for v in voters if v is not ctx.tmpfs_member]
    victim = _pick(rng, candidates) if rng.random() < 0.3 or leader is None else _pick(
        rng, [v for v in candidates if v is not leader] or candidates)
    ctx.expect_down(victim)
    via = _pick(rng, [v for v in voters if v is not victim])
    r = ctx.cluster.remove_member(victim, via=via)
    ctx.note(f"member remove {victim.name} (via {via.name}): "
             f"{'ok' if r.ok else r.stderr.strip()[-200:]}")
    if not r.ok:
        ctx.unexpect_down(victim)
        return None
    ctx.removed.append(victim)
    name = ctx.new_member_name()
    try:
        m, r = ctx.cluster.add_member(name, via=via, start=True, wait=True, timeout=60)
    except (RuntimeError, TimeoutError) as e:
        ctx.note(f"member add {name}: {e}")
        return None
    ctx.note(f"member add {name}: {'ok' if m is not None else r.stderr.strip()[-200:]}")
    if m is None:
        # The add may have been applied after the client gave up: a member nobody will start
        # would then count in the quorum. Remove it again.
        for x in ctx.cluster.member_list(via) or []:
            if not x.name and x.id not in {ctx.cluster.member_id(y) for y in ctx.running_voters()}:
                r = ctx.cluster.remove_member(x.id, via=via)
                ctx.note(f"member remove {x.hex_id} (added, never started): "
                         f"{'ok' if r.ok else r.stderr.strip()[-200:]}")
    return None


def snapshot(ctx, rng: random.Random) -> Optional[Healer]:
    leader = ctx.leader()
    followers = [m for m in ctx.running_voters() if m is not leader]
    if leader is None or not followers:
        ctx.note("snapshot lag skipped: no leader or follower")
        return None
    victim = _pick(rng, followers)
    start = ctx.raft_index(leader)
    cut = ctx.network.isolate(victim.name, "drop")
    goal = (start or 0) + 2 * ctx.snapshot_count
    ctx.note(f"hold {victim.name} back until the leader passes raft index {goal} "
             f"(2 x --snapshot-count; {cut} connections cut)")
    deadline = time.monotonic() + ctx.fault_budget(20)
    while time.monotonic() < deadline:
        now = ctx.raft_index(leader)
        if now is not None and now >= goal:
            break
        time.sleep(0.2)

    def heal() -> None:
        ctx.network.heal()
        ctx.snapshot_victims.append(victim.name)
    return heal


def diskfull(ctx, rng: random.Random) -> Optional[Healer]:
    m = ctx.tmpfs_member
    if m is None or m not in ctx.cluster.members:
        ctx.note("disk full skipped: no member on a tmpfs")
        return None
    filler = os.path.join(m.data_dir, "nemesis-filler")
    written = 0
    try:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as e:
        ctx.note(f"disk full on {m.name}: cannot create the filler: {e}")
        return None
    try:
        for size in (1 << 20, 4096, 512):  # until not even 512 bytes fit
            block = b"\0" * size
            while True:
                try:
                    n = os.write(fd, block)
                except OSError:
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    ctx.note(f"disk full on {m.name}: {written >> 20} MiB filler, tmpfs at 0 bytes free")
    ctx.expect_maybe_down(m)

    def heal() -> None:
        try:
            os.unlink(filler)
        except OSError:
            pass
        if not m.running() and m in ctx.cluster.members:
            ctx.note(f"{m.name} stopped during the disk-full fault (rc {m.proc.returncode}): "
                     "restarting it")
            ctx.restart([m])
        ctx.unexpect_down(m)
    return heal


FAULTS = {
    "kill": kill, "pause": pause, "partition": partition, "oneway": oneway, "delay": delay,
    "transfer": transfer, "member": member, "snapshot": snapshot, "diskfull": diskfull,
}
