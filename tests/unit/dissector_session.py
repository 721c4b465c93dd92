"""A dissector on a real Recorder/Session for one TCP flow from CLIENT to SERVER, as the dissector
unit tests drive it: PDUs built as bytes in the test, fed segment by segment."""

from __future__ import annotations

from typing import Any

from icsaudit.passive.session import FlowAgg, Recorder, Session

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


def open_session(dissector_cls: type, protocol: str, port: int) -> tuple[Any, Recorder, Session]:
    """(dissector, recorder, session) for a flow CLIENT:40000 -> SERVER:``port``, frame 1 of t.pcap."""
    recorder = Recorder()
    recorder.file, recorder.frame = "t.pcap", 1
    agg = FlowAgg(CLIENT, SERVER, "tcp", port, protocol)
    agg.flow_id = "f"
    session = Session(recorder, protocol, agg, "tcp", CLIENT, SERVER, 40000, port, frozenset({port}))
    return dissector_cls(session), recorder, session


def feed(dissector: Any, recorder: Recorder, data: bytes, from_client: bool, frame: int) -> None:
    """One TCP segment of frame ``frame``, from the client or the server."""
    recorder.frame = frame
    dissector.session.from_client = from_client
    dissector.on_tcp(data, from_client)
