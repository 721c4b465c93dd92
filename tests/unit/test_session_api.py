"""The Session API dissectors report through: identity replacement, frame-only counts, flagged credentials."""

from __future__ import annotations

from icsaudit.passive.session import Recorder, Session, secret_digest


def session(recorder: Recorder, protocol: str = "p") -> Session:
    agg = recorder.flow("10.0.0.1", "10.0.0.2", "tcp", 44818, protocol)
    return Session(recorder, protocol, agg, "tcp", "10.0.0.1", "10.0.0.2", 50000, 44818, frozenset({44818}))


def test_identity_replaces_the_older_merged_object() -> None:
    rec = Recorder()
    s = session(rec)
    first = {"src": "10.0.0.1", "device_instance": 7}
    s.identity(first, {"name": "a"})
    merged = {**first, "vendor_id": 5}
    s.identity(merged, {"name": "a", "vendor_id": 5}, replaces=first)
    assert rec.protocol_stats()["p"].identities == [merged]
    # Going back to an earlier statement after a replacement restores it (no stale repeat shortcut).
    s.identity(first, {"name": "a"}, replaces=merged)
    assert rec.protocol_stats()["p"].identities == [first]


def test_frame_only_counts_frame_and_conversation_not_a_pdu() -> None:
    rec = Recorder()
    s = session(rec, "enip")
    rec.frame = 3
    s.frame_only("cip")
    s.frame_only("cip")
    s.pdu("x", "read", protocol="cip")  # same frame: not counted twice
    stats = rec.protocol_stats()["cip"]
    assert (stats.frames, stats.pdus) == (1, 1)
    assert stats.conversations == [("10.0.0.1", "10.0.0.2", 44818, "tcp")]


def test_credential_flags_ride_along_digests_only() -> None:
    rec = Recorder()
    s = session(rec)
    s.credential("snmp-community", "", "public", flags={"default_community": True, "accepted": False})
    (event,) = rec.events
    assert event.detail == {
        "method": "snmp-community",
        "secret_digest": secret_digest("public"),
        "default_community": True,
        "accepted": False,
    }
    assert "public" not in str(event.detail)
