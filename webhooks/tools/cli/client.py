"""The admin commands' HTTP client: the API at WEBHOOKS_URL with WEBHOOKS_API_KEY."""

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from webhooks import USER_AGENT
from webhooks.tools.cli.failures import (
    REFUSED,
    SERVER_ERROR,
    UNAUTHORIZED,
    UNREACHABLE,
    Failure,
)

TIMEOUT_SECONDS = 30


class ApiClient:
    """Calls the API; every failure becomes a one-line Failure with its exit code."""

    def __init__(self, url: str, api_key: str | None) -> None:
        if not api_key:
            raise Failure("set WEBHOOKS_API_KEY (or pass --api-key)", UNAUTHORIZED)
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT})

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the decoded answer (None for 204)."""
        try:
            response = self.http.request(
                method,
                self.url + path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=dict(headers or {}),
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise Failure(f"cannot reach the API at {self.url}: {reason}", UNREACHABLE) from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response.json() if response.content else None

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page."""
        cursor = None
        while True:
            page = self.call("GET", path, params={**params, "cursor": cursor, "limit": 250})
            yield from page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return


def _refusal(response: requests.Response) -> Failure:
    """The API's problem document as one line, with the exit code its status means."""
    try:
        problem = response.json()
        detail = problem.get("detail") or problem.get("title") or ""
        fields = [
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}"
            for item in problem.get("errors") or []
        ]
    except (ValueError, AttributeError, KeyError, TypeError):
        detail, fields = response.reason, []
    message = f"{response.status_code} {detail}" + (f" ({'; '.join(fields)})" if fields else "")
    if response.status_code == 401:
        return Failure(message, UNAUTHORIZED)
    if response.status_code == 503:
        return Failure(message, UNREACHABLE)
    if response.status_code >= 500:
        return Failure(message, SERVER_ERROR)
    return Failure(message, REFUSED)
