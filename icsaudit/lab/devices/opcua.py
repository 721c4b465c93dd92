"""OPC UA server on asyncua: endpoints with security None and (optionally) Basic256Sha256
SignAndEncrypt with a self-signed certificate made at start, application and product URIs and build
info from the identity, a few process variables. Every request is journaled by service name."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.server.uaprocessor import UaProcessor

from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

SERVICE_CATEGORIES: dict[str, str] = {
    "GetEndpoints": "identify",
    "FindServers": "identify",
    "FindServersOnNetwork": "identify",
    "CreateSession": "auth",
    "ActivateSession": "auth",
    "CloseSession": "auth",
    "Read": "read",
    "Browse": "read",
    "BrowseNext": "read",
    "TranslateBrowsePathsToNodeIds": "read",
    "RegisterNodes": "read",
    "UnregisterNodes": "read",
    "HistoryRead": "read",
    "CreateSubscription": "read",
    "ModifySubscription": "read",
    "DeleteSubscriptions": "read",
    "SetPublishingMode": "read",
    "CreateMonitoredItems": "read",
    "ModifyMonitoredItems": "read",
    "DeleteMonitoredItems": "read",
    "Publish": "read",
    "Republish": "read",
    "Write": "write",
    "HistoryUpdate": "write",
    "Call": "control",
    "AddNodes": "program",
    "DeleteNodes": "program",
    "AddReferences": "program",
    "DeleteReferences": "program",
    "RegisterServer": "other",
    "RegisterServer2": "other",
}


def service_of(typeid: ua.NodeId) -> str:
    """'Read' for ReadRequest_Encoding_DefaultBinary, or 'ns=…;i=…' for anything unknown."""
    name = ua.ObjectIdNames.get(typeid.Identifier, "") if typeid.NamespaceIndex == 0 else ""
    if name.endswith("Request_Encoding_DefaultBinary"):
        return name[: -len("Request_Encoding_DefaultBinary")]
    return typeid.to_string()


def _journal_requests(journal: Journal) -> None:
    """Wrap the request processor (the device process holds one server, so a class patch is local)."""
    original_process = UaProcessor.process
    original_message = UaProcessor.process_message

    async def process(self: UaProcessor, header: Any, body: Any) -> Any:
        kind = header.MessageType
        if kind != ua.MessageType.SecureMessage:
            name = {
                ua.MessageType.Hello: "Hello",
                ua.MessageType.SecureOpen: "OpenSecureChannel",
                ua.MessageType.SecureClose: "CloseSecureChannel",
            }.get(kind, repr(kind))
            journal.record(self.name, name, "other", "accepted")
        return await original_process(self, header, body)

    async def process_message(self: UaProcessor, seqhdr: Any, body: Any) -> Any:
        try:
            from asyncua.common.utils import Buffer
            from asyncua.ua.ua_binary import nodeid_from_binary

            service = service_of(nodeid_from_binary(Buffer(bytes(body))))  # a copy: body stays unread
        except Exception:  # noqa: BLE001 - an undecodable request is still journaled
            service = "undecodable"
        accepted = service != "undecodable" and (self.session is not None or service in _SESSIONLESS)
        journal.record(
            self.name,
            service,
            SERVICE_CATEGORIES.get(service, "other"),
            "accepted" if accepted else "refused",
        )
        return await original_message(self, seqhdr, body)

    UaProcessor.process = process  # type: ignore[method-assign]
    UaProcessor.process_message = process_message  # type: ignore[method-assign]


_SESSIONLESS = {
    "CreateSession",
    "ActivateSession",
    "CloseSession",
    "FindServers",
    "GetEndpoints",
    "RegisterServer",
    "RegisterServer2",
}


async def _self_signed(server: Server, spec: DeviceSpec, workdir: Path) -> bool:
    """Make a certificate for Basic256Sha256; False when the crypto helpers are unavailable."""
    try:
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID
    except ImportError:
        return False
    key, cert = workdir / "key.pem", workdir / "cert.der"
    await setup_self_signed_certificate(
        key,
        cert,
        spec.identity.application_uri or f"urn:lab:{spec.name}",
        socket.gethostname(),
        [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        {"commonName": spec.name},
    )
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    return True


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    _journal_requests(journal)
    ident = spec.identity
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://{require_loopback(spec.address, 'bind address')}:{port}/")
    server.set_server_name(ident.name or spec.name)
    await server.set_application_uri(ident.application_uri or f"urn:lab:{spec.name}")
    server.product_uri = ident.product_uri or f"urn:{ident.vendor}:{ident.model}".replace(" ", "")
    policies = [ua.SecurityPolicyType.NoSecurity]
    with tempfile.TemporaryDirectory(prefix="icsaudit-opcua-") as tmp:
        if spec.options.get("basic256sha256", True) and await _self_signed(server, spec, Path(tmp)):
            policies.append(ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
        server.set_security_policy(policies)
        idx = await server.register_namespace(f"urn:lab:{spec.name}:process")
        plant = await server.nodes.objects.add_object(idx, spec.options.get("object", "Process"))
        for tag, value in spec.options.get("tags", {"Temperature": 21.5}).items():
            var = await plant.add_variable(idx, str(tag), float(value))
            await var.set_writable()
        await _set_build_info(server, spec)
        async with server:
            await forever()


async def _set_build_info(server: Server, spec: DeviceSpec) -> None:
    ident = spec.identity
    build = server.get_node(ua.ObjectIds.Server_ServerStatus_BuildInfo)
    values = {
        ua.ObjectIds.Server_ServerStatus_BuildInfo_ManufacturerName: ident.vendor,
        ua.ObjectIds.Server_ServerStatus_BuildInfo_ProductName: ident.model,
        ua.ObjectIds.Server_ServerStatus_BuildInfo_SoftwareVersion: ident.firmware,
        ua.ObjectIds.Server_ServerStatus_BuildInfo_ProductUri: server.product_uri,
    }
    for node_id, value in values.items():
        await server.get_node(node_id).write_value(ua.Variant(value, ua.VariantType.String))
    del build
