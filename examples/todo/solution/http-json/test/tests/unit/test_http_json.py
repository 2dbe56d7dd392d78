import io
from email.message import Message

import pytest

from todo.http_json import BadRequest, read_json, send_json


class FakeHandler:
    """Just the attributes read_json and send_json use."""

    def __init__(self, body: bytes = b"") -> None:
        self.headers = Message()
        self.headers["Content-Length"] = str(len(body))
        self.rfile = io.BytesIO(body)
        self.wfile = io.BytesIO()
        self.sent: list[tuple[str, object]] = []

    def send_response(self, status: int) -> None:
        self.sent.append(("status", status))

    def send_header(self, name: str, value: str) -> None:
        self.sent.append((name, value))

    def end_headers(self) -> None:
        self.sent.append(("end", None))


def test_read_json_object() -> None:
    assert read_json(FakeHandler(b'{"title": "x"}')) == {"title": "x"}


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"", b'"text"'])
def test_read_json_refuses_non_objects(body: bytes) -> None:
    with pytest.raises(BadRequest):
        read_json(FakeHandler(body))


def test_send_json_sets_type_and_length() -> None:
    handler = FakeHandler()
    send_json(handler, 201, {"id": 1})
    assert ("status", 201) in handler.sent
    assert ("Content-Type", "application/json") in handler.sent
    assert ("Content-Length", str(len(b'{"id": 1}'))) in handler.sent
    assert handler.wfile.getvalue() == b'{"id": 1}'
