"""Real protocol clients for the lab's traffic, each bound to its own 127.x source address.

Every function does one round of one kind of traffic (an HMI poll, a historian read, a rogue write)
against ``target`` = (address, port) and returns a short summary. The source binding is done once
for all asyncio clients (``bind_sources``) and for snap7's blocking socket, so the libraries' own
clients are used unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from icsaudit.lab.safety import require_loopback

SOURCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("lab_source", default=None)
TIMEOUT = 5.0

Target = tuple[str, int]
Action = Callable[[Target, dict[str, Any]], Awaitable[str]]


def bind_sources(loop: asyncio.AbstractEventLoop) -> None:
    """Make every asyncio connection and datagram endpoint of this loop use SOURCE as local address,
    and refuse any remote address outside 127.0.0.0/8."""
    create_connection = loop.create_connection
    create_datagram_endpoint = loop.create_datagram_endpoint

    async def bound_connection(factory: Any, host: Any = None, port: Any = None, **kwargs: Any) -> Any:
        require_loopback(host, "traffic target")
        source = SOURCE.get()
        if source and not kwargs.get("local_addr") and not kwargs.get("sock"):
            kwargs["local_addr"] = (require_loopback(source, "traffic source"), 0)
        return await create_connection(factory, host, port, **kwargs)

    async def bound_datagram(
        factory: Any, local_addr: Any = None, remote_addr: Any = None, **kwargs: Any
    ) -> Any:
        if remote_addr:
            require_loopback(remote_addr[0], "traffic target")
        source = SOURCE.get()
        if source and local_addr is None:
            local_addr = (require_loopback(source, "traffic source"), 0)
        return await create_datagram_endpoint(
            factory, local_addr=local_addr, remote_addr=remote_addr, **kwargs
        )

    loop.create_connection = bound_connection  # type: ignore[method-assign]
    loop.create_datagram_endpoint = bound_datagram  # type: ignore[method-assign]
    _bind_snap7()


def _bind_snap7() -> None:
    from snap7.connection import ISOTCPConnection

    def tcp_connect(self: ISOTCPConnection) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout)
        source = SOURCE.get()
        if source:
            sock.bind((require_loopback(source, "traffic source"), 0))
        sock.connect((require_loopback(self.host, "traffic target"), self.port))
        self.socket = sock

    ISOTCPConnection._tcp_connect = tcp_connect  # type: ignore[method-assign]


# --- Modbus (pymodbus client) -----------------------------------------------------------------------
async def _modbus(target: Target, work: Callable[[Any], Awaitable[str]]) -> str:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient(
        target[0], port=target[1], timeout=TIMEOUT, retries=0, source_address=(SOURCE.get() or "127.0.0.1", 0)
    )
    try:
        if not await client.connect():
            raise ConnectionError(f"modbus {target} refused the connection")
        return await work(client)
    finally:
        client.close()


async def modbus_read(target: Target, options: dict[str, Any]) -> str:
    async def work(client: Any) -> str:
        result = await client.read_holding_registers(
            int(options.get("address", 0)),
            count=int(options.get("count", 10)),
            device_id=int(options.get("unit", 1)),
        )
        return f"read {len(getattr(result, 'registers', []) or [])} registers"

    return await _modbus(target, work)


async def modbus_write(target: Target, options: dict[str, Any]) -> str:
    async def work(client: Any) -> str:
        values = [int(v) for v in options.get("values", [1234])]
        await client.write_registers(
            int(options.get("address", 0)), values, device_id=int(options.get("unit", 1))
        )
        return f"wrote {len(values)} registers"

    return await _modbus(target, work)


async def modbus_identify(target: Target, options: dict[str, Any]) -> str:
    async def work(client: Any) -> str:
        result = await client.read_device_information(
            read_code=1, object_id=0, device_id=int(options.get("unit", 1))
        )
        return " ".join(v.decode(errors="replace") for v in getattr(result, "information", {}).values())

    return await _modbus(target, work)


# --- S7 (python-snap7 client, blocking: run in a thread that inherits SOURCE) ----------------------
def _s7(target: Target, options: dict[str, Any], work: Callable[[Any], str]) -> Awaitable[str]:
    def run() -> str:
        import snap7

        client = snap7.client.Client()
        try:
            client.connect(target[0], int(options.get("rack", 0)), int(options.get("slot", 1)), target[1])
            return work(client)
        finally:
            client.disconnect()

    return asyncio.to_thread(run)


async def s7_read(target: Target, options: dict[str, Any]) -> str:
    return await _s7(
        target,
        options,
        lambda c: f"read {len(c.db_read(int(options.get('db', 1)), 0, int(options.get('size', 16))))} bytes",
    )


async def s7_write(target: Target, options: dict[str, Any]) -> str:
    return await _s7(
        target,
        options,
        lambda c: (c.db_write(int(options.get("db", 1)), 0, bytearray(b"\x00\x2a")), "wrote 2 bytes")[1],
    )


async def s7_stop(target: Target, options: dict[str, Any]) -> str:
    return await _s7(target, options, lambda c: (c.plc_stop(), "PLC stop sent")[1])


async def s7_download(target: Target, options: dict[str, Any]) -> str:
    def work(client: Any) -> str:
        block = int(options.get("block", 1))
        try:
            client.download(bytearray(b"\x70\x70" + b"\x00" * 62), block)
        except Exception as exc:  # noqa: BLE001 - the request is on the wire either way
            return f"download of block {block} refused: {exc}"
        return f"downloaded block {block}"

    return await _s7(target, options, work)


# --- EtherNet/IP (own client: no maintained Python CIP originator in the lab extra) ---------------
async def enip_read(target: Target, options: dict[str, Any]) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), TIMEOUT)
    try:
        writer.write(struct.pack("<HHII8sI", 0x65, 4, 0, 0, b"lab-hmi\x00", 0) + struct.pack("<HH", 1, 0))
        reply = await asyncio.wait_for(reader.readexactly(28), TIMEOUT)
        session = struct.unpack_from("<I", reply, 4)[0]
        tag = str(options.get("tag", "Pump1_Speed")).encode()
        path = b"\x91" + bytes([len(tag)]) + tag + (b"\x00" if len(tag) % 2 else b"")
        cip = bytes([0x4C, len(path) // 2]) + path + struct.pack("<H", 1)
        items = (
            struct.pack("<IHH", 0, 5, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(cip)) + cip
        )
        writer.write(struct.pack("<HHII8sI", 0x6F, len(items), session, 0, b"lab-hmi\x00", 0) + items)
        header = await asyncio.wait_for(reader.readexactly(24), TIMEOUT)
        await asyncio.wait_for(reader.readexactly(struct.unpack_from("<H", header, 2)[0]), TIMEOUT)
        writer.write(struct.pack("<HHII8sI", 0x66, 0, session, 0, b"lab-hmi\x00", 0))
        await writer.drain()
        return f"read tag {tag.decode()}"
    finally:
        writer.close()


# --- BACnet/IP (bacpypes3 client application on the source address) --------------------------------
_BACNET_APPS: dict[str, Any] = {}


def _bacnet_app(source: str) -> Any:
    if source not in _BACNET_APPS:
        from bacpypes3.ipv4.app import NormalApplication
        from bacpypes3.local.device import DeviceObject
        from bacpypes3.pdu import IPv4Address

        from icsaudit.lab.bacnet_wire import send_loopback_peers_on_the_wire

        send_loopback_peers_on_the_wire()  # else a read to another 127.x:47808 stays in this process
        instance = 100000 + int(source.split(".")[-1]) + 256 * int(source.split(".")[-2])
        device = DeviceObject(
            objectIdentifier=("device", instance), objectName=f"lab-client-{source}", vendorIdentifier=999
        )
        _BACNET_APPS[source] = NormalApplication(device, IPv4Address(f"{require_loopback(source)}/32:47808"))
    return _BACNET_APPS[source]


async def bacnet_read(target: Target, options: dict[str, Any]) -> str:
    app = _bacnet_app(SOURCE.get() or "127.0.0.1")
    address = f"{target[0]}:{target[1]}"
    objid = str(options.get("object", "analog-value,1"))
    value = await asyncio.wait_for(app.read_property(address, objid, "present-value"), TIMEOUT)
    return f"{objid} = {value}"


async def bacnet_write(target: Target, options: dict[str, Any]) -> str:
    app = _bacnet_app(SOURCE.get() or "127.0.0.1")
    address = f"{target[0]}:{target[1]}"
    objid = str(options.get("object", "analog-value,1"))
    from bacpypes3.primitivedata import Real

    await asyncio.wait_for(
        app.write_property(address, objid, "present-value", Real(float(options.get("value", 0.0)))), TIMEOUT
    )
    return f"wrote {objid}"


# --- OPC UA (asyncua client) -----------------------------------------------------------------------
async def opcua_read(target: Target, options: dict[str, Any]) -> str:
    """Read the server's clock. ``security: Sign | SignAndEncrypt`` opens a Basic256Sha256 channel
    with the client key pair the device provisioned and logs on with ``user``/``password``; the
    server certificate is taken from the same place (pinned, as a configured historian has it), so
    no endpoint discovery over a None channel happens first."""
    from asyncua import Client, ua

    client = Client(f"opc.tcp://{target[0]}:{target[1]}/", timeout=TIMEOUT)
    mode = str(options.get("security", "None"))
    if mode != "None":
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        from icsaudit.lab.devices.opcua import CLIENT_URI, pki_dir

        pki = pki_dir(*target)
        client.application_uri = CLIENT_URI
        client.set_user(str(options.get("user", "historian")))
        client.set_password(str(options.get("password", "")))
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            str(pki / "client-cert.der"),
            str(pki / "client-key.pem"),
            server_certificate=str(pki / "server-cert.der"),
            mode=getattr(ua.MessageSecurityMode, mode),
        )
    async with client:
        value = await client.get_node("ns=0;i=2258").read_value()  # Server_ServerStatus_CurrentTime
        return f"server time {value} ({mode})"


# --- DNP3 (dnp3py master) --------------------------------------------------------------------------
async def dnp3_poll(target: Target, options: dict[str, Any]) -> str:
    from dnp3.master.config import MasterConfig
    from dnp3.master.master import Master
    from dnp3.master.tcp_runner import MasterTcpRunner

    config = MasterConfig(
        address=int(options.get("master_address", 1)), outstation_address=int(options.get("dnp3_address", 10))
    )
    async with MasterTcpRunner(
        master=Master(config=config), host=target[0], port=target[1], response_timeout=TIMEOUT
    ) as runner:
        responses = await runner.integrity_poll()
    return f"integrity poll: {len(responses)} responses"


# --- IEC 104 (own small master: c104's client cannot bind a source address) -----------------------
async def iec104_interrogation(target: Target, options: dict[str, Any]) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), TIMEOUT)
    try:
        writer.write(bytes([0x68, 4, 0x07, 0, 0, 0]))  # STARTDT act
        await asyncio.wait_for(reader.readexactly(6), TIMEOUT)
        ca = int(options.get("common_address", 1))
        asdu = bytes([100, 1, 6, 0]) + struct.pack("<H", ca) + b"\x00\x00\x00" + bytes([20])
        writer.write(bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu)  # C_IC_NA_1 station interrogation
        await writer.drain()
        received = 0
        while True:  # until activation termination (COT 10) or timeout
            start = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
            body = await asyncio.wait_for(reader.readexactly(start[1]), TIMEOUT)
            received += 1
            if len(body) > 6 and body[4] == 100 and body[6] & 0x3F == 10:
                break
        writer.write(bytes([0x68, 4, 0x01, 0, (received * 2) & 0xFF, (received * 2) >> 8]))  # S-frame ack
        writer.write(bytes([0x68, 4, 0x13, 0, 0, 0]))  # STOPDT act
        await writer.drain()
        return f"interrogation: {received} APDUs"
    finally:
        writer.close()


# --- IT services ----------------------------------------------------------------------------------
async def _dialogue(target: Target, lines: list[bytes], expect: int = 1) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), TIMEOUT)
    try:
        received = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        for line in lines:
            writer.write(line)
            await writer.drain()
            received += await asyncio.wait_for(reader.read(4096), TIMEOUT)
        return received.decode(errors="replace").splitlines()[0] if received else ""
    finally:
        writer.close()


async def telnet_login(target: Target, options: dict[str, Any]) -> str:
    user = str(options.get("user", "admin")).encode()
    return await _dialogue(target, [user + b"\r\n", str(options.get("password", "admin")).encode() + b"\r\n"])


async def ftp_login(target: Target, options: dict[str, Any]) -> str:
    user = str(options.get("user", "anonymous")).encode()
    return await _dialogue(target, [b"USER " + user + b"\r\n", b"PASS guest@\r\n", b"PWD\r\n", b"QUIT\r\n"])


async def http_get(target: Target, options: dict[str, Any]) -> str:
    request = f"GET {options.get('path', '/')} HTTP/1.1\r\nHost: {target[0]}\r\nConnection: close\r\n\r\n"
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), TIMEOUT)
    try:
        writer.write(request.encode())
        await writer.drain()
        return (
            (await asyncio.wait_for(reader.read(65536), TIMEOUT)).split(b"\r\n")[0].decode(errors="replace")
        )
    finally:
        writer.close()


async def snmp_get(target: Target, options: dict[str, Any]) -> str:
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPget, SNMPvarbind

    oids = options.get("oids", ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0"])
    request = SNMP(
        version=1,
        community=str(options.get("community", "public")),
        PDU=SNMPget(id=0x1234, varbindlist=[SNMPvarbind(oid=ASN1_OID(o)) for o in oids]),
    )
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Receiver, remote_addr=target)
    try:
        transport.sendto(bytes(request))
        try:
            data = await asyncio.wait_for(answer, float(options.get("timeout", 2.0)))
        except TimeoutError:
            return "no answer (community refused)"
        return f"{len(data)} bytes"
    finally:
        transport.close()


async def ssh_session(target: Target, options: dict[str, Any]) -> str:
    return await _dialogue(target, [b"SSH-2.0-PuTTY_Release_0.78\r\n"])


async def vnc_session(target: Target, options: dict[str, Any]) -> str:
    return await _dialogue(target, [b"RFB 003.008\n", b"\x02"])


ACTIONS: dict[str, Action] = {
    "modbus-read": modbus_read,
    "modbus-write": modbus_write,
    "modbus-identify": modbus_identify,
    "s7-read": s7_read,
    "s7-write": s7_write,
    "s7-stop": s7_stop,
    "s7-download": s7_download,
    "enip-read": enip_read,
    "bacnet-read": bacnet_read,
    "bacnet-write": bacnet_write,
    "opcua-read": opcua_read,
    "dnp3-poll": dnp3_poll,
    "iec104-interrogation": iec104_interrogation,
    "telnet-login": telnet_login,
    "ftp-login": ftp_login,
    "http-get": http_get,
    "snmp-get": snmp_get,
    "ssh-session": ssh_session,
    "vnc-session": vnc_session,
}
