"""The UDP side: one socket, an allow-list, our strict decoder, and the reply sender.

One thread reads datagrams as they arrive, drops senders outside the allow-list and queues the
rest; a second thread takes them in arrival order (which keeps each upload's order), decodes
with oscwire (bounded: no library parser ever sees client bytes, no address pattern is ever
expanded) and hands each message to the handler. Handlers only validate and queue jobs, so
neither waits for the model, and a slow handler delays replies without losing datagrams.
Replies leave from the same socket, so a client sees them come from the port it sends to.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import queue
import socket
import sys
import threading
from collections.abc import Callable, Sequence

from . import oscwire
from . import protocol as p
from .ratelimit import LogLimiter

log = logging.getLogger("midigen.osc")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[str, int]
Handler = Callable[[Address, oscwire.OscMessage], None]
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class OscServer:
    """Binds at once (so "port in use" is reported before a model loads); `serve_in_thread`
    starts reading once `handler` is set."""

    PENDING = 4096  # datagrams read but not yet handled (at most 32 MB at 8 KB each)

    def __init__(
        self,
        address: Address,
        allow: Sequence[Network] = (),
        loopback: Sequence[Network] = LOOPBACK,
    ):
        """`loopback`: the networks always served (tests narrow it to tell 127.0.0.2 apart)."""
        self.allow = tuple(loopback) + tuple(allow)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, p.RCVBUF)
            self.socket.bind(address)
        except OSError:
            self.socket.close()
            raise
        self.socket.settimeout(0.1)
        self._recverr = _ask_for_icmp_errors(self.socket, family)
        self._drops = _ask_for_drop_counts(self.socket)
        self._drops_seen = 0  # the kernel's running count at the last datagram read
        # Linux reports twice what it granted (the kernel's bookkeeping); report what it says
        self.rcvbuf = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.server_address = self.socket.getsockname()
        self.handler: Handler | None = None
        # told the address of a client whose port answered ICMP "unreachable" (Linux)
        self.on_unreachable: Callable[[Address], None] | None = None
        self.logs = LogLimiter(log)
        self.counts = {
            "datagrams": 0, "refused_hosts": 0, "malformed": 0, "sent": 0, "unreachable": 0,
            "overflow": 0, "kernel_dropped": 0,
        }  # fmt: skip
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handling: threading.Thread | None = None
        self._pending: queue.Queue = queue.Queue(self.PENDING)
        self._send_lock = threading.Lock()

    # -- receiving --------------------------------------------------------------------------
    def allowed(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow)

    def handle_datagram(self, data: bytes, sender: Address) -> None:
        """Decode one datagram and dispatch its messages; never raises."""
        self.counts["datagrams"] += 1
        if not self.allowed(sender[0]):
            self._refuse_host(sender[0])
            return
        try:
            messages = oscwire.decode(data)
        except oscwire.Malformed as e:
            self.counts["malformed"] += 1
            self.logs.warning("malformed", "from %s:%d: not OSC: %s", sender[0], sender[1], e)
            return
        for message in messages:
            try:
                self.handler(sender, message)
            except Exception:  # a handler bug: logged (rate-limited), the loop goes on
                where = f"{sender[0]}:{sender[1]}"
                self.logs.exception("handler", "from %s: %s failed", where, message.address)

    def _refuse_host(self, host: str) -> None:
        self.counts["refused_hosts"] += 1
        self.logs.warning("refused", "refused %s: not in --allow", host)

    def serve_forever(self) -> None:
        """Read datagrams into the pending queue as fast as they come; another thread handles
        them in order. A handler that takes a while (planning a big /generate) then delays
        replies but loses nothing: the kernel's buffer (Linux caps it near 416 KB) is emptied
        into ours (PENDING datagrams, at most 8 KB each) instead of overflowing."""
        while not self._stop.is_set():
            try:
                data, sender = self._receive()
            except TimeoutError:
                self._drain_errors()  # a send on another thread may have taken the error
                continue
            except OSError as e:  # an ICMP error for an earlier reply surfaces here
                if self._stop.is_set() or e.errno == errno.EBADF:
                    break
                self._drain_errors()
                continue
            if not self.allowed(sender[0]):  # before queueing: a flood from outside costs nothing
                self._refuse_host(sender[0])
                continue
            try:
                self._pending.put_nowait((data, sender[:2]))
            except queue.Full:
                self.counts["overflow"] += 1
                self.logs.warning("overflow", "%d datagrams wait: one dropped", self.PENDING)
        self._pending.put(None)  # wakes the handling thread to stop

    def _receive(self) -> tuple[bytes, Address]:
        """One datagram, and the kernel's count of those it dropped before we read them (a
        full receive buffer: the machine too busy for this thread to run, or the buffer too
        small). They are otherwise lost without a trace, so they are counted and logged."""
        if not self._drops:
            return self.socket.recvfrom(65536)
        data, ancillary, _, sender = self.socket.recvmsg(65536, socket.CMSG_SPACE(4))
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                total = int.from_bytes(value[:4], sys.byteorder)
                dropped, self._drops_seen = (total - self._drops_seen) % (1 << 32), total
                if dropped:
                    self.counts["kernel_dropped"] += dropped
                    self.logs.warning(
                        "kernel_dropped",
                        "the system dropped %d datagrams before they could be read (receive "
                        "buffer %d bytes): the machine is too busy, or raise net.core.rmem_max",
                        dropped, self.rcvbuf,
                    )  # fmt: skip
        return data, sender

    def _handle_pending(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            self.handle_datagram(*item)

    def serve_in_thread(self) -> threading.Thread:
        self._handling = threading.Thread(
            target=self._handle_pending, name="midigen-handle", daemon=True
        )
        self._handling.start()
        self._thread = threading.Thread(target=self.serve_forever, name="midigen-osc", daemon=True)
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._handling):
            if thread is not None:
                thread.join(5)

    def server_close(self) -> None:
        self.socket.close()

    # -- sending ----------------------------------------------------------------------------
    def send_to(self, address: Address, message: p.Message) -> bool:
        """Send one reply; never raises (a client that went away must not stop a job).
        False when it could not be encoded or sent."""
        try:
            data = message.encode()
        except ValueError as e:  # a value out of its OSC type: a server bug, never a crash
            self.logs.error("encode", "cannot encode %s: %s", message.address, e)
            return False
        with self._send_lock:
            for _ in range(3):  # one pending error is cleared by reporting it
                try:
                    self.socket.sendto(data, address)
                    self.counts["sent"] += 1
                    return True
                except ConnectionRefusedError as e:
                    # With IP_RECVERR, an ICMP "port unreachable" for an EARLIER reply (to a
                    # client that closed its port) fails the next send, whoever it is for,
                    # and that datagram is not sent; reporting clears it. A new client's
                    # /welcome was lost so behind a cancelled job's last bars: send again.
                    error = e
                except OSError as e:
                    error = e
                    break
        log.debug("reply to %s:%d lost: %s", *address[:2], error)
        return False  # (its ICMP error, if any, is read by the network thread)

    def _drain_errors(self) -> None:
        """Read the socket's error queue (IP_RECVERR): each entry names the address an
        earlier reply could not reach; the daemon then treats that client as gone."""
        if not self._recverr:
            return
        while True:
            try:
                _, _, _, address = self.socket.recvmsg(
                    1, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.counts["unreachable"] += 1
            if self.on_unreachable is not None and address:
                try:
                    self.on_unreachable(address[:2])
                except Exception:  # a bug in the callback must not stop the network loop
                    self.logs.exception("unreachable", "on_unreachable(%s) failed", address)


IP_RECVERR, IPV6_RECVERR = 11, 25  # Linux <linux/in.h>, <linux/in6.h>
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # Linux <asm-generic/socket.h>


def _ask_for_drop_counts(sock: socket.socket) -> bool:
    """Ask Linux to attach its count of dropped datagrams to each one read. False where the
    system cannot (then a drop is noticed only as a request that was never answered)."""
    if not sys.platform.startswith("linux") or not hasattr(sock, "recvmsg"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        return True
    except OSError:
        return False


def _ask_for_icmp_errors(sock: socket.socket, family: int) -> bool:
    """Ask Linux to report ICMP errors on this unconnected socket (otherwise only connected
    UDP sockets see them), so a client whose port closed is noticed at its next reply.
    False where the system cannot (then the silence rule alone notices)."""
    if not hasattr(socket, "MSG_ERRQUEUE"):
        return False
    level, option = (
        (socket.IPPROTO_IPV6, IPV6_RECVERR)
        if family == socket.AF_INET6
        else (socket.IPPROTO_IP, IP_RECVERR)
    )
    try:
        sock.setsockopt(level, option, 1)
        return True
    except OSError:
        return False


def parse_networks(values: Sequence[str]) -> list[Network]:
    """--allow values (CIDR or single addresses); ValueError names the bad one."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v, strict=False))
        except ValueError:
            raise ValueError(f"--allow {v}: not an address or CIDR network") from None
    return out


def port_in_use(e: OSError) -> bool:
    return e.errno == errno.EADDRINUSE or getattr(e, "winerror", None) == 10048
