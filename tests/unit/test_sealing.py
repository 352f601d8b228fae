"""Sealing: what is sealed opens only with its key, says which key it needs, and rotates."""

import pytest
from cryptography.fernet import Fernet

from webhooks.config import Settings
from webhooks.errors import ConfigError
from webhooks.security.credentials import has_credentials, redact
from webhooks.security.sealing import Keyring, UnsealError, is_sealed, key_id, sealed_key_id

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_sealed_text_opens_with_its_key_and_hides_the_text() -> None:
    """A sealed value names its key, holds no trace of the text, and differs every time."""
    keyring = Keyring([NEW])
    sealed = keyring.seal(SECRET)
    assert is_sealed(sealed) and sealed_key_id(sealed) == key_id(NEW) == keyring.primary
    assert SECRET not in sealed and SECRET[6:20] not in sealed
    assert keyring.seal(SECRET) != sealed  # a fresh IV each time: equal secrets don't show
    assert keyring.unseal(sealed) == SECRET
    assert keyring.is_current(sealed)


def test_a_value_sealed_with_another_key_is_refused_naming_that_key() -> None:
    """Never garbage: the error names the missing key and the keys held."""
    sealed = Keyring([OLD]).seal(SECRET)
    with pytest.raises(UnsealError, match=rf"sealed with key {key_id(OLD)}.*{key_id(NEW)}"):
        Keyring([NEW]).unseal(sealed)


def test_an_altered_value_is_refused() -> None:
    """Fernet authenticates: a changed byte is an error, not other text."""
    keyring = Keyring([NEW])
    sealed = keyring.seal(SECRET)
    body = sealed[-20:]
    altered = sealed[:-20] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(UnsealError, match="corrupt or was altered"):
        keyring.unseal(altered)
    with pytest.raises(UnsealError, match="not sealed"):
        keyring.unseal(SECRET)


def test_rotation_newest_key_seals_older_ones_still_open() -> None:
    """Keys newest first: what the old key sealed opens, and reseal moves it to the new key."""
    old_value = Keyring([OLD]).seal(SECRET)
    both = Keyring([NEW, OLD])
    assert both.unseal(old_value) == SECRET
    assert not both.is_current(old_value)
    resealed = both.reseal(old_value)
    assert both.is_current(resealed) and Keyring([NEW]).unseal(resealed) == SECRET
    # Text in clear (before the migration) is sealed for the first time.
    assert Keyring([NEW]).unseal(both.reseal(SECRET)) == SECRET


def test_missing_malformed_or_repeated_keys_are_start_up_errors() -> None:
    """No key, a key that is not 32 bytes of base64, or the same key twice: ConfigError."""
    with pytest.raises(ConfigError, match="WEBHOOKS_ENCRYPTION_KEYS is empty"):
        Keyring.from_settings(Settings.from_env({}))
    for bad in ("short", "x" * 44, NEW[:-4]):
        with pytest.raises(ConfigError, match="entry 1 is not 32 bytes") as raised:
            Settings.from_env({"WEBHOOKS_ENCRYPTION_KEYS": bad})
        assert bad not in str(raised.value)
    with pytest.raises(ConfigError, match="same key twice"):
        Keyring.from_settings(Settings.from_env({"WEBHOOKS_ENCRYPTION_KEYS": f"{NEW}, {NEW}"}))
    settings = Settings.from_env({"WEBHOOKS_ENCRYPTION_KEYS": f" {NEW} ,{OLD}"})
    assert settings.encryption_keys == (NEW, OLD)
    assert NEW not in repr(settings)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@hooks.example.com/in", "https://user:***@hooks.example.com/in"),
        ("https://tok3n@hooks.example.com/in?x=1", "https://***@hooks.example.com/in?x=1"),
        ("https://u:p@[2001:db8::1]:8443/", "https://u:***@[2001:db8::1]:8443/"),
        ("https://hooks.example.com/a@b", "https://hooks.example.com/a@b"),
    ],
)
def test_url_credentials_are_redacted(url: str, shown: str) -> None:
    """A password (or a lone user name, often a token) never shows; the rest stays."""
    assert redact(url) == shown
    assert has_credentials(url) == (url != shown)
