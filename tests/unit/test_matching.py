"""Which event types an endpoint's filters let through, and which names are valid."""

import pytest

from webhooks.events.matching import is_event_type, is_filter, matches


def test_empty_filter_matches_every_type() -> None:
    """An endpoint subscribed to nothing in particular gets everything."""
    assert matches([], "invoice.paid")
    assert matches((), "x")


def test_exact_filter_matches_only_that_type() -> None:
    """`invoice.paid` matches itself and nothing longer, shorter or differently cased."""
    assert matches(["invoice.paid"], "invoice.paid")
    for other in ("invoice.paid.late", "invoice", "invoice.pai", "Invoice.paid", "invoice_paid"):
        assert not matches(["invoice.paid"], other), other


def test_wildcard_matches_types_under_the_prefix() -> None:
    """`invoice.*` matches every type below `invoice.`, however deep."""
    for event_type in ("invoice.paid", "invoice.created", "invoice.payment.failed"):
        assert matches(["invoice.*"], event_type), event_type


@pytest.mark.parametrize("event_type", ["invoice", "invoices.paid", "invoiced", "my.invoice.paid"])
def test_wildcard_does_not_match_the_bare_prefix_or_a_longer_word(event_type: str) -> None:
    """`invoice.*` is not `invoice` itself, nor a type that merely starts with the letters."""
    assert not matches(["invoice.*"], event_type)


def test_any_of_several_filters_matches() -> None:
    """A type matching one of several filters is delivered."""
    filters = ["customer.created", "invoice.*"]
    assert matches(filters, "customer.created")
    assert matches(filters, "invoice.paid")
    assert not matches(filters, "customer.deleted")


def test_star_is_literal_outside_a_trailing_wildcard() -> None:
    """Only a trailing `.*` is a wildcard; a filter is no glob or regex."""
    assert not matches(["invoice.p*"], "invoice.paid")
    assert not matches(["invoice..*"], "invoice.paid")


@pytest.mark.parametrize(
    "value",
    ["a", "invoice.paid", "A-Z_0.9", "x" * 128, "...", "-", "v1.invoice-paid_2"],
)
def test_valid_event_types(value: str) -> None:
    """1-128 characters of letters, digits, `_`, `.` and `-` make an event type."""
    assert is_event_type(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 129,
        "invoice paid",
        "invoice/paid",
        "invoice.*",
        "invoice.paid\n",
        "\ninvoice.paid",
        "ïnvoice.paid",
        "invoice\x00paid",
        "invoice.paid;drop",
        "١٢٣",  # Unicode digits are not [0-9]
    ],
)
def test_invalid_event_types(value: str) -> None:
    """Anything else, including a trailing newline or non-ASCII letters, is refused."""
    assert not is_event_type(value)


@pytest.mark.parametrize("value", ["invoice.paid", "invoice.*", "a.*", "x" * 128, "x" * 128 + ".*"])
def test_valid_filters(value: str) -> None:
    """A filter is an event type, or an event-type prefix followed by `.*`."""
    assert is_filter(value)


@pytest.mark.parametrize(
    "value",
    ["", "*", ".*", "invoice*", "invoice.**", "*.paid", "invoice.*.paid", "x" * 129, "in voice.*"],
)
def test_invalid_filters(value: str) -> None:
    """A bare star, a star elsewhere, or an invalid prefix is refused."""
    assert not is_filter(value)
