"""Evidence: the observed facts, their JSON schema, atomic I/O and merge."""

from icsaudit.evidence.io import load_evidence, save_evidence
from icsaudit.evidence.merge import merge_evidence
from icsaudit.evidence.model import OPERATION_CATEGORIES, SCHEMA_VERSION, Evidence

__all__ = [
    "OPERATION_CATEGORIES",
    "SCHEMA_VERSION",
    "Evidence",
    "load_evidence",
    "merge_evidence",
    "save_evidence",
]
