"""serve(): the API on a ThreadingHTTPServer; `python -m todo.server --port 8080`."""

from __future__ import annotations

import argparse
import os
import threading
from http.server import ThreadingHTTPServer

from todo.api import make_handler
from todo.db import connect
from todo.storage import TodoStore


def serve(db_path: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving in a background thread; port 0 picks a free port. Call shutdown() to stop."""
    server = ThreadingHTTPServer((host, port), make_handler(TodoStore(connect(db_path))))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m todo.server")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default=os.environ.get("TODO_DB", "todo.db"))
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(TodoStore(connect(args.db))))
    print(f"serving on http://127.0.0.1:{server.server_address[1]}/todos")
    server.serve_forever()


if __name__ == "__main__":
    main()
