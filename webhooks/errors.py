"""One exception hierarchy for everything the core refuses."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one input field."""

    loc: tuple[str | int, ...]
    msg: str


class WebhooksError(Exception):
    """Base of every error the service raises on purpose."""

    title = "Error"

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ConfigError(WebhooksError):
    """A setting is missing or malformed."""

    title = "Invalid configuration"


class InvalidInput(WebhooksError):
    """A value has the right shape but cannot be accepted."""

    title = "Invalid input"

    @classmethod
    def field(cls, loc: tuple[str | int, ...], msg: str) -> "InvalidInput":
        """Build the error for a single field."""
        return cls(msg, (FieldError(loc, msg),))


class NotFound(WebhooksError):
    """No such object, or not one the caller may see."""

    title = "Not found"


class Conflict(WebhooksError):
    """The request contradicts the current state."""

    title = "Conflict"


class Unavailable(WebhooksError):
    """A backing service (database or broker) does not answer."""

    title = "Service unavailable"


class BlockedAddress(WebhooksError):
    """The network guard refused an address."""

    title = "Blocked address"
