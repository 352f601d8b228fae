"""Settings, read once from the environment and passed to everything else."""

import base64
import binascii
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

from webhooks.delivery.egress import EgressProxy
from webhooks.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MIN_SECRET_KEY_LENGTH = 32
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# The most attempts in flight at once an endpoint may be given.
MAX_IN_FLIGHT = 1000
# The brokers the service supports, by URL scheme (Celery's "pyamqp" is its name for amqp).
REDIS_SCHEMES = frozenset({"redis", "rediss"})
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})
LOG_FORMATS = ("text", "json")
TENANT = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


@dataclass(frozen=True)
class ApiKey:
    """A bearer key, optionally bound to one tenant."""

    key: str
    tenant: str | None = None

    def __repr__(self) -> str:
        # Keys are secrets: never let one reach a log line through a repr.
        return f"ApiKey(key='***', tenant={self.tenant!r})"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with safe defaults."""

    database_url: str = "sqlite:///webhooks.db"
    redis_url: str = "redis://localhost:6379/0"
    # None: Celery's broker is the Redis at redis_url; else a redis:// or amqp:// URL.
    broker_url: str | None = None
    api_keys: tuple[ApiKey, ...] = field(default=(), repr=False)
    max_payload_bytes: int = 262144
    delivery_timeout_seconds: float = 15.0
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    rotation_overlap_seconds: float = 86400.0
    disable_after_seconds: float = 432000.0
    disable_after_failures: int = 10
    allow_networks: tuple[IPNetwork, ...] = ()
    scheduler_interval_seconds: float = 5.0
    max_countdown_seconds: float = 300.0
    lease_seconds: float = 60.0
    worker_concurrency: int = 50
    # Attempts in flight at once to an endpoint whose max_in_flight is null.
    max_in_flight_per_endpoint: int = 10
    log_level: str = "INFO"
    log_format: str = "text"
    operations_tenant: str = "_operations"
    retention_days: int = 30
    worker_metrics_port: int = 9808
    # Where the web processes share their counters (prometheus-client's multiprocess mode).
    metrics_dir: str | None = None
    # Optional traces and error reports; their packages come with `pip install webhooks[otel]`.
    otel_endpoint: str | None = None
    sentry_dsn: str | None = field(default=None, repr=False)
    # Newest first: the first seals, every one unseals (so the key itself rotates).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    allow_unresolved_hosts: bool = False
    require_https: bool = False
    # Signs console sessions, their CSRF tokens and portal links; without it there is no console.
    # Unless set, it is derived from the newest encryption key (one secret less to manage).
    secret_key: str | None = field(default=None, repr=False)
    require_known_event_types: bool = False
    portal_frame_ancestors: tuple[str, ...] = ()
    portal_product_name: str = "Webhooks"
    portal_accent_color: str = "#1d4ed8"
    egress_proxy: EgressProxy | None = None

    @property
    def broker(self) -> str:
        """The Celery broker's URL: BROKER_URL, or the Redis at REDIS_URL."""
        return self.broker_url or self.redis_url

    @property
    def broker_is_rabbitmq(self) -> bool:
        """Whether the broker speaks AMQP (RabbitMQ) rather than Redis."""
        return broker_scheme(self.broker) in AMQP_SCHEMES

    @property
    def visibility_timeout_seconds(self) -> float:
        """How long Redis waits before re-delivering an unacknowledged task."""
        # A countdown task sits reserved in a worker until it runs, then holds a lease:
        # re-delivery must not start before both could have ended.
        return self.max_countdown_seconds + 2 * self.lease_seconds + 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read settings from the environment (the only place that reads it)."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        defaults = cls()
        encryption_keys = parse_encryption_keys(env.get("WEBHOOKS_ENCRYPTION_KEYS", ""))
        log_level, log_format = log_settings(env)
        settings = cls(
            database_url=normalize_database_url(env.get("DATABASE_URL") or defaults.database_url),
            redis_url=env.get("REDIS_URL") or defaults.redis_url,
            broker_url=env.get("BROKER_URL") or None,
            api_keys=parse_api_keys(env.get("WEBHOOKS_API_KEYS", "")),
            max_payload_bytes=reader.integer("MAX_PAYLOAD_BYTES", defaults.max_payload_bytes),
            delivery_timeout_seconds=reader.seconds(
                "DELIVERY_TIMEOUT_SECONDS", defaults.delivery_timeout_seconds
            ),
            retry_schedule=reader.schedule("RETRY_SCHEDULE", defaults.retry_schedule),
            rotation_overlap_seconds=reader.seconds(
                "ROTATION_OVERLAP_SECONDS", defaults.rotation_overlap_seconds
            ),
            disable_after_seconds=reader.seconds(
                "DISABLE_AFTER_SECONDS", defaults.disable_after_seconds
            ),
            disable_after_failures=reader.integer(
                "DISABLE_AFTER_FAILURES", defaults.disable_after_failures
            ),
            allow_networks=reader.networks("ALLOW_NETWORKS"),
            scheduler_interval_seconds=reader.seconds(
                "SCHEDULER_INTERVAL_SECONDS", defaults.scheduler_interval_seconds
            ),
            max_countdown_seconds=reader.seconds(
                "MAX_COUNTDOWN_SECONDS", defaults.max_countdown_seconds
            ),
            lease_seconds=reader.seconds("LEASE_SECONDS", defaults.lease_seconds),
            worker_concurrency=reader.integer("WORKER_CONCURRENCY", defaults.worker_concurrency),
            max_in_flight_per_endpoint=reader.integer(
                "MAX_IN_FLIGHT_PER_ENDPOINT", defaults.max_in_flight_per_endpoint
            ),
            log_level=log_level,
            log_format=log_format,
            operations_tenant=reader.tenant("OPERATIONS_TENANT", defaults.operations_tenant),
            retention_days=reader.whole("RETENTION_DAYS", defaults.retention_days),
            worker_metrics_port=reader.port("WORKER_METRICS_PORT", defaults.worker_metrics_port),
            # prometheus-client's own name: it reads the variable itself too.
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None,
            # The names OpenTelemetry's and Sentry's own documentation use.
            otel_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or None,
            sentry_dsn=env.get("SENTRY_DSN", "").strip() or None,
            encryption_keys=encryption_keys,
            allow_unresolved_hosts=reader.boolean("ALLOW_UNRESOLVED_HOSTS"),
            require_https=reader.boolean("REQUIRE_HTTPS"),
            secret_key=reader.secret("SECRET_KEY") or derived_secret_key(encryption_keys),
            require_known_event_types=reader.boolean("REQUIRE_KNOWN_EVENT_TYPES"),
            portal_frame_ancestors=reader.frame_ancestors("PORTAL_FRAME_ANCESTORS"),
            portal_product_name=reader.text("PORTAL_PRODUCT_NAME", defaults.portal_product_name),
            portal_accent_color=reader.color("PORTAL_ACCENT_COLOR", defaults.portal_accent_color),
            egress_proxy=reader.egress_proxy("EGRESS_PROXY"),
        )
        settings.check()
        return settings

    def __repr__(self) -> str:
        # Connection strings carry passwords: a logged Settings must not (keys are hidden too).
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["database_url"] = hide_credentials(self.database_url)
        shown["redis_url"] = hide_credentials(self.redis_url)
        shown["broker_url"] = self.broker_url and hide_credentials(self.broker_url)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def check(self) -> None:
        """Refuse combinations that would break delivery guarantees."""
        # Named without the URL itself: it may carry a password.
        if broker_scheme(self.redis_url) not in REDIS_SCHEMES:
            raise ConfigError(
                f"REDIS_URL must be a redis:// or rediss:// URL,"
                f" got scheme {broker_scheme(self.redis_url)!r}"
            )
        if self.broker_url and broker_scheme(self.broker_url) not in AMQP_SCHEMES | REDIS_SCHEMES:
            raise ConfigError(
                f"BROKER_URL must be a redis://, rediss://, amqp:// or amqps:// URL,"
                f" got scheme {broker_scheme(self.broker_url)!r}"
            )
        if self.max_in_flight_per_endpoint > MAX_IN_FLIGHT:
            raise ConfigError(
                f"WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT must be at most {MAX_IN_FLIGHT}"
            )
        if self.lease_seconds <= self.delivery_timeout_seconds:
            # A live attempt must never look abandoned to the scheduler.
            raise ConfigError(
                "WEBHOOKS_LEASE_SECONDS must be longer than WEBHOOKS_DELIVERY_TIMEOUT_SECONDS"
            )


class _Reader:
    """Parse WEBHOOKS_* variables, naming the variable in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(f"WEBHOOKS_{name}")
        return value.strip() if value and value.strip() else None

    def integer(self, name: str, default: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"WEBHOOKS_{name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ConfigError(f"WEBHOOKS_{name} must be at least 1, got {value}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self._raw(name)
        return default if raw is None else _positive_seconds(f"WEBHOOKS_{name}", raw)

    def schedule(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        raw = self._raw(name)
        if raw is None:
            return default
        steps = tuple(
            _positive_seconds(f"WEBHOOKS_{name}", part) for part in raw.split(",") if part.strip()
        )
        if not steps:
            raise ConfigError(f"WEBHOOKS_{name} must list at least one number of seconds")
        return steps

    def boolean(self, name: str) -> bool:
        raw = self._raw(name)
        if raw is None:
            return False
        value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if raw.lower() not in value:
            raise ConfigError(f"WEBHOOKS_{name} must be true or false, got {raw!r}")
        return value[raw.lower()]

    def log_level(self, name: str, default: str) -> str:
        raw = self._raw(name)
        level = default if raw is None else raw.upper()
        # Checked here: logging would only refuse it later, deep inside start-up.
        if level not in logging.getLevelNamesMapping():
            raise ConfigError(f"WEBHOOKS_{name} must be a logging level name, got {raw!r}")
        return level

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise ConfigError(f"WEBHOOKS_{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw.lower()

    def tenant(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if TENANT.fullmatch(raw) is None:
            raise ConfigError(f"WEBHOOKS_{name} must be a tenant name (A-Z a-z 0-9 _ . -)")
        return raw

    def whole(self, name: str, default: int) -> int:
        """A whole number that may be 0 (0 turns the feature off)."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"WEBHOOKS_{name} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"WEBHOOKS_{name} must be 0 or more, got {value}")
        return value

    def port(self, name: str, default: int) -> int:
        value = self.whole(name, default)
        if value > 65535:
            raise ConfigError(f"WEBHOOKS_{name} must be a TCP port (0 turns it off), got {value}")
        return value

    def secret(self, name: str) -> str | None:
        raw = self._raw(name)
        if raw is not None and len(raw) < MIN_SECRET_KEY_LENGTH:
            # Never echo it: it is a secret, even a bad one.
            raise ConfigError(
                f"WEBHOOKS_{name} must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return raw

    def text(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is not None and (len(raw) > 64 or not raw.isprintable()):
            raise ConfigError(f"WEBHOOKS_{name} must be at most 64 printable characters")
        return default if raw is None else raw

    def color(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        # Only a hex colour: the value goes into the page's style sheet.
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", raw):
            raise ConfigError(f"WEBHOOKS_{name} must be a colour like #1d4ed8, got {raw!r}")
        return raw.lower()

    def frame_ancestors(self, name: str) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None:
            return ()
        sources = tuple(part for part in raw.replace(",", " ").split() if part)
        for source in sources:
            # Origins only (https://app.example.com, https://*.example.com): the value goes
            # into a Content-Security-Policy header, where a stray ';' would add a directive.
            if not re.fullmatch(r"https?://(\*\.)?[A-Za-z0-9.\-]+(:\d{1,5})?", source):
                raise ConfigError(
                    f"WEBHOOKS_{name}: {source!r} is not an origin like https://app.example.com"
                )
        return sources

    def egress_proxy(self, name: str) -> EgressProxy | None:
        raw = self._raw(name)
        return None if raw is None else EgressProxy.from_url(raw)

    def networks(self, name: str) -> tuple[IPNetwork, ...]:
        raw = self._raw(name)
        if raw is None:
            return ()
        try:
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in raw.split(",")
                if part.strip()
            )
        except ValueError as exc:
            raise ConfigError(f"WEBHOOKS_{name}: {exc}") from None


def _positive_seconds(variable: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number of seconds, got {raw.strip()!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{variable} must be a positive number of seconds, got {raw.strip()!r}")
    return value


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """Parse `key,key:tenant,...` without ever echoing a key back."""
    keys = []
    for number, part in enumerate(raw.split(","), start=1):
        part = part.strip()
        if not part:
            continue
        key, _, tenant = part.partition(":")
        if not key or (tenant == "" and part.endswith(":")):
            raise ConfigError(f"WEBHOOKS_API_KEYS: entry {number} is not 'key' or 'key:tenant'")
        keys.append(ApiKey(key=key, tenant=tenant or None))
    return tuple(keys)


def log_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The log level and format alone, for a process that needs no other setting."""
    reader = _Reader(os.environ if environ is None else environ)
    defaults = Settings()
    return (
        reader.log_level("LOG_LEVEL", defaults.log_level),
        reader.choice("LOG_FORMAT", LOG_FORMATS, defaults.log_format),
    )


def derived_secret_key(encryption_keys: tuple[str, ...]) -> str | None:
    """The console's signing key, derived from the newest encryption key (None without one)."""
    if not encryption_keys:
        return None
    # A one-way derivation: what signs cookies can never be turned back into what seals secrets.
    return hmac.new(encryption_keys[0].encode(), b"webhooks console sessions", "sha256").hexdigest()


def parse_encryption_keys(raw: str) -> tuple[str, ...]:
    """Parse `key,key,...` (newest first): each 32 random bytes in URL-safe base64."""
    keys = []
    for number, part in enumerate(raw.split(","), start=1):
        part = part.strip()
        if not part:
            continue
        try:
            decoded = base64.urlsafe_b64decode(part.encode())
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            # Never echo the value: it is a key, or a typo of one.
            raise ConfigError(
                f"WEBHOOKS_ENCRYPTION_KEYS: entry {number} is not 32 bytes of URL-safe base64 "
                "(make one with `webhooks generate-encryption-key`)"
            )
        keys.append(part)
    return tuple(keys)


def hide_credentials(url: str) -> str:
    """Replace the `user:password@` of a URL with `***@`, for logs and banners."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"***@{host}")) if at else url


def broker_scheme(url: str) -> str:
    """The scheme of a broker URL, lowercased ("amqp", "redis", ...)."""
    return urlsplit(url).scheme.lower()


def normalize_database_url(url: str) -> str:
    """Pick the driver: psycopg 3 for PostgreSQL whatever scheme the platform wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
