"""The matrix page: agents side by side with the gateway's own decisions; a cell previewed, then saved in place
with a resource editor; a bulk action previewed and applied; every save audited."""

import pytest
from django.urls import reverse

from audit.models import Event
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.models import Rule
from policies.resources import catalog_resources_set
from policies.services import agent_create, rule_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def matrix(world, client_as):
    ctx = world.ctx("owner")
    github = connection_create(ctx=ctx, name="github", url="http://127.0.0.1:9/mcp", sync=False)
    items = {}
    for name, annotations in (
        ("list_repos", {"readOnlyHint": True}),
        ("create_issue", {"destructiveHint": False}),
        ("delete_repo", {}),
    ):
        items[name] = CatalogItem.objects.create(
            organization=world.acme,
            connection=github,
            kind="tool",
            name=name,
            definition={
                "name": name,
                "annotations": annotations,
                "inputSchema": {"properties": {"repo": {}, "title": {}}},
            },
            fingerprint="a" * 64,
            approved_fingerprint="a" * 64,
        )
    catalog_resources_set(ctx=ctx, item_id=items["create_issue"].pk, resources={"arguments": {"repo": "repository"}})
    bot = agent_create(ctx=ctx, name="release-bot")
    triage = agent_create(ctx=ctx, name="triage-bot")
    rule_create(ctx=ctx, agent_id=triage.pk, effect="allow", connection_id=github.pk, target="all")
    return {"ctx": ctx, "items": items, "bot": bot, "triage": triage, "owner": client_as(world.owner), "world": world}


def test_agents_side_by_side_show_what_the_gateway_decides(matrix):
    m = matrix
    url = reverse("matrix", args=[m["world"].acme.slug]) + f"?agent={m['bot'].pk}&agent={m['triage'].pk}"
    page = m["owner"].get(url).content.decode()
    assert "release-bot" in page and "triage-bot" in page and "delete_repo" in page
    assert page.count(">allow<") == 3 and page.count(">deny<") == 3  # triage allowed everything, bot nothing


def test_a_cell_is_previewed_then_saved_in_place_with_its_resource_editor(matrix):
    m = matrix
    url = reverse("matrix_cell", args=[m["world"].acme.slug, m["bot"].pk, m["items"]["create_issue"].pk])
    editor = m["owner"].get(url + "?edit=1", HTTP_HX_REQUEST="true").content.decode()
    assert "Allowed repository values for <code>repo</code>" in editor
    form = {"effect": "ask", "res_repo": "acme/web, acme/api", "rate_limit": "20", "rate_period": "minute"}
    preview = m["owner"].post(url, {**form, "step": "preview"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<code>github__create_issue</code>: deny → ask" in preview
    assert not Rule.objects.filter(agent=m["bot"]).exists()  # a preview saves nothing
    saved = m["owner"].post(url, {**form, "step": "save"}, HTTP_HX_REQUEST="true")
    assert saved.status_code == 200 and ">ask<" in saved.content.decode()
    rule = Rule.objects.get(agent=m["bot"])
    assert rule.constraints == [{"argument": "repo", "op": "one_of", "values": ["acme/web", "acme/api"]}]
    assert rule.rate_limit == 20
    assert Event.objects.filter(method="rule.create").order_by("-id").first().after["effect"] == "ask"
    m["owner"].post(url, {"effect": "default", "step": "save"}, HTTP_HX_REQUEST="true")
    assert not Rule.objects.filter(agent=m["bot"]).exists()
    assert Event.objects.get(method="rule.delete").before["effect"] == "ask"


def test_a_bulk_action_is_previewed_then_applied(matrix):
    m = matrix
    url = reverse("matrix_bulk", args=[m["world"].acme.slug, m["triage"].pk])
    preview = m["owner"].post(url, {"action": "deny_destructive", "step": "preview"}).content.decode()
    assert "<code>github__delete_repo</code>: allow → deny" in preview
    assert "list_repos" not in preview and "create_issue" not in preview
    m["owner"].post(url, {"action": "deny_destructive", "step": "apply"})
    rule = Rule.objects.get(agent=m["triage"], effect="deny")
    assert (rule.target, rule.name, rule.connection_id) == ("annotation", "destructive", None)


def test_a_member_sees_the_matrix_but_cannot_edit_it(matrix, client_as):
    m = matrix
    member = client_as(m["world"].member)
    url = reverse("matrix_cell", args=[m["world"].acme.slug, m["bot"].pk, m["items"]["create_issue"].pk])
    assert "Save" not in member.get(url + "?edit=1").content.decode()
    assert member.post(url, {"effect": "allow", "step": "save"}).status_code == 403
