"""Portal links: one tenant, one use, a short life."""

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from webhooks.ids import new_id
from webhooks.models import PortalLink


def create_link(session: Session, tenant: str, ttl_seconds: int, now: datetime) -> PortalLink:
    """Record a new link for `tenant`, valid for `ttl_seconds`."""
    link = PortalLink(
        id=new_id("pl"),
        tenant=tenant,
        expires_at=now + timedelta(seconds=ttl_seconds),
        created_at=now,
    )
    session.add(link)
    session.flush()
    return link


def use_link(session: Session, link_id: str, now: datetime) -> PortalLink | None:
    """Spend a link: the link if this is its first use before it expires, else None."""
    # One conditional UPDATE: of two browsers opening the link at once, exactly one wins.
    spent = session.execute(
        update(PortalLink)
        .where(
            PortalLink.id == link_id,
            PortalLink.used_at.is_(None),
            PortalLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(PortalLink, link_id)
