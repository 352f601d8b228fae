"""From HTML forms to the JSON API's input models, so that both accept exactly the same."""

import re
from typing import Any

from werkzeug.datastructures import MultiDict

from webhooks.models import Endpoint


def endpoint_data(form: MultiDict[str, str], with_tenant: bool) -> dict[str, Any]:
    """The body an endpoint form stands for: as EndpointCreate and EndpointUpdate read it."""
    picked = form.getlist("event_types")
    typed = [part.strip() for part in re.split(r"[,\s]+", form.get("event_types_typed", ""))]
    data: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "event_types": list(dict.fromkeys([*picked, *(t for t in typed if t)])),
        "description": form.get("description", ""),
        "rate_limit": _number(form.get("rate_limit", "")),
        "max_in_flight": _number(form.get("max_in_flight", "")),
        "metadata": _pairs(form.get("metadata", "")),
    }
    if with_tenant and form.get("tenant", "").strip():
        data["tenant"] = form["tenant"].strip()
    return data


def endpoint_values(endpoint: Endpoint) -> dict[str, Any]:
    """What an edit form starts with."""
    return {
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "rate_limit": endpoint.rate_limit,
        "max_in_flight": endpoint.max_in_flight,
        "metadata": "\n".join(f"{key}={value}" for key, value in endpoint.metadata_.items()),
    }


def _number(raw: str) -> int | str | None:
    raw = raw.strip()
    if not raw:
        return None
    # Left as text when it is not a whole number: the schema then says what is wrong.
    return int(raw) if raw.isdigit() else raw


def _pairs(raw: str) -> dict[str, str] | str:
    pairs = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return "each line must be key=value"
        pairs[key.strip()] = value.strip()
    return pairs
