"""Retention per organization: who may set it, its bounds, and its audit row."""

import pytest
from django.urls import reverse

from audit.models import Event

pytestmark = pytest.mark.django_db


def url(world):
    return reverse("audit_settings", kwargs={"org_slug": world.acme.slug})


def test_an_owner_sets_the_retention_and_the_change_is_audited(world, client_as):
    response = client_as(world.owner).post(url(world), {"days": "30"})
    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.audit_retention_days == 30
    change = Event.objects.get(organization_id=world.acme.pk, method="organization.audit_retention")
    assert change.before == {"audit_retention_days": 90} and change.after == {"audit_retention_days": 30}
    assert change.user_email == "olivia@acme.test"
    assert "kept for <strong>30 days</strong>" in client_as(world.auditor).get(url(world)).content.decode()


@pytest.mark.parametrize("days", ["0", "3651", "-5", "ninety", "", "1.5"])
def test_retention_outside_one_day_to_ten_years_is_a_field_error(world, client_as, days):
    response = client_as(world.admin).post(url(world), {"days": days})
    assert response.status_code == 400 and b'role="alert"' in response.content
    world.acme.refresh_from_db()
    assert world.acme.audit_retention_days == 90
    assert not Event.objects.filter(method="organization.audit_retention").exists()


def test_auditors_read_the_settings_but_cannot_change_them(world, client_as):
    client = client_as(world.auditor)
    page = client.get(url(world))
    assert page.status_code == 200 and "Save retention" not in page.content.decode()
    assert client.post(url(world), {"days": "7"}).status_code == 403
    assert client_as(world.member).get(url(world)).status_code == 403
