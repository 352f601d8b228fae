"""Which endpoint URLs may be registered: well formed, https if required, and deliverable.

The shape is one regular expression, which the API's schema publishes as it is, so that the
OpenAPI document and the server agree on every URL. What the shape cannot say (the scheme
policy, where the host name resolves) is checked after it.
"""

import re
from urllib.parse import urlsplit

from webhooks.config import Settings
from webhooks.errors import BlockedAddress, InvalidInput
from webhooks.security.guard import NetworkGuard, ResolutionError

MAX_URL_LENGTH = 2048
_H = "[0-9A-Fa-f]{1,4}"
# Bracketed IPv6 literals in their standard forms (no zone, no embedded IPv4).
_IPV6 = "|".join(
    (
        f"(?:{_H}:){{7}}{_H}",
        f"(?:{_H}:){{1,7}}:",
        f"(?:{_H}:){{1,6}}:{_H}",
        f"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        f"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        f"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        f"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        f"{_H}:(?::{_H}){{1,6}}",
        f":(?:(?::{_H}){{1,7}}|:)",
    )
)
_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_PORT = r"6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}"
URL_PATTERN = (
    r"^https?://"
    r"(?:[A-Za-z0-9\-._~%!$&'()*+,;=:]+@)?"  # user:password@
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[(?:{_IPV6})\])"  # a host name, or [IPv6]
    rf"(?::(?:{_PORT}))?"
    r"(?:[/?#][\x21-\x7e]*)?$"  # printable ASCII: anything else is percent-encoded
)
URL_RULE = (
    "An http or https URL in printable ASCII (percent-encode the rest) with a host name or an "
    "IP address, at most 2048 characters. Its host must resolve, and only to addresses the "
    "network guard lets through; `user:password@` is kept sealed and shown as `user:***@`."
)
_URL = re.compile(URL_PATTERN)


class UrlPolicy:
    """Refuse at registration what could never be delivered."""

    def __init__(
        self, guard: NetworkGuard, *, require_https: bool = False, allow_unresolved: bool = False
    ) -> None:
        self.guard = guard
        self.require_https = require_https
        self.allow_unresolved = allow_unresolved

    @classmethod
    def from_settings(cls, settings: Settings, guard: NetworkGuard) -> "UrlPolicy":
        """The policy WEBHOOKS_REQUIRE_HTTPS and WEBHOOKS_ALLOW_UNRESOLVED_HOSTS set."""
        return cls(
            guard,
            require_https=settings.require_https,
            allow_unresolved=settings.allow_unresolved_hosts,
        )

    def check(self, url: str) -> None:
        """Raise InvalidInput on `url` unless an endpoint may have it."""
        if len(url) > MAX_URL_LENGTH:
            raise _refused(f"at most {MAX_URL_LENGTH} characters")
        if _URL.fullmatch(url) is None:
            raise _refused(
                "not an http(s) URL with a valid host (printable ASCII, percent-encoded)"
            )
        parts = urlsplit(url)
        if self.require_https and parts.scheme != "https":
            raise _refused("must be https: this server requires HTTPS for endpoints")
        host = parts.hostname or ""
        try:
            self.guard.check_host(host)
        except BlockedAddress as exc:
            raise _refused(exc.detail) from None
        try:
            self.guard.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except BlockedAddress as exc:
            raise _refused(f"{exc.detail}, which webhooks may not reach") from None
        except ResolutionError:
            if not self.allow_unresolved:
                raise _refused(
                    f"the host name {host} does not resolve (set "
                    "WEBHOOKS_ALLOW_UNRESOLVED_HOSTS=true for names only the deployment knows)"
                ) from None


def _refused(message: str) -> InvalidInput:
    return InvalidInput.field(("url",), message)
