import json
import urllib.request

from todo.server import serve


def test_serve_picks_a_free_port_and_stops(tmp_db) -> None:
    server = serve(str(tmp_db), port=0)
    try:
        port = server.server_address[1]
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/todos") as response:
            assert json.loads(response.read()) == []
    finally:
        server.shutdown()
        server.server_close()
