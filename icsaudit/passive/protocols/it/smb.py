"""SMB over NetBIOS session service (TCP 445, 139): SMB1 vs SMB2/3 commands, negotiated dialect, signing."""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector, StreamBuffer
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

SMB2_COMMANDS: dict[int, tuple[str, str]] = {
    0x00: ("negotiate", "other"),
    0x01: ("session_setup", "auth"),
    0x02: ("logoff", "auth"),
    0x03: ("tree_connect", "other"),
    0x04: ("tree_disconnect", "other"),
    0x05: ("create", "other"),
    0x06: ("close", "other"),
    0x07: ("flush", "write"),
    0x08: ("read", "read"),
    0x09: ("write", "write"),
    0x0A: ("lock", "other"),
    0x0B: ("ioctl", "other"),
    0x0C: ("cancel", "other"),
    0x0D: ("echo", "diagnostic"),
    0x0E: ("query_directory", "read"),
    0x0F: ("change_notify", "other"),
    0x10: ("query_info", "read"),
    0x11: ("set_info", "write"),
    0x12: ("oplock_break", "other"),
}
SMB1_COMMANDS: dict[int, tuple[str, str]] = {
    0x04: ("smb1/close", "other"),
    0x25: ("smb1/trans", "other"),
    0x2E: ("smb1/read_andx", "read"),
    0x2F: ("smb1/write_andx", "write"),
    0x32: ("smb1/trans2", "other"),
    0x71: ("smb1/tree_disconnect", "other"),
    0x72: ("smb1/negotiate", "other"),
    0x73: ("smb1/session_setup_andx", "auth"),
    0x74: ("smb1/logoff_andx", "auth"),
    0x75: ("smb1/tree_connect_andx", "other"),
    0xA2: ("smb1/nt_create_andx", "other"),
}
DIALECTS: dict[int, str] = {
    0x0202: "2.0.2",
    0x0210: "2.1",
    0x0300: "3.0",
    0x0302: "3.0.2",
    0x0311: "3.1.1",
    0x02FF: "2.???",
}
SMB2_HEADER = 64


def nbss_length(buf: bytes) -> int | None:
    if len(buf) < 4:
        return None
    if buf[0] not in (0x00, 0x81, 0x82, 0x83, 0x84, 0x85):
        return 0
    return 4 + (((buf[1] & 1) << 16) | (buf[2] << 8) | buf[3])


class SmbDissector(Dissector):
    name = "smb"
    tcp_ports = frozenset((445, 139))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buffers = (StreamBuffer(), StreamBuffer())
        self.smb1_noted = False

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return len(data) >= 8 and data[0] == 0 and data[4:8] in (b"\xffSMB", b"\xfeSMB")

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        for message in self.buffers[0 if from_client else 1].feed(data, nbss_length):
            kind = message[0]
            if kind != 0:
                self.session.pdu("nbss/session_request" if kind == 0x81 else f"nbss/0x{kind:02x}", "other")
                continue
            body = message[4:]
            if body[:4] == b"\xfeSMB":
                self._smb2(body)
            elif body[:4] == b"\xffSMB":
                self._smb1(body, from_client)
            else:
                self.session.error("smb: NetBIOS message without an SMB header")

    def _smb1(self, body: bytes, from_client: bool) -> None:
        if len(body) < 32:
            self.session.error("smb: truncated SMB1 header")
            return
        command = body[4]
        is_reply = bool(body[9] & 0x80)
        key, category = SMB1_COMMANDS.get(command, (f"smb1/0x{command:02x}", "other"))
        self.session.pdu(key, category, request=not is_reply, exception=is_reply and body[5:9] != b"\0\0\0\0")
        if not self.smb1_noted:
            self.smb1_noted = True
            if command == 0x72 and not is_reply:
                dialects = [d.decode("latin-1") for d in body[35:].split(b"\x02")[1:] if d]
                self.session.service(
                    details={
                        "smb1_offered": True,
                        "dialects_offered": [d.rstrip("\0") for d in dialects][:16],
                    }
                )
        if is_reply:
            self.session.service(details={"smb1": True})

    def _smb2(self, body: bytes) -> None:
        while len(body) >= SMB2_HEADER:
            command = int.from_bytes(body[12:14], "little")
            is_reply = bool(body[16] & 0x01)
            status = int.from_bytes(body[8:12], "little")
            key, category = SMB2_COMMANDS.get(command, (f"0x{command:04x}", "other"))
            pending = status == 0x00000103  # STATUS_PENDING is not an error
            self.session.pdu(
                key, category, request=not is_reply, exception=is_reply and status != 0 and not pending
            )
            if command == 0 and is_reply and len(body) >= SMB2_HEADER + 6:
                mode = int.from_bytes(body[SMB2_HEADER + 2 : SMB2_HEADER + 4], "little")
                dialect = int.from_bytes(body[SMB2_HEADER + 4 : SMB2_HEADER + 6], "little")
                self.session.service(
                    details={
                        "smb1": False,
                        "smb_dialect": DIALECTS.get(dialect, f"0x{dialect:04x}"),
                        "signing_required": bool(mode & 0x02),
                    }
                )
            following = int.from_bytes(body[20:24], "little")  # NextCommand: compounded requests
            if not following or following < SMB2_HEADER:
                break
            body = body[following:]

    def on_gap(self, from_client: bool) -> None:
        self.buffers[0 if from_client else 1].reset()
