"""PROFINET DCP (Discovery and basic Configuration Protocol), EtherType 0x8892 with frame id 0xFEFC-0xFEFF.

Other PROFINET RT frames (cyclic I/O, alarms, PTCP) share the EtherType and are ignored here. The key
is ``<service id>/<service type>`` as tshark prints it. Identify/Hello/Get answers describe the device
(station type and name, vendor/device id, IP) and give its identity, attributed to the sender MAC;
Set requests change a device's name or IP (a configuration change) or reset it to factory settings.
"""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector

DCP_FRAME_IDS = range(0xFEFC, 0xFF00)  # Hello, Get/Set, Identify request, Identify response
# service id -> (name, category)
DCP_SERVICES: dict[int, tuple[str, str]] = {
    3: ("get", "read"),
    4: ("set", "write"),
    5: ("identify", "identify"),
    6: ("hello", "identify"),
}
# Set request (option, suboption) -> category, when it is more than a configuration write.
DCP_SET_CATEGORY: dict[tuple[int, int], str] = {
    (5, 3): "control",  # Signal: flash the device LED
    (5, 5): "mode",  # Reset factory settings
    (5, 6): "mode",  # Reset to factory (communication parameters)
}
# (option, suboption) -> field name, for the blocks worth reporting in a Set event.
DCP_BLOCK_NAMES: dict[tuple[int, int], str] = {
    (1, 1): "mac",
    (1, 2): "ip",
    (1, 3): "ip_suite",
    (2, 1): "type_of_station",
    (2, 2): "name_of_station",
    (2, 3): "device_id",
    (2, 4): "device_role",
    (2, 6): "alias_name",
    (3, 61): "dhcp",
    (5, 3): "signal",
    (5, 5): "reset_factory_settings",
    (5, 6): "reset_to_factory",
}
# PROFINET vendor ids (PI list) seen in the field and in the corpus.
PROFINET_VENDORS: dict[int, str] = {
    0x002A: "Siemens",
    0x00B0: "Phoenix Contact",
    0x011E: "Hilscher",
    0x015A: "GE",
}
DEVICE_ROLES: dict[int, str] = {1: "io-device", 2: "io-controller", 4: "io-multidevice", 8: "io-supervisor"}
# Control options that only bracket a Set transaction.
TRANSACTION_CONTROL = frozenset({(5, 1), (5, 2), (5, 4)})


def _text(value: bytes) -> str:
    return value.decode("latin-1").strip(" \x00")


def _ip(value: bytes) -> str:
    return ".".join(str(b) for b in value[:4])


class ProfinetDcp(Dissector):
    name = "profinet_dcp"
    ethertypes = frozenset({0x8892})

    def on_frame(self, data: bytes) -> bool | None:
        if len(data) < 2 or ((data[0] << 8) | data[1]) not in DCP_FRAME_IDS:
            return False  # cyclic I/O, alarms, PTCP: not DCP, the core names the frame's flow otherwise
        session = self.session
        if len(data) < 12:
            session.error("DCP: truncated header")
            return
        service_id, service_type = data[2], data[3]
        length = (data[10] << 8) | data[11]
        end = 12 + length
        if end > len(data):
            session.error("DCP: data length beyond the frame")
            end = len(data)
        name, category = DCP_SERVICES.get(service_id, ("other", "other"))
        is_request = not service_type & 1
        key = f"{service_id}/{service_type}"
        blocks = self._blocks(data, end, service_id, is_request)
        if service_id == 4 and is_request:
            for option in blocks:
                category = DCP_SET_CATEGORY.get(option, category) if category == "write" else category
        failed = any(
            option == (5, 4) and value[-1:] not in (b"", b"\x00") for option, value in blocks.items()
        )
        session.pdu(key, category, request=is_request, exception=failed or service_type == 5)
        if service_id == 4 and is_request:
            self._set_event(key, category, blocks)
        elif not is_request or service_id == 6:
            self._identity(blocks)

    def _blocks(
        self, data: bytes, end: int, service_id: int, is_request: bool
    ) -> dict[tuple[int, int], bytes]:
        """(option, suboption) -> block content (BlockInfo/BlockQualifier removed)."""
        blocks: dict[tuple[int, int], bytes] = {}
        if service_id == 3 and is_request:  # Get request: a bare list of (option, suboption)
            for off in range(12, end - 1, 2):
                blocks[(data[off], data[off + 1])] = b""
            return blocks
        # Responses and Hello carry BlockInfo, Set requests a BlockQualifier: 2 bytes before the value.
        skip = 0 if (service_id == 5 and is_request) else 2
        off = 12
        while off + 4 <= end:
            option, suboption = data[off], data[off + 1]
            size = (data[off + 2] << 8) | data[off + 3]
            value_end = off + 4 + size
            if value_end > end:
                self.session.error(f"DCP: block {option}/{suboption} overruns the data")
                break
            blocks[(option, suboption)] = data[off + 4 + min(skip, size) : value_end]
            off = value_end + (size & 1)  # blocks are padded to an even length
        return blocks

    def _set_event(self, key: str, category: str, blocks: dict[tuple[int, int], bytes]) -> None:
        detail: dict[str, object] = {}
        for option, value in blocks.items():
            if option in TRANSACTION_CONTROL:
                continue
            field = DCP_BLOCK_NAMES.get(option, f"option_{option[0]}_{option[1]}")
            if option in ((1, 2), (1, 3)) and len(value) >= 12:
                detail[field] = {"ip": _ip(value), "netmask": _ip(value[4:]), "gateway": _ip(value[8:])}
            elif option[0] == 2 and option != (2, 3):
                detail[field] = _text(value)
            else:
                detail[field] = value.hex()
        detail["target_mac"] = self.session.server_ip  # layer-2 session: the destination MAC
        self.session.event(category, category, key, detail)

    def _identity(self, blocks: dict[tuple[int, int], bytes]) -> None:
        session = self.session
        raw: dict[str, object] = {}
        fields: dict[str, str] = {}
        if (2, 1) in blocks:
            raw["type_of_station"] = fields["model"] = _text(blocks[(2, 1)])
        if (2, 2) in blocks:
            raw["name_of_station"] = fields["name"] = _text(blocks[(2, 2)])
        ids = blocks.get((2, 3), b"")
        if len(ids) >= 4:
            vendor_id, device_id = (ids[0] << 8) | ids[1], (ids[2] << 8) | ids[3]
            raw["vendor_id"], raw["device_id"] = vendor_id, device_id
            fields["vendor"] = PROFINET_VENDORS.get(vendor_id, f"PROFINET vendor 0x{vendor_id:04x}")
            fields["profinet_vendor_id"] = f"0x{vendor_id:04x}"
            fields["profinet_device_id"] = f"0x{device_id:04x}"
        role = blocks.get((2, 4), b"")
        if role:
            fields["device_type"] = DEVICE_ROLES.get(role[0], f"profinet-role-{role[0]}")
        ip_block = blocks.get((1, 2), b"")
        ip = ""
        if len(ip_block) >= 4:
            raw["ip"] = fields["ip"] = ip = _ip(ip_block)
        if not raw:
            return
        mac = session.src_mac
        session.identity({"src": mac, **raw}, fields, ip="" if ip == "0.0.0.0" else ip, mac=mac)


DISSECTOR = ProfinetDcp
