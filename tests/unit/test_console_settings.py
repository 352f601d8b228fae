"""The console's settings: the secret key, the catalogue switch, the portal's framing and theme."""

import pytest

from webhooks.config import Settings
from webhooks.errors import ConfigError

KEY = "k" * 40


def test_console_settings_default_to_safe_values() -> None:
    """No secret key (no console), unknown types accepted, the portal never framed."""
    settings = Settings.from_env({})
    assert settings.secret_key is None
    assert settings.require_known_event_types is False
    assert settings.portal_frame_ancestors == ()
    assert (settings.portal_product_name, settings.portal_accent_color) == ("Webhooks", "#1d4ed8")


def test_console_settings_are_read() -> None:
    """Each variable reaches its setting; the secret key never reaches a repr."""
    settings = Settings.from_env(
        {
            "WEBHOOKS_SECRET_KEY": KEY,
            "WEBHOOKS_REQUIRE_KNOWN_EVENT_TYPES": "true",
            "WEBHOOKS_PORTAL_FRAME_ANCESTORS": "https://app.example.com, https://*.example.org:8443",
            "WEBHOOKS_PORTAL_PRODUCT_NAME": "Acme Cloud",
            "WEBHOOKS_PORTAL_ACCENT_COLOR": "#7C3AED",
        }
    )
    assert settings.secret_key == KEY and KEY not in repr(settings)
    assert settings.require_known_event_types is True
    assert settings.portal_frame_ancestors == (
        "https://app.example.com",
        "https://*.example.org:8443",
    )
    assert (settings.portal_product_name, settings.portal_accent_color) == (
        "Acme Cloud",
        "#7c3aed",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBHOOKS_SECRET_KEY", "short", "at least 32 characters"),
        ("WEBHOOKS_REQUIRE_KNOWN_EVENT_TYPES", "maybe", "true or false"),
        ("WEBHOOKS_PORTAL_FRAME_ANCESTORS", "https://a.example; script-src *", "not an origin"),
        ("WEBHOOKS_PORTAL_FRAME_ANCESTORS", "*", "not an origin"),
        ("WEBHOOKS_PORTAL_ACCENT_COLOR", "red;}", "a colour like"),
        ("WEBHOOKS_PORTAL_PRODUCT_NAME", "x" * 65, "at most 64"),
    ],
)
def test_bad_console_settings_stop_the_start(name: str, value: str, message: str) -> None:
    """A bad value is refused at start, naming the variable (and never echoing a secret key)."""
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({name: value})
    assert name in refused.value.detail and message in refused.value.detail
    if name == "WEBHOOKS_SECRET_KEY":
        assert value not in refused.value.detail
