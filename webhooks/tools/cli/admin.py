"""Operating the service through its API: endpoints, events, deliveries, replay."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from webhooks.tools.cli.client import ApiClient
from webhooks.tools.cli.failures import REFUSED, Failure
from webhooks.tools.cli.output import console, print_fields, print_json, print_table
from webhooks.tools.cli.service import Moment

Command = TypeVar("Command", bound=Callable[..., Any])
ENDPOINT_COLUMNS = (
    ("ID", lambda e: e["id"]),
    ("URL", lambda e: e["url"]),
    ("TENANT", lambda e: e["tenant"]),
    ("ENABLED", lambda e: e["enabled"]),
    ("REASON", lambda e: e["disabled_reason"]),
    ("EVENT TYPES", lambda e: ",".join(e["event_types"]) or "*"),
)
DELIVERY_COLUMNS = (
    ("ID", lambda d: d["id"]),
    ("STATUS", lambda d: d["status"]),
    ("ENDPOINT", lambda d: d["endpoint_id"]),
    ("EVENT", lambda d: d["event_id"]),
    ("ATTEMPTS", lambda d: d["attempt_count"]),
    ("LAST STATUS", lambda d: d["last_status_code"]),
    ("UPDATED", lambda d: d["updated_at"]),
)
ENDPOINT_FIELDS = ("id", "url", "tenant", "enabled", "disabled_reason", "event_types", "headers")


def api_options(command: Command) -> Command:
    """The options every command that calls the API takes."""
    for option in reversed(
        (
            click.option(
                "--url",
                envvar="WEBHOOKS_URL",
                default="http://127.0.0.1:8000",
                show_default=True,
                help="The API (env WEBHOOKS_URL).",
            ),
            click.option(
                "--api-key",
                envvar="WEBHOOKS_API_KEY",
                help="A key of the API (env WEBHOOKS_API_KEY).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts."),
        )
    ):
        command = option(command)
    return command


@click.group()
def endpoints() -> None:
    """List, create, disable and enable endpoints."""


@endpoints.command("list")
@click.option("--tenant", help="Only this tenant's.")
@click.option("--enabled/--disabled", default=None, help="Only enabled, or only disabled ones.")
@click.option("--limit", type=click.IntRange(1, 250), default=50, show_default=True)
@api_options
def list_endpoints(
    tenant: str | None,
    enabled: bool | None,
    limit: int,
    url: str,
    api_key: str | None,
    as_json: bool,
) -> None:
    """List endpoints, newest first."""
    flag = None if enabled is None else str(enabled).lower()
    params = {"tenant": tenant, "enabled": flag, "limit": limit}
    page = ApiClient(url, api_key).call("GET", "/v1/endpoints", params=params)
    if as_json:
        print_json(page)
    else:
        print_table(page["data"], ENDPOINT_COLUMNS)


@endpoints.command("create")
@click.argument("endpoint_url", metavar="URL")
@click.option("--type", "event_types", multiple=True, help="An event type or prefix.*; repeatable.")
@click.option("--tenant")
@click.option("--description", default="")
@click.option("--header", "headers", multiple=True, help="NAME:VALUE sent with every attempt.")
@click.option("--rate-limit", type=click.IntRange(1), help="Most deliveries per second.")
@click.option("--max-in-flight", type=click.IntRange(1, 1000), help="Most attempts at once.")
@api_options
def create_endpoint(
    endpoint_url: str,
    event_types: tuple[str, ...],
    tenant: str | None,
    description: str,
    headers: tuple[str, ...],
    rate_limit: int | None,
    max_in_flight: int | None,
    url: str,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Subscribe URL; prints the endpoint and its signing secret."""
    body: dict[str, Any] = {
        "url": endpoint_url,
        "event_types": list(event_types),
        "description": description,
        "headers": dict(_header(h) for h in headers),
        "rate_limit": rate_limit,
        "max_in_flight": max_in_flight,
    }
    if tenant:
        body["tenant"] = tenant
    created = ApiClient(url, api_key).call("POST", "/v1/endpoints", json=body)
    if as_json:
        print_json(created)
    else:
        print_fields(created, (*ENDPOINT_FIELDS, "secret"))


@endpoints.command("disable")
@click.argument("endpoint_id")
@api_options
def disable_endpoint(endpoint_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Stop sending to an endpoint; its pending deliveries are cancelled."""
    _set_enabled(endpoint_id, False, url, api_key, as_json)


@endpoints.command("enable")
@click.argument("endpoint_id")
@api_options
def enable_endpoint(endpoint_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Send to an endpoint again, with a clean failure streak."""
    _set_enabled(endpoint_id, True, url, api_key, as_json)


def _set_enabled(
    endpoint_id: str, enabled: bool, url: str, api_key: str | None, as_json: bool
) -> None:
    client = ApiClient(url, api_key)
    changed = client.call("PATCH", f"/v1/endpoints/{endpoint_id}", json={"enabled": enabled})
    if as_json:
        print_json(changed)
    else:
        print_fields(changed, ENDPOINT_FIELDS)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise click.BadParameter(f"{text!r} is not NAME:VALUE", param_hint="--header")
    return name.strip(), value.strip()


@click.group()
def events() -> None:
    """Send events."""


@events.command("send")
@click.argument("event_type", metavar="TYPE")
@click.option("--data", default="{}", show_default=True, help="The event's data, a JSON object.")
@click.option("--tenant")
@click.option("--idempotency-key", help="Sending again with the same key sends nothing new.")
@api_options
def send_event(
    event_type: str,
    data: str,
    tenant: str | None,
    idempotency_key: str | None,
    url: str,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Send an event of TYPE to every subscribed endpoint."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    body: dict[str, Any] = {"type": event_type, "data": parsed}
    if tenant:
        body["tenant"] = tenant
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    accepted = ApiClient(url, api_key).call("POST", "/v1/events", json=body, headers=headers)
    if as_json:
        print_json(accepted)
        return
    click.echo(f"{accepted['id']}  {accepted['type']}  {len(accepted['deliveries'])} deliveries")
    print_table(
        accepted["deliveries"],
        (("DELIVERY", lambda d: d["id"]), ("ENDPOINT", lambda d: d["endpoint_id"])),
    )


@click.group()
def deliveries() -> None:
    """Look at deliveries."""


@deliveries.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "succeeded", "failed", "cancelled"]), default=None
)
@click.option("--endpoint", "endpoint_id", help="Only this endpoint's.")
@click.option("--event", "event_id", help="Only this event's.")
@click.option("--limit", type=click.IntRange(1, 250), default=50, show_default=True)
@api_options
def list_deliveries(
    status: str | None,
    endpoint_id: str | None,
    event_id: str | None,
    limit: int,
    url: str,
    api_key: str | None,
    as_json: bool,
) -> None:
    """List deliveries, newest first."""
    params = {"status": status, "endpoint_id": endpoint_id, "event_id": event_id, "limit": limit}
    page = ApiClient(url, api_key).call("GET", "/v1/deliveries", params=params)
    if as_json:
        print_json(page)
    else:
        print_table(page["data"], DELIVERY_COLUMNS)


@click.command()
@click.option(
    "--endpoint", "endpoint_id", required=True, help="The endpoint whose failures to send."
)
@click.option("--since", required=True, type=Moment(), help="Deliveries that failed since then.")
@api_options
def replay(endpoint_id: str, since: datetime, url: str, api_key: str | None, as_json: bool) -> None:
    """Send again every delivery to an endpoint that ended failed since a time."""
    client = ApiClient(url, api_key)
    params = {"status": "failed", "endpoint_id": endpoint_id}
    found = [
        d["id"]
        for d in client.pages("/v1/deliveries", params)
        if datetime.fromisoformat(d["updated_at"]) >= since
    ]
    replayed, refused = [], []
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console(err=True),
        disable=as_json,
    ) as progress:
        task = progress.add_task("replay", total=len(found))
        for delivery_id in found:
            try:
                client.call("POST", f"/v1/deliveries/{delivery_id}/retry")
                replayed.append(delivery_id)
            except Failure as failure:
                if failure.exit_code != REFUSED:
                    raise
                refused.append({"id": delivery_id, "reason": failure.message})
            progress.advance(task)
    if as_json:
        print_json({"replayed": replayed, "refused": refused})
    else:
        click.echo(f"replayed {len(replayed)} failed deliveries of {endpoint_id}")
        for item in refused:
            click.echo(f"  not replayed {item['id']}: {item['reason']}")
    if refused:
        raise SystemExit(REFUSED)
