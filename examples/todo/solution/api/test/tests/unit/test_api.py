import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from todo.api import make_handler
from todo.db import connect
from todo.storage import TodoStore


@pytest.fixture
def base_url(tmp_db):
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(TodoStore(connect(tmp_db))))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(method: str, url: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_create_list_update_delete(base_url: str) -> None:
    status, created = call("POST", f"{base_url}/todos", {"title": "Buy milk"})
    assert status == 201 and created["title"] == "Buy milk" and created["done"] is False
    todo_url = f"{base_url}/todos/{created['id']}"
    assert call("PATCH", todo_url, {"done": True})[1]["done"] is True
    assert [t["id"] for t in call("GET", f"{base_url}/todos?done=true")[1]] == [created["id"]]
    assert call("GET", f"{base_url}/todos?done=false")[1] == []
    assert call("DELETE", todo_url) == (204, None)
    assert call("DELETE", todo_url)[0] == 404


def test_errors_are_json(base_url: str) -> None:
    assert call("POST", f"{base_url}/todos", {"title": " "})[0] == 400
    assert call("POST", f"{base_url}/todos", [1])[0] == 400
    assert call("PATCH", f"{base_url}/todos/1", {"done": "yes"})[0] in (400, 404)
    status, body = call("GET", f"{base_url}/nope")
    assert status == 404 and "error" in body
    assert call("PUT", f"{base_url}/todos")[0] == 405
