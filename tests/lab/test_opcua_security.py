"""The secure OPC UA device (options.security: secure) as a well-run plant configures it: only
Basic256Sha256 Sign/SignAndEncrypt endpoints with user logon, a None channel good for discovery only,
and the historian's secure client reading through it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from icsaudit.lab import control
from icsaudit.lab.clients import opcua_read

pytestmark = pytest.mark.lab

HISTORIAN = {"user": "historian", "password": "lab-historian-pw"}


def _fails(coroutine: Any) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - asyncua raises several kinds for a refusal
        asyncio.run(coroutine)
    return caught.value


def test_secure_opcua_device(lab_root: Path) -> None:
    state = control.up("research-reactor", [], traffic=False, root=lab_root)
    try:
        device = next(d for d in state["devices"] if d["name"] == "rad-opcua")
        target = (device["address"], device["port"])
        url = f"opc.tcp://{target[0]}:{target[1]}/"

        # discovery over a None channel still answers, and lists no None endpoint nor anonymous logon
        endpoints = asyncio.run(Client(url, timeout=10).connect_and_get_server_endpoints())
        assert {(e.SecurityPolicyUri.rsplit("#", 1)[-1], e.SecurityMode) for e in endpoints} == {
            ("Basic256Sha256", ua.MessageSecurityMode.Sign),
            ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt),
        }
        tokens = {t.TokenType for e in endpoints for t in e.UserIdentityTokens}
        assert tokens == {ua.UserTokenType.UserName}

        # the historian's client, as the scenario's traffic runs it, in both modes
        for mode in ("SignAndEncrypt", "Sign"):
            assert asyncio.run(opcua_read(target, {"security": mode, **HISTORIAN})).endswith(f"({mode})")

        # refused: a session on the None channel, and a wrong password on a secure one
        _fails(opcua_read(target, {}))
        _fails(opcua_read(target, {"security": "SignAndEncrypt", "user": "historian", "password": "x"}))
    finally:
        control.down(lab_root)
    refused = [
        r
        for r in control.journal(lab_root, "rad-opcua")
        if r.get("result") == "refused" and r.get("function") in ("CreateSession", "ActivateSession")
    ]
    assert refused, "the device journals the refused sessions"
    # the key pairs live in the runtime dir only
    assert sorted(p.name for p in (lab_root / "pki").rglob("*.der")) == ["client-cert.der", "server-cert.der"]
