#!/usr/bin/env python3
"""TCP proxies in front of cluster members' peer ports, to cut peer traffic without root.

Why proxies, and how a connection's *source* is known
-----------------------------------------------------
Members of one cluster must share one `--initial-cluster` string (member ids, hence the cluster id,
are derived from the advertised peer URLs), so member i cannot be told to reach member j through a
proxy of its own: there is one proxy in front of each member, P(j), and every other member dials
it. To isolate member 3 both ways the test must refuse traffic *to* member 3 (everything through
P(3)) and traffic *from* member 3 (its connections to P(1) and P(2)) while letting member 1 and
member 2 talk through P(1)/P(2). All connections come from 127.0.0.1, so the source address does not
say who dialled. The proxy finds out from the kernel instead: on Linux `/proc/net/tcp` maps the
dialler's socket (127.0.0.1:ephemeral -> 127.0.0.1:proxy port) to a socket inode, and that inode
appears as `socket:[inode]` among the open fds (`/proc/<pid>/fd`) of exactly one process: the member
that dialled. Members are our own children, so this needs no privilege.

What it gives a test
--------------------
  * ``Proxy(target_port, name, network)``: listens on a free 127.0.0.1 port (``.port``, ``.url``),
    forwards each accepted connection to 127.0.0.1:target_port, both directions, one thread each.
  * ``PeerNetwork``: the proxies of one cluster plus who may talk to whom.
    ``register(name, pid_fn)`` tells it which process is which member (pid_fn is called at each
    accept: a restarted member has a new pid). ``isolate(name)`` cuts every established
    connection from or to that member and blackholes new ones (accepted, read and discarded, never
    forwarded: like a network that drops packets); ``heal()`` cuts the blackholed connections (so
    the members redial) and lets traffic flow again. ``isolate(name, "refuse")`` instead resets
    new blocked connections at once.
  * Delay and stall (the "regions" of the replica tests; the kernel here has no netem):
    ``Proxy(..., delay_ms=N)`` holds every chunk N ms in each direction (one-way delay; each
    chunk carries its arrival time in a queue, so throughput is not one chunk per delay), settable
    later as ``proxy.delay_ms``; ``proxy.hold()`` stalls the traffic through that proxy (bytes
    are read and buffered, never dropped; connections stay up) until ``proxy.release()``.
    ``PeerNetwork.set_delay(name, ms)`` delays every connection from or to member `name`
    (whichever proxy it goes through), ``hold(name, direction)`` / ``release(name)`` stall the
    ones to ("to"), from ("from") or both ways ("both") of it.
  * Run as a script (``proxy.py --listen PORT --target PORT [--delay-ms N]``) it is a plain
    forwarding (optionally delaying) proxy, for benchmarks and trying things by hand.

Only the Python 3 standard library is used. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import struct
import threading
import time
from typing import Callable, Optional

_BUF = 65536


def _hexaddr(port: int) -> str:
    """127.0.0.1:port as /proc/net/tcp writes it (address in host byte order on little-endian)."""
    return f"0100007F:{port:04X}"


def socket_inode(local_port: int, remote_port: int) -> Optional[int]:
    """Inode of the IPv4 TCP socket 127.0.0.1:local_port -> 127.0.0.1:remote_port, from
    /proc/net/tcp; None if there is none (the dialler already closed it)."""
    want_local, want_remote = _hexaddr(local_port), _hexaddr(remote_port)
    try:
        with open("/proc/net/tcp") as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) > 9 and parts[1] == want_local and parts[2] == want_remote:
                    return int(parts[9])
    except OSError:
        pass
    return None


def pid_has_socket(pid: int, inode: int) -> bool:
    """Whether process `pid` holds socket `inode` among its open file descriptors."""
    target = f"socket:[{inode}]"
    fd_dir = f"/proc/{pid}/fd"
    try:
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) after waking any thread blocked on the socket."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pipe:
    """One direction of a forwarded connection: a reader thread queues each chunk with the time
    it may leave (arrival + the delay then in force); a writer thread sends chunks in order once
    their time has come and the connection is not held. With no delay and no hold a chunk leaves
    as soon as the writer wakes."""

    def __init__(self, conn: "_Conn", src: socket.socket, dst: socket.socket):
        self.conn = conn
        self.src = src
        self.dst = dst
        self.cond = threading.Condition()
        self.queue: collections.deque = collections.deque()  # (due monotonic time, bytes|None)
        self.buffered = 0

    def start(self, name: str) -> None:
        threading.Thread(target=self._read, daemon=True, name=f"{name}-r").start()
        threading.Thread(target=self._write, daemon=True, name=f"{name}-w").start()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def _read(self) -> None:
        try:
            while True:
                data = self.src.recv(_BUF)
                due = time.monotonic() + self.conn.delay_s()
                with self.cond:
                    self.queue.append((due, data or None))
                    self.buffered += len(data)
                    self.cond.notify_all()
                if not data:
                    return
        except OSError:
            with self.cond:
                self.queue.append((time.monotonic(), None))
                self.cond.notify_all()

    def _write(self) -> None:
        try:
            while True:
                with self.cond:
                    while True:
                        if self.conn.closed.is_set():
                            return
                        if self.queue and not self.conn.held():
                            wait = self.queue[0][0] - time.monotonic()
                            if wait <= 0:
                                _, data = self.queue.popleft()
                                break
                            self.cond.wait(wait)
                        else:
                            self.cond.wait(0.5 if self.queue else None)
                    if data is not None:
                        self.buffered -= len(data)
                if data is None:
                    # End of stream from src: pass the half-close on (a snapshot sender shuts
                    # down its side and then waits for the receiver's answer); the connection
                    # closes once both directions have ended. Cutting here would reset dst and
                    # throw away what its kernel buffer still holds.
                    self.dst.shutdown(socket.SHUT_WR)
                    self.conn.pipe_ended()
                    return
                self.dst.sendall(data)
        except OSError:
            pass
        self.conn.cut()


class _Conn:
    """One accepted connection: forwarded (two _Pipes) or blackholed (one drain thread)."""

    def __init__(self, proxy: "Proxy", client: socket.socket, src: Optional[str]):
        self.proxy = proxy
        self.client = client
        self.src = src
        self.upstream: Optional[socket.socket] = None
        self.blackholed = False
        self.ended = 0  # directions that ended with a clean end of stream
        self.closed = threading.Event()
        self.pipes: list[_Pipe] = []

    def delay_s(self) -> float:
        ms = self.proxy.delay_ms
        if self.proxy.network is not None:
            ms = max(ms, self.proxy.network.delay_for(self.src, self.proxy.name))
        return ms / 1000.0

    def held(self) -> bool:
        return self.proxy.held or (self.proxy.network is not None and
                                   self.proxy.network.held_for(self.src, self.proxy.name))

    def wake(self) -> None:
        for p in self.pipes:
            p.wake()

    def forward(self) -> None:
        try:
            self.upstream = socket.create_connection(("127.0.0.1", self.proxy.target_port),
                                                     timeout=5)
            self.upstream.settimeout(None)
            self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.cut()  # the member is down: the dialler sees a reset, as it would without us
            return
        self.pipes = [_Pipe(self, self.client, self.upstream),
                      _Pipe(self, self.upstream, self.client)]
        for p in self.pipes:
            p.start(f"proxy-{self.proxy.name}")

    def pipe_ended(self) -> None:
        """One direction ended cleanly; once both have, the connection is done."""
        with self.proxy.lock:
            self.ended += 1
            both = self.ended >= 2
        if both and not self.closed.is_set():
            # a plain close (no RST): what the kernel still holds for either side is delivered
            self.closed.set()
            self.wake()
            for sock in (self.client, self.upstream):
                try:
                    if sock is not None:
                        sock.close()
                except OSError:
                    pass
            self.proxy._forget(self)

    def blackhole(self) -> None:
        self.blackholed = True
        threading.Thread(target=self._drain, daemon=True,
                         name=f"proxy-{self.proxy.name}-bh").start()

    def _drain(self) -> None:
        try:
            while self.client.recv(_BUF):
                pass
        except OSError:
            pass
        self.cut()

    def cut(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.wake()
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)
        self.proxy._forget(self)


class Proxy:
    """A TCP proxy 127.0.0.1:<free port> -> 127.0.0.1:target_port in front of member `name`.
    delay_ms: one-way delay added to every chunk, each direction (may be changed at any time;
    applies to chunks read from then on)."""

    def __init__(self, target_port: int, name: str, network: Optional["PeerNetwork"] = None,
                 listen_port: int = 0, delay_ms: float = 0):
        self.target_port = target_port
        self.name = name
        self.network = network
        self.delay_ms = delay_ms
        self.held = False
        self.lock = threading.Lock()
        self.conns: set[_Conn] = set()
        self.accepted = 0
        self.unattributed = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", listen_port))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self._stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True,
                                       name=f"proxy-{name}-accept")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, (_, src_port) = self.listener.accept()
            except OSError:
                return
            if self._stopped:
                _reset(client)
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                src = self.network.identify(src_port, self.port) if self.network else None
            except Exception:  # noqa: BLE001 - never let the accept loop die
                src = None
            conn = _Conn(self, client, src)
            with self.lock:
                self.accepted += 1
                if src is None:
                    self.unattributed += 1
                self.conns.add(conn)
            mode = self.network.mode_for(src, self.name) if self.network else "pass"
            if mode == "pass":
                conn.forward()
            elif mode == "drop":
                conn.blackhole()
            else:  # refuse
                conn.cut()

    def hold(self) -> None:
        """Stall every connection through this proxy, both directions, new ones too: bytes are
        read and buffered, not forwarded, not dropped; connections stay up."""
        self.held = True

    def release(self) -> None:
        """Forward what hold() buffered (in order, each chunk no earlier than its delay) and go
        on as before."""
        self.held = False
        for c in self.connections():
            c.wake()

    def buffered(self) -> int:
        """Bytes read but not yet forwarded, over every connection (e.g. held back)."""
        return sum(p.buffered for c in self.connections() for p in c.pipes)

    def _forget(self, conn: _Conn) -> None:
        with self.lock:
            self.conns.discard(conn)

    def connections(self) -> list[_Conn]:
        with self.lock:
            return list(self.conns)

    def close(self) -> None:
        self._stopped = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in self.connections():
            c.cut()


class PeerNetwork:
    """The peer proxies of one cluster and the reachability between its members."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proxies: dict[str, Proxy] = {}
        self.pid_fns: dict[str, Callable[[], Optional[int]]] = {}
        self.isolated: set[str] = set()
        self.cut_pairs: set[tuple[str, str]] = set()  # (dialler, target) links cut one way
        self.blocked_mode = "drop"
        self.delays: dict[str, float] = {}      # member -> one-way delay (ms) of its links
        self.holds: dict[str, str] = {}         # member -> "to" | "from" | "both"

    def proxy_for(self, name: str, target_port: int) -> Proxy:
        p = Proxy(target_port, name, self)
        self.proxies[name] = p
        return p

    def register(self, name: str, pid_fn: Callable[[], Optional[int]]) -> None:
        self.pid_fns[name] = pid_fn

    def identify(self, src_port: int, proxy_port: int) -> Optional[str]:
        """The member whose process dialled 127.0.0.1:proxy_port from 127.0.0.1:src_port."""
        inode = socket_inode(src_port, proxy_port)
        if not inode:
            return None
        for name, pid_fn in list(self.pid_fns.items()):  # register() may run meanwhile
            pid = pid_fn()
            if pid and pid_has_socket(pid, inode):
                return name
        return None

    def blocked(self, src: Optional[str], dst: str) -> bool:
        with self.lock:
            if dst in self.isolated or (src, dst) in self.cut_pairs:
                return True
            # an unattributed dialler might be the isolated member (or the cut one): block it
            if src is None and (self.isolated or any(d == dst for _, d in self.cut_pairs)):
                return True
            return src in self.isolated

    def mode_for(self, src: Optional[str], dst: str) -> str:
        return self.blocked_mode if self.blocked(src, dst) else "pass"

    def delay_for(self, src: Optional[str], dst: str) -> float:
        with self.lock:
            return max(self.delays.get(dst, 0), self.delays.get(src, 0) if src else 0)

    def held_for(self, src: Optional[str], dst: str) -> bool:
        with self.lock:
            return (self.holds.get(dst) in ("to", "both")
                    or (src is not None and self.holds.get(src) in ("from", "both")))

    def set_delay(self, name: str, ms: float) -> None:
        """Delay every chunk on connections from or to member `name` by `ms` (one way, each
        direction): the link between that member's "region" and the others'. 0 removes it."""
        with self.lock:
            self.delays[name] = ms

    def hold(self, name: str, direction: str = "both") -> None:
        """Stall (buffer, not drop) the traffic to member `name` ("to"), from it ("from") or
        both; connections stay up."""
        assert direction in ("to", "from", "both")
        with self.lock:
            self.holds[name] = direction

    def release(self, name: str) -> None:
        """Undo hold(name): the buffered bytes go on, in order."""
        with self.lock:
            self.holds.pop(name, None)
        for p in self.proxies.values():
            for c in p.connections():
                c.wake()

    def _cut_blocked(self) -> int:
        """Reset every established (not blackholed) connection now blocked; returns how many."""
        cut = 0
        for dst, p in self.proxies.items():
            for c in p.connections():
                if not c.blackholed and self.blocked(c.src, dst):
                    c.cut()
                    cut += 1
        return cut

    def isolate(self, name: str, mode: str = "drop") -> int:
        """Cut member `name` off from every other member, both directions. mode: 'drop' (new
        connections are accepted and silently swallowed) or 'refuse' (reset at once). Returns the
        number of established connections cut."""
        with self.lock:
            self.isolated.add(name)
            self.blocked_mode = mode
        return self._cut_blocked()

    def cut_links(self, pairs) -> int:
        """Cut the links (src, dst) given, each one way only: connections member src dials to
        member dst's proxy are reset and new ones swallowed. Outpost's peer transport sends on the
        connections it dials (an accepted one only receives), so cutting (a, b) alone drops a's
        messages to b while b's to a still flow. (etcd's stream readers dial the sender instead:
        there (a, b) drops b's stream messages to a.) A partition into groups is every cross
        pair both ways. Returns the number of connections cut."""
        with self.lock:
            self.cut_pairs.update(pairs)
            self.blocked_mode = "drop"
        return self._cut_blocked()

    def heal(self) -> int:
        """Let every member reach every other again; cut the blackholed connections so their
        diallers notice and redial. Returns the number cut."""
        with self.lock:
            self.isolated.clear()
            self.cut_pairs.clear()
        cut = 0
        for p in self.proxies.values():
            for c in p.connections():
                if c.blackholed:
                    c.cut()
                    cut += 1
        return cut

    def stats(self) -> dict[str, tuple[int, int]]:
        """Per proxy: (connections accepted, connections whose dialler was not identified)."""
        return {n: (p.accepted, p.unattributed) for n, p in self.proxies.items()}

    def close(self) -> None:
        for p in self.proxies.values():
            p.close()


def main() -> None:
    ap = argparse.ArgumentParser(description="forward 127.0.0.1:LISTEN to 127.0.0.1:TARGET")
    ap.add_argument("--listen", type=int, default=0, help="(0: a free port, printed)")
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--delay-ms", dest="delay_ms", type=float, default=0,
                    help="one-way delay added in each direction (ms)")
    a = ap.parse_args()
    p = Proxy(a.target, "manual", listen_port=a.listen, delay_ms=a.delay_ms)
    print(f"listening on 127.0.0.1:{p.port} -> 127.0.0.1:{a.target}"
          f"{f' (delay {a.delay_ms:g} ms each way)' if a.delay_ms else ''}", flush=True)
    try:
        p.thread.join()
    except KeyboardInterrupt:
        p.close()


if __name__ == "__main__":
    main()
