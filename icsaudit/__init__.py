"""icsaudit: cyber-security posture assessment of ICS/OT at CBRN facilities."""

__version__ = "0.1.0"
