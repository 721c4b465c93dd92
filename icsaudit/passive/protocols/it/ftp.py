"""FTP control channel (TCP 21): banner, commands, USER/PASS in clear, file transfers."""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY, LineBuffer, flagged_credential, text

COMMAND_CATEGORIES: dict[str, str] = {
    "USER": "auth",
    "PASS": "auth",
    "ACCT": "auth",
    "AUTH": "auth",
    "RETR": "read",
    "LIST": "read",
    "NLST": "read",
    "MLSD": "read",
    "MLST": "read",
    "SIZE": "read",
    "MDTM": "read",
    "STAT": "read",
    "STOR": "write",
    "STOU": "write",
    "APPE": "write",
    "DELE": "write",
    "RNFR": "write",
    "RNTO": "write",
    "MKD": "write",
    "RMD": "write",
    "SITE": "write",
}
# File operations kept as single events: command -> event kind.
EVENT_COMMANDS: dict[str, str] = {
    "STOR": "write",
    "STOU": "write",
    "APPE": "write",
    "DELE": "write",
    "RNTO": "write",
    "RETR": "read",
}
ANONYMOUS_USERS = frozenset(("anonymous", "ftp"))


class FtpDissector(Dissector):
    name = "ftp"
    tcp_ports = frozenset((21,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.lines = (LineBuffer(), LineBuffer())
        self.user = ""
        self.secret: str | None = None  # PASS seen, waiting for the server's verdict

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return not from_client and data[:4] in (b"220 ", b"220-") and b"FTP" in data[:200].upper()

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        for line in self.lines[0 if from_client else 1].feed(data):
            if from_client:
                self._command(line)
            else:
                self._reply(line)

    def _command(self, line: bytes) -> None:
        verb, _, argument = text(line).partition(" ")
        verb = verb.upper()
        if not verb.isalpha() or len(verb) > 4:
            self.session.error("ftp: not an FTP command line")
            return
        self.session.pdu(verb, COMMAND_CATEGORIES.get(verb, "other"))
        if verb == "USER":
            self.user, self.secret = argument, None
        elif verb == "PASS":
            self.secret = argument
        elif verb in EVENT_COMMANDS and EVENT_COMMANDS[verb] == "write":
            self.session.event("write", "write", verb, {"path": argument[:256]})

    def _reply(self, line: bytes) -> None:
        code = line[:3]
        if len(line) < 3 or not code.isdigit() or line[3:4] not in (b" ", b"-", b""):
            return  # continuation line of a multi-line reply
        if line[3:4] == b"-" and code != b"220":
            return
        number = int(code)
        self.session.pdu(code.decode(), "other", request=False, exception=number >= 400)
        if number == 220:
            self.session.service(banner=text(line[4:]), details={"cleartext_login": True})
        if self.secret is not None and number in (230, 530, 430):
            self._login(accepted=number == 230)

    def _login(self, accepted: bool | None) -> None:
        flags = {"anonymous": self.user.lower() in ANONYMOUS_USERS}
        if accepted is not None:
            flags["accepted"] = accepted
        flagged_credential(self.session, "ftp-login", self.user, self.secret or "", **flags)
        self.secret = None

    def on_gap(self, from_client: bool) -> None:
        self.lines[0 if from_client else 1].reset()

    def on_close(self) -> None:
        if self.secret is not None:
            self._login(accepted=None)
