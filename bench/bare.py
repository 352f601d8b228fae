"""The baseline for bench/ingest.py: a bare Flask route that parses the JSON and answers it."""

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    """The bare app, built as the API is (a factory the web server calls)."""
    app = Flask(__name__)

    @app.post("/v1/events")
    def events() -> tuple[Response, int]:
        """Parse the body and answer 202, as the real route does before any database work."""
        body = request.get_json()
        return jsonify({"id": "evt_bare", "type": body["type"], "deliveries": []}), 202

    @app.get("/healthz")
    def healthz() -> Response:
        """Answer while the process runs (the benchmark waits for it)."""
        return jsonify({"status": "ok"})

    return app
