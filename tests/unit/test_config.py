"""Settings read from an explicit environment: documented defaults, clear errors, no leaks."""

import ipaddress

import pytest

from webhooks.config import ApiKey, Settings
from webhooks.errors import ConfigError

SECRET_KEY = "sk_live_do_not_print_me"


def test_defaults_match_the_documented_contract() -> None:
    """An empty environment gives the documented defaults."""
    settings = Settings.from_env({})

    assert settings.retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert settings.delivery_timeout_seconds == 15
    assert settings.max_payload_bytes == 262144
    assert settings.rotation_overlap_seconds == 86400
    assert settings.disable_after_seconds == 432000
    assert settings.disable_after_failures == 10
    assert settings.database_url == "sqlite:///webhooks.db"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.api_keys == ()
    assert settings.allow_networks == ()  # loopback and private ranges stay blocked
    assert settings.lease_seconds > settings.delivery_timeout_seconds


def test_from_env_reads_every_variable() -> None:
    """Each WEBHOOKS_* variable reaches its setting."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": "sqlite:////tmp/x.db",
            "REDIS_URL": "redis://cache:6380/3",
            "WEBHOOKS_MAX_PAYLOAD_BYTES": "1024",
            "WEBHOOKS_DELIVERY_TIMEOUT_SECONDS": "2.5",
            "WEBHOOKS_RETRY_SCHEDULE": " 1, 2.5 ,60 ",
            "WEBHOOKS_ROTATION_OVERLAP_SECONDS": "60",
            "WEBHOOKS_DISABLE_AFTER_SECONDS": "3600",
            "WEBHOOKS_DISABLE_AFTER_FAILURES": "3",
            "WEBHOOKS_ALLOW_NETWORKS": "127.0.0.0/8, ::1/128",
            "WEBHOOKS_LEASE_SECONDS": "10",
            "WEBHOOKS_LOG_LEVEL": "debug",
        }
    )

    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.redis_url == "redis://cache:6380/3"
    assert settings.max_payload_bytes == 1024
    assert settings.delivery_timeout_seconds == 2.5
    assert settings.retry_schedule == (1.0, 2.5, 60.0)
    assert settings.rotation_overlap_seconds == 60
    assert settings.disable_after_seconds == 3600
    assert settings.disable_after_failures == 3
    assert settings.allow_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.lease_seconds == 10
    assert settings.log_level == "DEBUG"


def test_empty_values_mean_the_default() -> None:
    """A variable set to an empty string (as compose files often do) keeps the default."""
    settings = Settings.from_env({"DATABASE_URL": "", "WEBHOOKS_RETRY_SCHEDULE": " "})
    assert settings.database_url == "sqlite:///webhooks.db"
    assert settings.retry_schedule == Settings().retry_schedule


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/hooks", "postgresql+psycopg://u:p@db:5432/hooks"),
        ("postgresql://u:p@db/hooks", "postgresql+psycopg://u:p@db/hooks"),
        ("postgresql+psycopg://u@db/hooks", "postgresql+psycopg://u@db/hooks"),
        ("sqlite:///webhooks.db", "sqlite:///webhooks.db"),
    ],
)
def test_database_url_scheme_picks_psycopg(url: str, expected: str) -> None:
    """Heroku's `postgres://` and plain `postgresql://` both use the psycopg 3 driver."""
    assert Settings.from_env({"DATABASE_URL": url}).database_url == expected


def test_api_keys_with_and_without_tenants() -> None:
    """`key` is unbound, `key:tenant` is bound to that tenant; blanks and spaces are ignored."""
    settings = Settings.from_env({"WEBHOOKS_API_KEYS": " admin , acme-key:acme,, old:globex "})
    assert settings.api_keys == (
        ApiKey("admin"),
        ApiKey("acme-key", "acme"),
        ApiKey("old", "globex"),
    )


@pytest.mark.parametrize("raw", [f"{SECRET_KEY}:", f":{SECRET_KEY}", f"ok,{SECRET_KEY}:"])
def test_malformed_api_key_error_names_the_variable_but_not_the_key(raw: str) -> None:
    """A bad key entry is reported by position, never by echoing the secret."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WEBHOOKS_API_KEYS": raw})
    assert "WEBHOOKS_API_KEYS" in str(caught.value)
    assert SECRET_KEY not in str(caught.value)
    assert SECRET_KEY not in repr(caught.value)


def test_repr_of_settings_hides_api_keys() -> None:
    """Logging the settings object never prints a key."""
    settings = Settings.from_env({"WEBHOOKS_API_KEYS": f"{SECRET_KEY},{SECRET_KEY}2:acme"})
    assert SECRET_KEY not in repr(settings)
    assert SECRET_KEY not in str(settings)
    assert SECRET_KEY not in repr(settings.api_keys)


def test_repr_of_settings_hides_database_and_redis_passwords() -> None:
    """Connection-string passwords are secrets too: the repr masks them."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgres://hooks:db-pass-123@db:5432/hooks",
            "REDIS_URL": "rediss://:redis-pass-456@cache:6379/0",
        }
    )
    assert "db-pass-123" not in repr(settings)
    assert "redis-pass-456" not in repr(settings)
    assert "db:5432/hooks" in repr(settings)  # still useful for debugging
    # The real values are untouched.
    assert "db-pass-123" in settings.database_url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEBHOOKS_MAX_PAYLOAD_BYTES", "lots"),
        ("WEBHOOKS_MAX_PAYLOAD_BYTES", "1.5"),
        ("WEBHOOKS_MAX_PAYLOAD_BYTES", "0"),
        ("WEBHOOKS_DISABLE_AFTER_FAILURES", "-1"),
        ("WEBHOOKS_WORKER_CONCURRENCY", "ten"),
        ("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "0"),
        ("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "-3"),
        ("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "nan"),
        ("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "inf"),
        ("WEBHOOKS_DISABLE_AFTER_SECONDS", "5 days"),
        ("WEBHOOKS_RETRY_SCHEDULE", "5,x,60"),
        ("WEBHOOKS_RETRY_SCHEDULE", "5,-1"),
        ("WEBHOOKS_RETRY_SCHEDULE", ","),
        ("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/33"),
        ("WEBHOOKS_ALLOW_NETWORKS", "localhost"),
        ("WEBHOOKS_LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_values_raise_config_error_naming_the_variable(variable: str, value: str) -> None:
    """A bad value stops start-up with a message that says which variable to fix."""
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_lease_must_outlast_the_delivery_timeout() -> None:
    """A lease no longer than the timeout would let the scheduler re-send a live attempt."""
    with pytest.raises(ConfigError, match="WEBHOOKS_LEASE_SECONDS"):
        Settings.from_env({"WEBHOOKS_LEASE_SECONDS": "15"})
    with pytest.raises(ConfigError, match="WEBHOOKS_LEASE_SECONDS"):
        Settings.from_env(
            {"WEBHOOKS_DELIVERY_TIMEOUT_SECONDS": "30", "WEBHOOKS_LEASE_SECONDS": "20"}
        )
    settings = Settings.from_env({"WEBHOOKS_LEASE_SECONDS": "15.5"})
    assert settings.lease_seconds == 15.5


def test_visibility_timeout_outlasts_a_countdown_and_its_lease() -> None:
    """Redis must not re-deliver a task still waiting out its countdown or holding a lease."""
    settings = Settings.from_env(
        {"WEBHOOKS_MAX_COUNTDOWN_SECONDS": "300", "WEBHOOKS_LEASE_SECONDS": "60"}
    )
    assert settings.visibility_timeout_seconds > 300 + 60


def test_broker_is_redis_unless_broker_url_says_otherwise() -> None:
    """BROKER_URL defaults to REDIS_URL; amqp:// makes RabbitMQ the broker, Redis stays."""
    default = Settings.from_env({"REDIS_URL": "redis://cache:6379/1"})
    assert (default.broker, default.broker_is_rabbitmq) == ("redis://cache:6379/1", False)
    rabbit = Settings.from_env(
        {"REDIS_URL": "redis://cache:6379/1", "BROKER_URL": "amqp://u:p@mq:5672/hooks"}
    )
    assert (rabbit.broker, rabbit.broker_is_rabbitmq) == ("amqp://u:p@mq:5672/hooks", True)
    assert rabbit.redis_url == "redis://cache:6379/1"


@pytest.mark.parametrize("url", ["http://mq:5672/", "sqs://", "mq:5672"])
def test_an_unknown_broker_scheme_is_refused(url: str) -> None:
    """A broker URL that is neither Redis nor AMQP stops start-up, naming the variable."""
    with pytest.raises(ConfigError, match="BROKER_URL"):
        Settings.from_env({"BROKER_URL": url})


def test_redis_url_must_be_redis_even_with_rabbitmq_as_the_broker() -> None:
    """REDIS_URL names the service's own Redis: an amqp:// there is a mistake, said at start."""
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": "amqp://mq:5672/"})


def test_repr_of_settings_hides_the_broker_password() -> None:
    """The broker URL's password is masked like the others'."""
    settings = Settings.from_env({"BROKER_URL": "amqps://hooks:mq-pass-789@mq:5671/"})
    assert "mq-pass-789" not in repr(settings)
    assert "mq:5671" in repr(settings)


def test_egress_proxy_is_read_and_its_password_never_shown() -> None:
    """WEBHOOKS_EGRESS_PROXY names the proxy; its credentials stay out of every repr."""
    settings = Settings.from_env({"WEBHOOKS_EGRESS_PROXY": f"http://egress:{SECRET_KEY}@px:3128"})

    assert settings.egress_proxy is not None
    assert (settings.egress_proxy.host, settings.egress_proxy.port) == ("px", 3128)
    assert SECRET_KEY not in repr(settings)
    assert Settings.from_env({}).egress_proxy is None


@pytest.mark.parametrize(
    "value",
    ["https://px:3128", "px:3128", "http://px", "http://px:3128/path", "socks5://px:1080"],
)
def test_egress_proxy_must_be_http_host_and_port(value: str) -> None:
    """Only a plain http://host:port proxy (CONNECT) is accepted; anything else stops start-up."""
    with pytest.raises(ConfigError, match="WEBHOOKS_EGRESS_PROXY"):
        Settings.from_env({"WEBHOOKS_EGRESS_PROXY": value})
