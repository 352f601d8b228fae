"""The dashboard and the alert rules use only metrics the service exposes."""

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from webhooks.observability.metrics import DeliveryMetrics

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_documented_metrics_exist(client: FlaskClient) -> None:
    """Every webhooks_* name in docs/ is served by the API or by a worker."""
    exposed = {
        sample.name
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    for family in DeliveryMetrics.create().registry.collect():
        # A labelled counter has no sample before its first count: take the family's names.
        exposed |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "counter":
            exposed.add(f"{family.name}_total")
    exposed |= {f"{name}_bucket" for name in exposed if name.endswith("_count")}
    exposed |= {name.removesuffix("_count") + "_bucket" for name in exposed}
    for document in ("alerts.yaml", "grafana-dashboard.json"):
        used = set(re.findall(r"webhooks_[a-z_]+", (DOCS / document).read_text()))
        assert used, document
        assert used <= exposed, (document, used - exposed)
