"""The SIEM push against a real HTTP receiver on loopback: signed batches after a cursor, retries with
exponential backoff, status on the settings page, and every change of the settings audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.config import siem_configure
from audit.models import Event, SiemSink
from audit.siem import siem_backoff, siem_due
from audit.tasks import siem_push_due
from audit.tests.helpers import make_event, minutes_ago

pytestmark = pytest.mark.django_db


class Receiver:
    """A SIEM collector: records each request and answers with the next status of ``statuses``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/collect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [e for r in self.requests for e in json.loads(r["body"])["events"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    settings.AUDIT_SIEM_SETTLE_SECONDS = 0
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def sink(world, receiver):
    sink, secret = siem_configure(ctx=world.ctx("admin"), url=receiver.url)
    return sink, secret


def test_setting_up_the_push_shows_the_secret_once_and_stores_it_encrypted(world, client_as, receiver):
    client = client_as(world.admin)
    response = client.post(reverse("audit_siem", kwargs={"org_slug": world.acme.slug}), {"url": receiver.url})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = response.content.decode().split('<code id="siem-secret">')[1].split("</code>")[0]
    assert secret.startswith("sg_whsec_")
    sink = SiemSink.objects.get(organization=world.acme)
    assert secret.encode() not in bytes(sink.secret_ciphertext) and sink.get_secret() == secret
    again = client.get(reverse("audit_settings", kwargs={"org_slug": world.acme.slug})).content.decode()
    assert secret not in again and sink.secret_prefix in again
    change = Event.objects.get(organization_id=world.acme.pk, method="siem.create")
    assert change.user_email == "adam@acme.test" and change.after["url"] == receiver.url
    assert secret not in json.dumps([change.before, change.after])


def test_a_private_address_or_plain_http_is_refused_when_the_operator_has_not_allowed_it(world, client_as, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = False
    client = client_as(world.owner)
    for url, message in (
        ("https://10.1.2.3/collect", "resolves to a private address"),
        ("https://127.0.0.1:8443/collect", "resolves to a private address"),
        ("ftp://siem.example.test/", "Enter an http:// or https:// URL."),
        ("not a url", "Enter an http:// or https:// URL."),
    ):
        response = client.post(reverse("audit_siem", kwargs={"org_slug": world.acme.slug}), {"url": url})
        assert response.status_code == 400 and message in response.content.decode(), url
    assert not SiemSink.objects.exists()


def test_new_events_arrive_signed_in_order_once_each(world, sink, receiver):
    _, secret = sink
    first = [make_event(world.acme, tool=f"tool_{n}") for n in range(3)]
    make_event(world.evil, tool="foreign")
    siem_push_due()
    [request] = receiver.requests
    headers = request["headers"]
    expected = hmac.new(
        secret.encode(), headers["X-ScopeGate-Timestamp"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert headers["X-ScopeGate-Signature"] == f"sha256={expected}"
    assert abs(int(headers["X-ScopeGate-Timestamp"]) - timezone.now().timestamp()) < 60
    body = json.loads(request["body"])
    assert body["organization"] == world.acme.slug
    sent = [e for e in body["events"] if e["kind"] == "mcp"]
    assert [e["id"] for e in sent] == [e.id for e in first]
    assert "foreign" not in request["body"].decode()
    assert [e["method"] for e in body["events"] if e["kind"] != "mcp"] == ["siem.create"]

    siem_push_due()
    assert len(receiver.requests) == 1  # nothing new, nothing sent
    later = make_event(world.acme, tool="later")
    siem_push_due()
    assert [e["id"] for e in json.loads(receiver.requests[1]["body"])["events"]] == [later.id]
    state = SiemSink.objects.get(pk=sink[0].pk)
    assert state.delivered == 5 and state.cursor_id == later.id and state.last_status == 200


def test_events_older_than_the_push_or_still_settling_wait(world, receiver, settings):
    make_event(world.acme, time=minutes_ago(10), tool="before the push")
    siem_configure(ctx=world.ctx("owner"), url=receiver.url)
    settings.AUDIT_SIEM_SETTLE_SECONDS = 60
    make_event(world.acme, tool="just now")
    siem_push_due()
    assert receiver.requests == []
    settings.AUDIT_SIEM_SETTLE_SECONDS = 0
    siem_push_due()
    tools = [e["tool"] for e in receiver.events()]
    assert "just now" in tools and "before the push" not in tools


def test_a_failing_endpoint_is_retried_with_growing_pauses_and_nothing_is_lost(world, sink, receiver, client_as):
    events = [make_event(world.acme, tool=f"tool_{n}") for n in range(2)]
    receiver.statuses = [500]
    siem_push_due()
    state = SiemSink.objects.get(pk=sink[0].pk)
    assert state.failures == 1 and state.last_status == 500 and "HTTP 500" in state.last_error
    assert dt.timedelta(seconds=9) < state.next_attempt_at - timezone.now() <= dt.timedelta(seconds=10)
    assert siem_due() == []  # waiting out its pause
    page = client_as(world.auditor).get(reverse("audit_settings", kwargs={"org_slug": world.acme.slug}))
    assert "failing" in page.content.decode() and "HTTP 500" in page.content.decode()

    SiemSink.objects.filter(pk=state.pk).update(next_attempt_at=timezone.now())
    siem_push_due()
    state.refresh_from_db()
    assert state.failures == 0 and state.last_error == "" and state.last_success_at is not None
    delivered = [e["id"] for e in json.loads(receiver.requests[-1]["body"])["events"]]
    assert {e.id for e in events} <= set(delivered)
    assert [siem_backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert siem_backoff(50).total_seconds() == 3600


def test_an_unreachable_endpoint_is_a_visible_error_not_a_crash(world, receiver, settings):
    siem_configure(ctx=world.ctx("owner"), url="http://127.0.0.1:9/collect")
    make_event(world.acme)
    siem_push_due()
    state = SiemSink.objects.get()
    assert state.failures == 1 and state.last_error.startswith("Could not deliver: ConnectError")


def test_rotating_the_secret_and_removing_the_push_are_audited(world, sink, client_as):
    client = client_as(world.owner)
    response = client.post(reverse("audit_siem_rotate", kwargs={"org_slug": world.acme.slug}))
    new_secret = response.content.decode().split('<code id="siem-secret">')[1].split("</code>")[0]
    assert new_secret != sink[1] and SiemSink.objects.get().get_secret() == new_secret
    client.post(reverse("audit_siem", kwargs={"org_slug": world.acme.slug}), {"url": sink[0].url})  # pause it
    assert SiemSink.objects.get().enabled is False
    assert client.post(reverse("audit_siem_delete", kwargs={"org_slug": world.acme.slug})).status_code == 302
    assert not SiemSink.objects.exists()
    actions = list(
        Event.objects.filter(organization_id=world.acme.pk, target_type="siem")
        .order_by("id")
        .values_list("method", flat=True)
    )
    assert actions == ["siem.create", "siem.secret_rotate", "siem.update", "siem.delete"]
    update = Event.objects.get(method="siem.update")
    assert update.before["enabled"] is True and update.after["enabled"] is False
