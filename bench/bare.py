"""The baseline for bench/api.py: a bare Flask route that parses the JSON and answers it."""

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.post("/v1/events")
def events() -> tuple[Response, int]:
    """Parse the body and answer 202, as the real route does before any database work."""
    body = request.get_json()
    return jsonify({"id": "evt_bare", "type": body["type"], "deliveries": []}), 202
