"""Malformed, wrongly typed, missing and oversized input to every form and API endpoint: each answers field
errors (400) or 413 (415 for a body that is not JSON), never a 500, and nothing half-saved remains."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken, Invitation, Membership, Organization, User
from accounts.tenancy import resolve_org_context

OVERSIZED = "x" * 1_200_000
LONG = "x" * 1000


def snapshot() -> tuple:
    ids = [
        sorted(m.objects.values_list("pk", flat=True)) for m in (Organization, Membership, Invitation, ApiToken, User)
    ]
    names = list(Organization.objects.values_list("name", flat=True))
    roles = list(Membership.objects.values_list("role", flat=True))
    return (*ids, names, roles)


@pytest.fixture
def setup(world, client_as):
    ctx = resolve_org_context(user=world.owner, token=None, slug=world.acme.slug)
    _, secret = services.api_token_issue(ctx=ctx, name="ops", role="admin")
    return {
        "world": world,
        "owner": client_as(world.owner),
        "anon": client_as(None),
        "slug": world.acme.slug,
        "own_membership": world.membership(world.owner).pk,
        "erin": world.membership(world.erin).pk,
        "token": secret,
    }


# (url name, kwargs from setup, [bad bodies]) for forms posted as the organization's owner
FORM_CASES = [
    ("org_create", lambda s: {}, [{}, {"name": ""}, {"name": "   "}, {"name": LONG}]),
    ("org_settings", lambda s: {"org_slug": s["slug"]}, [{}, {"name": ""}, {"name": LONG}]),
    ("org_delete", lambda s: {"org_slug": s["slug"]}, [{}, {"confirm_slug": "wrong"}, {"confirm_slug": LONG}]),
    (
        "invitation_create",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"email": "not-an-email", "role": "member"},
            {"email": "a@b.test", "role": "god"},
            {"email": "a" * 300 + "@x.test", "role": "member"},
            {"email": "mia@acme.test", "role": "member"},
        ],
    ),
    (
        "membership_role",
        lambda s: {"org_slug": s["slug"], "pk": s["erin"]},
        [{}, {"role": "god"}, {"role": ""}],
    ),
    ("membership_role", lambda s: {"org_slug": s["slug"], "pk": s["own_membership"]}, [{"role": "member"}]),
    ("membership_remove", lambda s: {"org_slug": s["slug"], "pk": s["own_membership"]}, [{}]),
    (
        "settings_tokens",
        lambda s: {"org_slug": s["slug"]},
        [
            {},
            {"name": "", "role": "admin"},
            {"name": "x", "role": "owner"},
            {"name": "x", "role": "admin", "expires_at": "yesterday"},
            {"name": "x", "role": "admin", "expires_at": "2001-01-01T00:00"},
            {"name": LONG, "role": "admin"},
        ],
    ),
    ("invitation_detail", lambda s: {"secret": "sg_inv_bogus"}, [{}]),
]


def _form_params():
    for name, kwargs, bodies in FORM_CASES:
        for i, body in enumerate(bodies):
            yield pytest.param(name, kwargs, body, id=f"{name}-{i}")


@pytest.mark.parametrize(("name", "kwargs", "body"), list(_form_params()))
def test_a_bad_form_answers_400_with_field_errors_and_saves_nothing(setup, name, kwargs, body):
    before = snapshot()
    response = setup["owner"].post(reverse(name, kwargs=kwargs(setup)), data=body)
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    assert snapshot() == before


ALLAUTH_FORMS = [
    (
        "account_signup",
        [
            {},
            {"email": "bad", "password1": "x", "password2": "y"},
            {"email": "new@x.test", "password1": "short", "password2": "short"},
        ],
    ),
    ("account_login", [{}, {"login": "olivia@acme.test", "password": "wrong"}, {"login": LONG, "password": LONG}]),
    ("account_reset_password", [{}, {"email": "not-an-email"}]),
]


@pytest.mark.parametrize(
    ("name", "body"), [pytest.param(n, b, id=f"{n}-{i}") for n, bodies in ALLAUTH_FORMS for i, b in enumerate(bodies)]
)
def test_a_bad_account_form_answers_400(setup, name, body):
    before = snapshot()
    response = setup["anon"].post(reverse(name), data=body)
    assert response.status_code == 400
    assert snapshot() == before


def test_signing_up_with_a_taken_address_reveals_nothing_and_creates_nothing(setup):
    before = snapshot()
    body = {"email": "olivia@acme.test", "password1": "a long passphrase 1", "password2": "a long passphrase 1"}
    response = setup["anon"].post(reverse("account_signup"), data=body)
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")
    assert snapshot() == before


def test_a_bad_password_change_answers_400(setup):
    response = setup["owner"].post(reverse("account_change_password"), data={"oldpassword": "wrong"})
    assert response.status_code == 400


FORM_URLS = [name for name, _, _ in FORM_CASES] + ["account_signup", "account_login"]


@pytest.mark.parametrize("name", sorted(set(FORM_URLS)))
def test_an_oversized_form_answers_413(setup, name):
    kwargs = next((k(setup) for n, k, _ in FORM_CASES if n == name), {})
    before = snapshot()
    response = setup["owner"].post(reverse(name, kwargs=kwargs), data={"name": OVERSIZED})
    assert response.status_code == 413
    assert snapshot() == before


# (url name, method, kwargs, a valid body to break)
API_WRITES = [
    ("api_orgs", "post", lambda s: {}, {"name": "New"}),
    ("api_org", "patch", lambda s: {"org_slug": s["slug"]}, {"name": "New"}),
    ("api_member", "patch", lambda s: {"org_slug": s["slug"], "pk": s["erin"]}, {"role": "auditor"}),
    ("api_invitations", "post", lambda s: {"org_slug": s["slug"]}, {"email": "n@acme.test", "role": "member"}),
    ("api_tokens", "post", lambda s: {"org_slug": s["slug"]}, {"name": "ci", "role": "auditor"}),
    ("api_invitation_accept", "post", lambda s: {}, {"token": "sg_inv_x"}),
]
WRONG_VALUES = [None, True, 12.5, [], {}, ["a"], {"a": 1}, LONG, ""]


def _api_params():
    for name, method, kwargs, body in API_WRITES:
        yield pytest.param(name, method, kwargs, "{not json", 400, id=f"{name}-malformed")
        yield pytest.param(name, method, kwargs, "[1, 2]", 400, id=f"{name}-array")
        yield pytest.param(name, method, kwargs, "null", 400, id=f"{name}-null")
        yield pytest.param(name, method, kwargs, "{}", 400, id=f"{name}-missing")
        for field in body:
            for i, value in enumerate(WRONG_VALUES):
                wrong = json.dumps({**body, field: value})
                yield pytest.param(name, method, kwargs, wrong, 400, id=f"{name}-{field}-wrong{i}")


def _call(setup, name, method, kwargs, raw, **extra):
    client = setup["owner"] if name in {"api_orgs", "api_invitation_accept"} else setup["anon"]
    headers = {} if client is setup["owner"] else {"HTTP_AUTHORIZATION": f"Bearer {setup['token']}"}
    return getattr(client, method)(
        reverse(name, kwargs=kwargs(setup)), data=raw, **{"content_type": "application/json", **extra, **headers}
    )


@pytest.mark.parametrize(("name", "method", "kwargs", "raw", "status"), list(_api_params()))
def test_bad_api_input_answers_field_errors_in_one_shape_and_saves_nothing(setup, name, method, kwargs, raw, status):
    before = snapshot()
    response = _call(setup, name, method, kwargs, raw)
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["type"] in {"validation_error", "parse_error"} and error["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(("name", "method", "kwargs", "body"), API_WRITES, ids=[w[0] for w in API_WRITES])
def test_an_oversized_api_body_answers_413(setup, name, method, kwargs, body):
    before = snapshot()
    response = _call(setup, name, method, kwargs, json.dumps({**body, "pad": OVERSIZED}))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert snapshot() == before


@pytest.mark.parametrize(("name", "method", "kwargs", "body"), API_WRITES, ids=[w[0] for w in API_WRITES])
def test_a_body_that_is_not_json_answers_415(setup, name, method, kwargs, body):
    response = _call(setup, name, method, kwargs, "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "unsupported_media_type"


def test_a_bad_bearer_token_answers_401_with_a_challenge(client, world):
    for header in ("Bearer", "Bearer a b", "Bearer sg_api_nope", "Bearer \u00e9t\u00e9"):
        response = client.get(reverse("api_orgs"), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["type"] == "authentication_failed"


def test_unknown_api_paths_and_ids_answer_404_in_the_api_shape(setup):
    for path in ("/api/v1/nope/", "/api/v2/orgs/", f"/api/v1/orgs/{setup['slug']}/members/999999/"):
        response = setup["owner"].get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"
