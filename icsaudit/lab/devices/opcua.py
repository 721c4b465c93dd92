"""OPC UA server on asyncua: application and product URIs and build info from the identity, a few
process variables; every request is journaled by service name.

Endpoints, by ``options.security``:
- ``mixed`` (default): SecurityMode None with anonymous logon, plus Basic256Sha256 SignAndEncrypt;
- ``secure``: only Basic256Sha256 Sign and SignAndEncrypt, username tokens checked against
  ``options.users``, and only the client certificate provisioned for the plant trusted, as a
  well-run site configures its servers.
The certificates are made at each start (see ``provision``) in the lab runtime dir: none is committed.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.uaprocessor import UaProcessor

from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

# The application URI in the plant clients' certificate (a client's URI must match its certificate).
CLIENT_URI = "urn:lab:opcua-client"

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


def _journal_requests(journal: Journal, discovery_only_on_none: bool = False) -> None:
    """Wrap the request processor (the device process holds one server, so a class patch is local).
    With ``discovery_only_on_none`` a None channel serves only discovery: asyncua itself would let a
    session be created on it even when no None endpoint is offered."""
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
        refuse = (
            discovery_only_on_none
            and service not in _DISCOVERY
            and self._connection.security_policy.URI == POLICY_NONE
        )
        journal.record(
            self.name,
            service,
            SERVICE_CATEGORIES.get(service, "other"),
            "accepted" if accepted and not refuse else "refused",
        )
        if refuse:
            from asyncua.ua.ua_binary import nodeid_from_binary, struct_from_binary

            nodeid_from_binary(body)
            header = struct_from_binary(ua.RequestHeader, body)
            fault = ua.ServiceFault()
            fault.ResponseHeader.ServiceResult = ua.StatusCode(ua.StatusCodes.BadSecurityPolicyRejected)
            self.send_response(header.RequestHandle, seqhdr, fault)
            return True
        return await original_message(self, seqhdr, body)

    UaProcessor.process = process  # type: ignore[method-assign]
    UaProcessor.process_message = process_message  # type: ignore[method-assign]


_DISCOVERY = {"GetEndpoints", "FindServers", "FindServersOnNetwork"}
POLICY_NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"
_SESSIONLESS = {
    "CreateSession",
    "ActivateSession",
    "CloseSession",
    "FindServers",
    "GetEndpoints",
    "RegisterServer",
    "RegisterServer2",
}


def pki_dir(address: str, port: int) -> Path:
    """Where the device at address:port keeps its own and its clients' key pairs (the traffic's
    clients read them from there: both processes get the runtime dir from ``up``)."""
    from icsaudit.lab.control import runtime_dir

    return runtime_dir() / "pki" / f"{address}_{port}"


async def provision(spec: DeviceSpec, folder: Path) -> None:
    """Fresh self-signed key pairs (RSA 2048, made with ``cryptography`` through asyncua's helper) for
    the server and for its plant clients: server-key.pem, server-cert.der, client-key.pem,
    client-cert.der. Made anew at each start, so no key outlives the lab run."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    for role, uri, usage in (
        ("server", spec.identity.application_uri or f"urn:lab:{spec.name}", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        await setup_self_signed_certificate(
            folder / f"{role}-key.pem",
            folder / f"{role}-cert.der",
            uri,
            socket.gethostname(),
            [usage],
            {"commonName": f"{spec.name} {role}"},
        )


class _Users:
    """asyncua user manager: the configured user names and passwords, nobody else."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {str(k): str(v) for k, v in users.items()}

    def get_user(
        self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None
    ) -> Any:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


def _trust_only(folder: Path) -> Any:
    """A certificate validator accepting only the provisioned client certificate (explicit trust)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    trusted = (folder / "client-cert.der").read_bytes()

    async def validate(certificate: Any, app_description: Any) -> None:
        if certificate.public_bytes(Encoding.DER) != trusted:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    return validate


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    ident = spec.identity
    security = spec.options.get("security", "mixed")
    if security not in ("mixed", "secure"):
        raise ValueError(f"{spec.name}: options.security must be mixed or secure, not {security!r}")
    secure = security == "secure"
    _journal_requests(journal, discovery_only_on_none=secure)
    server = Server(user_manager=_Users(spec.options.get("users", {})) if secure else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://{require_loopback(spec.address, 'bind address')}:{port}/")
    server.set_server_name(ident.name or spec.name)
    await server.set_application_uri(ident.application_uri or f"urn:lab:{spec.name}")
    server.product_uri = ident.product_uri or f"urn:{ident.vendor}:{ident.model}".replace(" ", "")
    folder = pki_dir(spec.address, port)
    await provision(spec, folder)
    await server.load_certificate(str(folder / "server-cert.der"))
    await server.load_private_key(str(folder / "server-key.pem"))
    if secure:
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        )
        server.set_identity_tokens([ua.UserNameIdentityToken])
        server.set_certificate_validator(_trust_only(folder))
    else:
        server.set_security_policy(
            [ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        )
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
