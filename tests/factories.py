"""Test data made through the same services the product uses."""

from __future__ import annotations

from allauth.account.models import EmailAddress

from accounts.models import Membership, Organization, User
from accounts.services import organization_create

DEFAULT_PASSWORD = "correct horse battery staple"


def make_user(email: str, *, password: str = DEFAULT_PASSWORD, verified: bool = True) -> User:
    user = User.objects.create_user(email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    return user


def make_org(name: str, *, owner: User) -> Organization:
    return organization_create(name=name, owner=owner)


def make_membership(org: Organization, user: User, role: str) -> Membership:
    return Membership.objects.create(organization=org, user=user, role=role)


def outcomes_of(events, *, timeout: float = 5.0) -> list:
    """The outcome rows of forwarded calls: written just after the answer, so they may trail it briefly."""
    import time

    from audit.models import Event

    ids = [e.id for e in events]
    deadline = time.monotonic() + timeout
    while True:
        found = list(Event.objects.filter(kind=Event.Kind.OUTCOME, parent_id__in=ids).order_by("parent_id"))
        if len(found) >= len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)
