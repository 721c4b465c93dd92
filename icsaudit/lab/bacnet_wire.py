"""Put lab BACnet/IP between two loopback addresses on the wire.

bacpypes3 0.0.110 (IPv4DatagramServer.indication) treats *any* 127.x.x.x destination on its own port
as self-addressed and hands the PDU back up its own stack instead of sending it. In the lab every
device and every client is a different 127.x address on udp/47808, so an HMI's ReadProperty went to the
HMI's own local application (``unknown-object``) and a device's answer to a client on 47808 would go
to the device itself. With ``send_loopback_peers_on_the_wire()`` only the exact own address stays local;
every other 127.x destination is sent with ``sendto`` like any unicast.
"""

from __future__ import annotations

from typing import Any

from icsaudit.lab.safety import require_loopback

_PATCHED = False


def _destination_tuple(pdu: Any) -> tuple[str, int] | None:
    from bacpypes3.pdu import IPv4Address, LocalBroadcast, LocalStation

    destination = pdu.pduDestination
    if isinstance(destination, LocalBroadcast):
        return None
    if isinstance(destination, LocalStation):
        return IPv4Address(destination).addrTuple
    if isinstance(destination, IPv4Address):
        return destination.addrTuple
    return None


def send_loopback_peers_on_the_wire() -> None:
    """Patch bacpypes3's IPv4 link layer once per process (devices and the traffic process)."""
    global _PATCHED
    if _PATCHED:
        return
    import asyncio

    from bacpypes3.ipv4 import IPv4DatagramServer

    original = IPv4DatagramServer.indication

    async def indication(self: IPv4DatagramServer, pdu: Any) -> None:
        destination = _destination_tuple(pdu)
        if destination is None or not destination[0].startswith("127."):
            return await original(self, pdu)
        if self._transport_tasks:  # as the original: the endpoint may still be opening
            await asyncio.gather(*self._transport_tasks)
            self._transport_tasks = []
        await self._local_transport_ready.wait()
        if destination == self.local_address:  # truly self-addressed: keep bacpypes3's short-circuit
            return await original(self, pdu)
        self.local_transport.sendto(pdu.pduData, (require_loopback(destination[0]), destination[1]))

    IPv4DatagramServer.indication = indication  # type: ignore[method-assign]
    _PATCHED = True
