"""The local advisory store: one SQLite file (stdlib, no server, safe to copy to an air-gapped site).

Each advisory is one row keyed by its tracking id holding the msgspec-encoded ``Advisory``; importing
the same id again replaces it unless the stored revision is newer. The KEV catalog is a snapshot:
importing one replaces the previous. Matching loads everything into memory (a few MB).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from icsaudit.advisories.csaf import is_csaf, parse_csaf
from icsaudit.advisories.kev import is_kev, parse_kev
from icsaudit.advisories.model import Advisory, KevCatalog, KevEntry
from icsaudit.advisories.versions import parse_range, parse_version
from icsaudit.errors import InputError

STORE_SCHEMA = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
  advisory_id TEXT PRIMARY KEY, revision TEXT NOT NULL, title TEXT NOT NULL,
  initial_release TEXT NOT NULL, current_release TEXT NOT NULL,
  products INTEGER NOT NULL, vulnerabilities INTEGER NOT NULL,
  source TEXT NOT NULL, imported_at TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kev (cve TEXT PRIMARY KEY, doc BLOB NOT NULL);
"""
_advisory_decoder = msgspec.msgpack.Decoder(Advisory)
_kev_decoder = msgspec.msgpack.Decoder(KevEntry)
_encoder = msgspec.msgpack.Encoder()


def default_store_path() -> Path:
    """``$ICSAUDIT_HOME/advisories.sqlite``, else ``$XDG_DATA_HOME/icsaudit/…``, else ``~/.local/share/icsaudit/…``."""
    home = os.environ.get("ICSAUDIT_HOME")
    if home:
        return Path(home) / "advisories.sqlite"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "icsaudit" / "advisories.sqlite"


class ImportReport(msgspec.Struct, kw_only=True):
    files: int = 0
    advisories: int = 0  # new or replaced in this import
    replaced: int = 0  # of which an id already in the store (same or older revision)
    kept_newer: list[str] = []  # "ICSA-..: stored revision 3 is newer than 2 in <file>"
    products: int = 0
    vulnerabilities: int = 0
    unparsed_ranges: int = 0  # version expressions matching cannot compare (reported with medium confidence)
    kev_entries: int = 0
    kev_version: str = ""
    failures: list[tuple[str, str]] = []  # (file, one-line problem)


class StoreStatus(msgspec.Struct, kw_only=True):
    path: str
    advisories: int
    products: int
    vulnerabilities: int
    newest_advisory: str  # current_release_date of the newest advisory
    newest_advisory_id: str
    oldest_advisory: str
    last_import: str
    kev_entries: int
    kev_version: str
    kev_released: str
    kev_imported: str


@contextmanager
def _connect(path: Path, create: bool) -> Iterator[sqlite3.Connection]:
    if not create and not path.is_file():
        raise InputError(
            f"no advisory store at {path}",
            hint="import advisories first: icsaudit advisories import DIR [--store PATH]",
        )
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(path)) as conn:
            conn.executescript(_SCHEMA)
            yield conn
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a usable advisory store ({exc})") from None


def _json_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


def _revision_key(revision: str) -> tuple:
    parsed = parse_version(revision)
    return parsed.key if parsed else ()


def import_files(paths: Iterable[Path], store: Path) -> ImportReport:
    """Import CSAF advisories and KEV catalogs from files and directories; a bad file is reported in
    ``failures`` and the others are still imported."""
    report = ImportReport()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with _connect(store, create=True) as conn:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (STORE_SCHEMA,))
        for path in _json_files(paths):
            report.files += 1
            try:
                _import_one(conn, path, now, report)
            except InputError as exc:
                report.failures.append((str(path), exc.message))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_import', ?)", (now,))
        conn.commit()
    return report


def _import_one(conn: sqlite3.Connection, path: Path, now: str, report: ImportReport) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if is_kev(doc):
        _store_kev(conn, parse_kev(doc, path), str(path), now, report)
    elif is_csaf(doc):
        _store_advisory(conn, parse_csaf(doc, path), str(path), now, report)
    else:
        raise InputError(
            f"{path}: neither a CSAF 2.0 advisory (document.csaf_version) nor a KEV catalog "
            "(catalogVersion, vulnerabilities)"
        )


def _store_advisory(
    conn: sqlite3.Connection, advisory: Advisory, source: str, now: str, report: ImportReport
) -> None:
    stored = conn.execute(
        "SELECT revision FROM advisories WHERE advisory_id = ?", (advisory.advisory_id,)
    ).fetchone()
    if stored and _revision_key(stored[0]) > _revision_key(advisory.revision):
        report.kept_newer.append(
            f"{advisory.advisory_id}: stored revision {stored[0]} is newer than "
            f"{advisory.revision} in {source}"
        )
        return
    conn.execute(
        "INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            advisory.advisory_id,
            advisory.revision,
            advisory.title,
            advisory.initial_release,
            advisory.current_release,
            len(advisory.products),
            len(advisory.vulnerabilities),
            source,
            now,
            _encoder.encode(advisory),
        ),
    )
    report.advisories += 1
    report.replaced += 1 if stored else 0
    report.products += len(advisory.products)
    report.vulnerabilities += len(advisory.vulnerabilities)
    report.unparsed_ranges += sum(
        1
        for p in advisory.products
        if p.version_kind and parse_range(p.version, p.version_kind).kind == "unparsed"
    )


def _store_kev(
    conn: sqlite3.Connection, catalog: KevCatalog, source: str, now: str, report: ImportReport
) -> None:
    conn.execute("DELETE FROM kev")
    conn.executemany(
        "INSERT OR REPLACE INTO kev VALUES (?, ?)", ((e.cve, _encoder.encode(e)) for e in catalog.entries)
    )
    for key, value in (
        ("kev_version", catalog.version),
        ("kev_released", catalog.released),
        ("kev_imported", now),
        ("kev_source", source),
    ):
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
    report.kev_entries += len(catalog.entries)
    report.kev_version = catalog.version


def load_advisories(store: Path) -> tuple[list[Advisory], dict[str, KevEntry]]:
    """Every stored advisory and the KEV catalog by CVE id."""
    with _connect(store, create=False) as conn:
        advisories = [
            _advisory_decoder.decode(row[0])
            for row in conn.execute("SELECT doc FROM advisories ORDER BY advisory_id")
        ]
        kev = {row[0]: _kev_decoder.decode(row[1]) for row in conn.execute("SELECT cve, doc FROM kev")}
    return advisories, kev


def store_status(store: Path) -> StoreStatus:
    with _connect(store, create=False) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        count, products, vulns, newest, oldest = conn.execute(
            "SELECT count(*), coalesce(sum(products), 0), coalesce(sum(vulnerabilities), 0), "
            "coalesce(max(current_release), ''), coalesce(min(initial_release), '') FROM advisories"
        ).fetchone()
        newest_id = conn.execute(
            "SELECT advisory_id FROM advisories ORDER BY current_release DESC LIMIT 1"
        ).fetchone()
        kev_count = conn.execute("SELECT count(*) FROM kev").fetchone()[0]
    return StoreStatus(
        path=str(store),
        advisories=count,
        products=products,
        vulnerabilities=vulns,
        newest_advisory=newest,
        newest_advisory_id=newest_id[0] if newest_id else "",
        oldest_advisory=oldest,
        last_import=meta.get("last_import", ""),
        kev_entries=kev_count,
        kev_version=meta.get("kev_version", ""),
        kev_released=meta.get("kev_released", ""),
        kev_imported=meta.get("kev_imported", ""),
    )


def age_days(timestamp: str, now: float | None = None) -> int | None:
    """Whole days from an ISO timestamp (or date) to now; None when there is none."""
    if not timestamp:
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(((now if now is not None else time.time()) - moment.timestamp()) // 86400)
