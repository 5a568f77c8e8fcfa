"""Shared fixtures: one organization with a person in every role, and an outsider with an organization of
their own, so that every test can show cross-tenant denial by habit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.models import Membership, Organization, User
from tests.factories import make_membership, make_org, make_user
from tests.live import start_daphne, stop


@dataclass
class World:
    acme: Organization
    evil: Organization
    owner: User
    admin: User
    member: User
    auditor: User
    erin: User  # a second member, the target of role changes and removals
    outsider: User  # owner of evil, member of nothing in acme

    def user(self, role: str) -> User:
        return getattr(self, role)

    def ctx(self, role: str = "owner"):
        """The organization context of acme's person in ``role``, as a view or service would see it."""
        from accounts.tenancy import resolve_org_context

        return resolve_org_context(user=self.user(role), token=None, slug=self.acme.slug)

    def membership(self, user: User) -> Membership:
        return Membership.objects.get(organization=self.acme, user=user)


@pytest.fixture
def world(db) -> World:
    owner = make_user("olivia@acme.test")
    acme = make_org("Acme", owner=owner)
    evil = make_org("Evil Corp", owner=make_user("mallory@evil.test"))
    people = {
        "admin": make_user("adam@acme.test"),
        "member": make_user("mia@acme.test"),
        "auditor": make_user("aubrey@acme.test"),
        "erin": make_user("erin@acme.test"),
    }
    make_membership(acme, people["admin"], Membership.Role.ADMIN)
    make_membership(acme, people["member"], Membership.Role.MEMBER)
    make_membership(acme, people["auditor"], Membership.Role.AUDITOR)
    make_membership(acme, people["erin"], Membership.Role.MEMBER)
    outsider = User.objects.get(email="mallory@evil.test")
    return World(acme=acme, evil=evil, owner=owner, outsider=outsider, **people)


@pytest.fixture
def client_as():
    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main thread for the rest
    of the session, and the asyncio tests need that thread free."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real daphne on loopback serving the test database; tests using it need a transactional database."""
    server = start_daphne(tmp_path_factory.mktemp("daphne"))
    yield server
    stop(server)


@pytest.fixture(scope="session", autouse=True)
def _flush_despite_live_servers():
    """The flush after a transactional test tries again when a live server's work deadlocked it (tests/live.py)."""
    from django.test import TransactionTestCase

    from tests.live import flushing_despite_live_servers

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            TransactionTestCase,
            "_fixture_teardown",
            flushing_despite_live_servers(TransactionTestCase._fixture_teardown),
        )
        yield


@pytest.fixture(scope="session", autouse=True)
def _close_database_pools(django_db_setup, django_db_blocker):
    """psycopg's pool keeps a connection to the test database open, and so do worker threads and the audit writer
    (its own, for the last event loop that wrote): close them before the database is dropped."""
    yield
    from django.db import connections

    for connection in connections.all():
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
    _end_other_sessions(connections["default"].settings_dict)


def _end_other_sessions(db: dict) -> None:
    """The ORM connections that worker threads opened (``sync_to_async``) and the audit writer's outlive the tests,
    and nothing closes them from this thread: end them, so that the test database can be dropped."""
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    from audit.pgwriter import connect_params

    with psycopg.connect(**connect_params(db, dbname="postgres"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db["NAME"]],
        )


@pytest.fixture(scope="session")
def _emulator_process():
    import os

    from django.conf import settings

    from tests.emulators import Emulator

    emulator = Emulator(int(os.environ["SCOPEGATE_EMULATOR_PORT"]))
    emulator.allow_redirects_to(settings.PUBLIC_URL)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(_emulator_process):
    """GitHub and Google on loopback (tests/emulators), with fresh data, counters and knobs for each test."""
    _emulator_process.reset()
    return _emulator_process
