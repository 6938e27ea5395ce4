"""The UDP side: python-osc's dispatcher and server, an allow-list, and the reply sender.

The server is python-osc's blocking UDP server: one network thread parses and dispatches every
datagram in arrival order, which keeps the per-job upload order intact. Handlers only validate
and queue (see handlers.py), so the loop never waits for the model. Replies leave from the
server's own socket, so a client sees them come from the port it sends to.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from . import protocol as p

log = logging.getLogger("midigen.osc")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class _Dispatcher(Dispatcher):
    """python-osc's dispatcher, but a datagram that does not parse is logged, not ignored, and
    bundle time tags never make the network thread sleep (strict_timing off)."""

    def __init__(self) -> None:
        super().__init__(strict_timing=False)

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        try:
            osc_packet.OscPacket(data)
        except osc_packet.ParseError as e:
            log.warning("from %s:%d: not OSC (%s), %d bytes", *client_address[:2], e, len(data))
            return []
        return super().call_handlers_for_packet(data, client_address)


def route(dispatcher: Dispatcher, handle: Callable[..., None], addresses: Sequence[str]) -> None:
    """Every protocol address goes to `handle`; unknown addresses too, so they get an error."""
    for address in addresses:
        dispatcher.map(address, handle, needs_reply_address=True)
    dispatcher.set_default_handler(handle, needs_reply_address=True)


def mapped_addresses(dispatcher: Dispatcher) -> set[str]:
    """The addresses a dispatcher routes (for the doc-versus-code test)."""
    return set(dispatcher._map)


class OscServer(BlockingOSCUDPServer):
    """UDP OSC server that reads whole datagrams and drops senders outside the allow-list.
    It binds at once with an empty dispatcher; `route` fills it when the handlers exist."""

    max_packet_size = p.MAX_DATAGRAM  # socketserver's default (8192) would cut large ones

    def __init__(self, address: tuple[str, int], allow: Sequence[Network] = ()):
        self.allow = tuple(LOOPBACK) + tuple(allow)
        self._refused: set[str] = set()
        super().__init__(address, _Dispatcher())

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = client_address[0]
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not any(ip in net for net in self.allow):
            if host not in self._refused:  # once per host: a flood must not flood the log
                self._refused.add(host)
                log.warning("refused %s: not in --allow (loopback only by default)", host)
            return False
        if not super().verify_request(request, client_address):
            log.warning("from %s:%d: a datagram that is not OSC", *client_address[:2])
            return False
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("from %s: unexpected error", client_address)

    def send(self, client: tuple[str, int], message: p.Message) -> None:
        """Send one reply; never raises (a client that went away must not stop a job)."""
        try:
            self.socket.sendto(message.encode(), client)
        except OSError as e:
            log.debug("reply to %s:%d lost: %s", *client, e)

    def serve_in_thread(self) -> threading.Thread:
        """Serve on a daemon thread (tests, and the main thread waiting for signals)."""
        thread = threading.Thread(target=self.serve_forever, args=(0.1,), name="midigen-osc")
        thread.daemon = True
        thread.start()
        return thread


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
