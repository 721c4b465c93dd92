"""Vulnerability matching of identified devices against CSAF ICS advisories and CISA KEV, offline.

- ``store``: import CSAF 2.0 advisories and the KEV catalog into a local SQLite file;
- ``versions``: firmware versions and affected-version expressions as the real advisories write them;
- ``normalize`` + ``aliases.yaml``: vendor spellings, product families and order numbers;
- ``match``: an index by vendor, ``match_assets`` for evidence assets and ``vulnerability_rows`` for the
  check engine's ``vulnerabilities`` table.
"""
