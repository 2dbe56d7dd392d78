"""JSON in and out of a BaseHTTPRequestHandler."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class BadRequest(Exception):
    """The request body is not what the API accepts; the message is shown to the client."""


def read_json(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any = None) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body:
        handler.wfile.write(body)
