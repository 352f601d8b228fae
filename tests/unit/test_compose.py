"""compose.yaml: what it requires from the environment, and the Procfile's web server."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_requires_only_what_has_no_default() -> None:
    """API keys and the console's key are optional (keys made at runtime, a derived key)."""
    text = (ROOT / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"POSTGRES_PASSWORD", "WEBHOOKS_ENCRYPTION_KEYS", "FLOWER_BASIC_AUTH"}
    production = (ROOT / "README.md").read_text().partition("## Production")[2]
    for name in required:
        assert name in production.partition("\n## ")[0], name


def test_compose_serves_the_api_as_the_procfile_does() -> None:
    """The same gunicorn settings module and worker class as the Procfile's `web`."""
    compose = (ROOT / "compose.yaml").read_text()
    web = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    for flag in ("config", "worker-class"):
        (value,) = re.findall(rf"--{flag} (\S+)", web)
        assert f"--{flag}={value}" in compose, flag
