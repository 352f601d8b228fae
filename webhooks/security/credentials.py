"""Credentials inside endpoint URLs (`https://user:password@host/`): kept sealed, shown redacted."""

from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"


def redact(url: str) -> str:
    """The URL as shown: `https://user:***@host/` (a lone user name, often a token, is hidden)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{HIDDEN}" if colon else HIDDEN
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def has_credentials(url: str) -> bool:
    """Whether the URL carries a user name or password."""
    return "@" in urlsplit(url).netloc
