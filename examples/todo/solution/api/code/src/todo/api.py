"""TodoHandler: the JSON HTTP API over a TodoStore."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from todo.http_json import BadRequest, read_json, send_json
from todo.storage import TodoStore

ITEM = re.compile(r"^/todos/(\d+)$")


def make_handler(store: TodoStore) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to `store` (http.server builds one handler per request)."""

    class TodoHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet in tests
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/todos":
                return self._not_found_or_405(url.path)
            flag = parse_qs(url.query).get("done", [None])[0]
            done = None if flag is None else flag == "true"
            send_json(self, 200, [t.to_dict() for t in store.list(done=done)])

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/todos":
                return self._not_found_or_405(urlsplit(self.path).path)
            self._guard(lambda: send_json(self, 201, store.add(_title(read_json(self))).to_dict()))

        def do_PATCH(self) -> None:
            match = ITEM.match(urlsplit(self.path).path)
            if not match:
                return self._not_found_or_405(urlsplit(self.path).path)

            def patch() -> None:
                body = read_json(self)
                done = body.get("done")
                if done is not None and not isinstance(done, bool):
                    raise BadRequest("done must be true or false")
                title = _title(body) if "title" in body else None
                item = store.update(int(match.group(1)), title=title, done=done)
                send_json(self, 200, item.to_dict())

            self._guard(patch)

        def do_DELETE(self) -> None:
            match = ITEM.match(urlsplit(self.path).path)
            if not match:
                return self._not_found_or_405(urlsplit(self.path).path)

            def delete() -> None:
                store.delete(int(match.group(1)))
                send_json(self, 204)

            self._guard(delete)

        def do_PUT(self) -> None:
            self._not_found_or_405(urlsplit(self.path).path)

        def _guard(self, action) -> None:  # type: ignore[no-untyped-def]
            try:
                action()
            except BadRequest as exc:
                send_json(self, 400, {"error": str(exc)})
            except ValueError as exc:
                send_json(self, 400, {"error": str(exc)})
            except KeyError:
                send_json(self, 404, {"error": "no such todo"})

        def _not_found_or_405(self, path: str) -> None:
            if path == "/todos" or ITEM.match(path):
                send_json(self, 405, {"error": f"method {self.command} not allowed"})
            else:
                send_json(self, 404, {"error": f"no route {path}"})

    return TodoHandler


def _title(body: dict[str, object]) -> str:
    title = body.get("title")
    if not isinstance(title, str):
        raise BadRequest("title must be a string")
    return title
