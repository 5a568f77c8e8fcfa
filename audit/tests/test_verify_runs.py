"""Integrity checks run by a worker: queued from the page, followed while they run, their verdict in the trail."""

import pytest
from django.urls import reverse

from audit import verify_runs
from audit.changes import change_record
from audit.models import Event, VerifyRun
from audit.verify import verify_organization

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_trail")]


def changes(world, n=3):
    for i in range(n):
        change_record(
            organization_id=world.acme.pk,
            actor=world.owner,
            action="rule.update",
            target_type="rule",
            target_id=i,
            after={"effect": "deny"},
        )


def url(world, name="activity_verify", **kwargs):
    return reverse(name, kwargs={"org_slug": world.acme.slug, **kwargs})


def ask(client, world, capture):
    """Asks for a check; the worker (an eager queue here) takes it once the request's transaction commits. The
    page then follows it: the answer the page polls."""
    with capture(execute=True):
        response = client.post(url(world), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in response.content.decode()
    run = VerifyRun.objects.filter(organization=world.acme).latest("created_at")
    return client.get(url(world, "activity_verify_run", pk=run.pk), HTTP_HX_REQUEST="true").content.decode()


def test_a_check_is_asked_for_by_a_person_and_its_verdict_enters_the_trail(
    world, client_as, django_capture_on_commit_callbacks
):
    changes(world)
    assert "Intact." in ask(client_as(world.auditor), world, django_capture_on_commit_callbacks)
    run = VerifyRun.objects.get(organization=world.acme)
    # three changes and the request for this check, which the trail holds before the check starts
    assert run.status == "done" and run.ok is True and run.checked == 4 and run.requested_by == world.auditor
    asked = Event.objects.get(organization_id=world.acme.pk, method="audit.verify")
    assert asked.user_id == world.auditor.pk and asked.target_id == str(run.pk)
    verdict = Event.objects.get(organization_id=world.acme.pk, method="audit.verified")
    assert verdict.actor_type == "system" and verdict.after["ok"] is True and verdict.after["checked"] == 4
    assert verify_organization(world.acme.pk).ok  # the verdict's own events chain like any other


def test_asking_again_while_a_check_is_under_way_follows_that_one(world, client_as):
    queued = VerifyRun.objects.create(organization=world.acme, requested_by=world.owner)
    response = client_as(world.owner).post(url(world))
    assert response.status_code == 302 and response["Location"] == url(world, "activity_verify_run", pk=queued.pk)
    assert VerifyRun.objects.filter(organization=world.acme).count() == 1


def test_a_check_under_way_shows_its_progress_and_polls_until_it_is_done(world, client_as):
    run = VerifyRun.objects.create(organization=world.acme, status="running", checked=40000)
    text = client_as(world.auditor).get(url(world, "activity_verify_run", pk=run.pk)).content.decode()
    assert "Checking…" in text and "40000 events checked so far" in text
    assert 'hx-trigger="every 1s"' in text and url(world, "activity_verify_run", pk=run.pk) in text
    VerifyRun.objects.filter(pk=run.pk).update(status="done", ok=True, checked=41000)
    fragment = client_as(world.auditor).get(url(world, "activity_verify_run", pk=run.pk), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "Intact." in body and "41000" in body and "hx-trigger" not in body and "<html" not in body


def test_progress_is_reported_while_the_trail_is_walked(world):
    changes(world, 5)
    seen = []
    report = verify_organization(world.acme.pk, progress=seen.append, every=2)
    assert report.ok and seen == [2, 4]


def test_a_check_that_cannot_be_queued_says_so_instead_of_waiting_forever(
    world, client_as, monkeypatch, django_capture_on_commit_callbacks
):
    """A real broker that refuses: a port nothing listens on, with publishing not retried (as a worker-less
    deployment whose Redis is down would see it after its retries)."""
    from scopegate.celery import app
    from tests.upstreams.run import free_port

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setitem(app.conf, "task_publish_retry", False)
    monkeypatch.setattr(app, "_pool", None)  # the app's connections to the configured broker stay as they were
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    assert "could not be queued" in ask(client_as(world.owner), world, django_capture_on_commit_callbacks)
    assert VerifyRun.objects.get(organization=world.acme).status == "failed"


def test_a_check_that_fails_in_the_worker_is_marked_failed_and_may_be_asked_again(
    world, client_as, monkeypatch, django_capture_on_commit_callbacks
):
    def crash(*args, **kwargs):
        raise MemoryError("worker ran out of memory")

    monkeypatch.setattr(verify_runs, "verify_organization", crash)
    failed = ask(client_as(world.owner), world, django_capture_on_commit_callbacks)
    assert "did not finish" in failed and "MemoryError" in failed
    monkeypatch.undo()
    assert "Intact." in ask(client_as(world.owner), world, django_capture_on_commit_callbacks)
    assert VerifyRun.objects.filter(organization=world.acme).count() == 2


def test_a_duplicate_delivery_of_the_task_runs_the_check_once(world):
    run = VerifyRun.objects.create(organization=world.acme)
    assert verify_runs.verify_run_execute(run.pk).status == "done"
    assert verify_runs.verify_run_execute(run.pk) is None
    assert Event.objects.filter(organization_id=world.acme.pk, method="audit.verified").count() == 1


def test_another_organizations_check_is_not_found(world, client_as):
    run = VerifyRun.objects.create(organization=world.acme, status="done", ok=True)
    through_own = reverse("activity_verify_run", kwargs={"org_slug": world.evil.slug, "pk": run.pk})
    assert client_as(world.outsider).get(through_own).status_code == 404
    assert client_as(world.outsider).get(url(world, "activity_verify_run", pk=run.pk)).status_code == 404
