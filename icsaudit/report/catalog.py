"""Our OSCAL catalog of control ids: IEC 62443-3-3 SRs and IAEA NSS 17-T CSL rules.

Identifiers only plus our own short labels (the IEC text is paid; the IAEA rules are paraphrased).
``python -m icsaudit.report.catalog`` rewrites reports/oscal/catalog-icsaudit.json deterministically.
"""

from __future__ import annotations

import re

from icsaudit.ids import stable_uuid
from icsaudit.jsonio import dumps_json
from icsaudit.report.templates import reports_dir

OSCAL_VERSION = "1.2.1"
CATALOG_FILE = "oscal/catalog-icsaudit.json"
_TOKEN_BAD = re.compile(r"[^a-z0-9._-]+")

IEC_62443_3_3 = {
    "FR 1 Identification and authentication control": [
        ("SR 1.1", "Human user identification and authentication"),
        ("SR 1.2", "Software process and device identification and authentication"),
        ("SR 1.3", "Account management"),
        ("SR 1.4", "Identifier management"),
        ("SR 1.5", "Authenticator management"),
        ("SR 1.6", "Wireless access management"),
        ("SR 1.7", "Strength of password-based authentication"),
        ("SR 1.8", "Public key infrastructure certificates"),
        ("SR 1.9", "Strength of public key authentication"),
        ("SR 1.10", "Authenticator feedback"),
        ("SR 1.11", "Unsuccessful login attempts"),
        ("SR 1.12", "System use notification"),
        ("SR 1.13", "Access via untrusted networks"),
    ],
    "FR 2 Use control": [
        ("SR 2.1", "Authorization enforcement"),
        ("SR 2.2", "Wireless use control"),
        ("SR 2.3", "Use control for portable and mobile devices"),
        ("SR 2.4", "Mobile code"),
        ("SR 2.5", "Session lock"),
        ("SR 2.6", "Remote session termination"),
        ("SR 2.7", "Concurrent session control"),
        ("SR 2.8", "Auditable events"),
        ("SR 2.9", "Audit storage capacity"),
        ("SR 2.10", "Response to audit processing failures"),
        ("SR 2.11", "Timestamps"),
        ("SR 2.12", "Non-repudiation"),
    ],
    "FR 3 System integrity": [
        ("SR 3.1", "Communication integrity"),
        ("SR 3.2", "Malicious code protection"),
        ("SR 3.3", "Security functionality verification"),
        ("SR 3.4", "Software and information integrity"),
        ("SR 3.5", "Input validation"),
        ("SR 3.6", "Deterministic output"),
        ("SR 3.7", "Error handling"),
        ("SR 3.8", "Session integrity"),
        ("SR 3.9", "Protection of audit information"),
    ],
    "FR 4 Data confidentiality": [
        ("SR 4.1", "Information confidentiality"),
        ("SR 4.2", "Information persistence"),
        ("SR 4.3", "Use of cryptography"),
    ],
    "FR 5 Restricted data flow": [
        ("SR 5.1", "Network segmentation"),
        ("SR 5.2", "Zone boundary protection"),
        ("SR 5.3", "General purpose person-to-person communication restrictions"),
        ("SR 5.4", "Application partitioning"),
    ],
    "FR 6 Timely response to events": [
        ("SR 6.1", "Audit log accessibility"),
        ("SR 6.2", "Continuous monitoring"),
    ],
    "FR 7 Resource availability": [
        ("SR 7.1", "Denial of service protection"),
        ("SR 7.2", "Resource management"),
        ("SR 7.3", "Control system backup"),
        ("SR 7.4", "Control system recovery and reconstitution"),
        ("SR 7.5", "Emergency power"),
        ("SR 7.6", "Network and security configuration settings"),
        ("SR 7.7", "Least functionality"),
        ("SR 7.8", "Control system component inventory"),
    ],
}

IAEA_CSL_RULES = {
    "CSL 1 (most stringent: e.g. protection systems)": [
        ("CSL-1.R1", "One-way communication outward only; no inbound data flow"),
        ("CSL-1.R2", "No remote maintenance"),
        ("CSL-1.R3", "Changes only on site, authorised and verified"),
    ],
    "CSL 2 (e.g. operational control)": [
        ("CSL-2.R1", "No inbound connection from less stringent zones (acknowledgements only)"),
        ("CSL-2.R2", "Only authorised, local changes to control functions"),
        ("CSL-2.R3", "No remote maintenance"),
    ],
    "CSL 3 (e.g. supervision, plant computer)": [
        ("CSL-3.R1", "No direct Internet connectivity"),
        ("CSL-3.R2", "Connections to CSL 4 only through a controlled gateway"),
        ("CSL-3.R3", "Remote access only through controlled, authenticated means"),
    ],
    "CSL 4 (e.g. technical data, office applications for operations)": [
        ("CSL-4.R1", "No direct Internet connectivity; authorised services only")
    ],
    "CSL 5 (e.g. business and Internet-facing)": [
        ("CSL-5.R1", "Internet connectivity only with protective measures")
    ],
}


def control_id(requirement_id: str) -> str:
    """An OSCAL token from a requirement id: 'SR 1.1' -> 'sr-1.1', 'CSL-2.R1' -> 'csl-2.r1'."""
    token = _TOKEN_BAD.sub("-", requirement_id.strip().lower()).strip("-") or "unnamed"
    return token if token[0].isalpha() or token[0] == "_" else f"c-{token}"


def _group(group_id: str, title: str, controls: list[tuple[str, str]]) -> dict:
    return {
        "id": group_id,
        "title": title,
        "controls": [
            {"id": control_id(cid), "title": text, "props": [{"name": "label", "value": cid}]}
            for cid, text in controls
        ],
    }


def build_catalog() -> dict:
    iec = [
        _group(control_id(f"iec62443-3-3-{title.split()[0]}{title.split()[1]}"), title, controls)
        for title, controls in IEC_62443_3_3.items()
    ]
    iaea = [
        _group(control_id(f"iaea-nss17-{title.split()[1]}"), title, controls)
        for title, controls in IAEA_CSL_RULES.items()
    ]
    return {
        "catalog": {
            "uuid": stable_uuid("icsaudit-catalog", "1"),
            "metadata": {
                "title": "icsaudit control identifiers: IEC 62443-3-3 SRs and IAEA NSS 17-T CSL rules",
                "last-modified": "2026-03-01T00:00:00Z",
                "version": "1",
                "oscal-version": OSCAL_VERSION,
                "remarks": "Identifiers with icsaudit's own short labels; not the text of IEC 62443-3-3 (paid) "
                "nor of IAEA NSS 17-T (paraphrased rules).",
            },
            "groups": [
                {"id": "iec62443-3-3", "title": "IEC 62443-3-3 system security requirements", "groups": iec},
                {"id": "iaea-nss17", "title": "IAEA NSS 17-T computer security levels", "groups": iaea},
            ],
        }
    }


def main() -> None:
    from icsaudit.report.io import write_file

    write_file(reports_dir() / CATALOG_FILE, dumps_json(build_catalog()))


if __name__ == "__main__":
    main()
