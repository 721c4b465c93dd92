"""IT services on OT networks: one small dissector per service, in icsaudit/passive/protocols/it/.

Not in the corpus truth (tshark's ICS-only statistics): their proof is tests/unit/test_it_services.py.
"""

from __future__ import annotations

from icsaudit.passive.protocols.it.dns import DnsDissector
from icsaudit.passive.protocols.it.ftp import FtpDissector
from icsaudit.passive.protocols.it.http import HttpDissector
from icsaudit.passive.protocols.it.ntp import NtpDissector
from icsaudit.passive.protocols.it.rdp import RdpDissector
from icsaudit.passive.protocols.it.smb import SmbDissector
from icsaudit.passive.protocols.it.snmp import SnmpDissector
from icsaudit.passive.protocols.it.ssh import SshDissector
from icsaudit.passive.protocols.it.syslog import SyslogDissector
from icsaudit.passive.protocols.it.telnet import TelnetDissector
from icsaudit.passive.protocols.it.tls import TlsDissector
from icsaudit.passive.protocols.it.vnc import VncDissector

DISSECTORS = [
    TelnetDissector,
    FtpDissector,
    HttpDissector,
    SnmpDissector,
    SshDissector,
    TlsDissector,
    RdpDissector,
    VncDissector,
    SmbDissector,
    DnsDissector,
    NtpDissector,
    SyslogDissector,
]
