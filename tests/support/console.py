"""Driving the console through Flask's test client: sign in, read the CSRF token, open portals."""

import re
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    """The CSRF token a console page carries in its forms."""
    match = CSRF.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:500]
    return match.group(1)


def sign_in(client: FlaskClient, key: str) -> str:
    """Sign in with an API key; return the session's CSRF token."""
    token = csrf_of(client.get("/console/sign-in"))
    response = client.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf_of(client.get("/console/endpoints"))


def portal_link(client: FlaskClient, tenant: str, ttl: int = 600) -> str:
    """Ask the API for a portal link (with the unbound key `client` sends); return its path."""
    response = client.post("/v1/portal-sessions", json={"tenant": tenant, "ttl_seconds": ttl})
    assert response.status_code == 201, response.get_data(as_text=True)
    url: str = response.get_json()["url"]
    return urlsplit(url).path


def open_portal(client: FlaskClient, path: str) -> str:
    """Open a portal link; return the path prefix of the portal session it starts."""
    response = client.get(path)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = urlsplit(response.location).path
    assert location.endswith("/endpoints")
    return location.removesuffix("/endpoints")
