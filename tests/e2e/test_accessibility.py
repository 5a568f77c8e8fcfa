"""axe-core over the dashboard's pages: no WCAG 2.1 A/AA violation."""

from pathlib import Path

import pytest

from accounts.tenancy import resolve_org_context
from audit.tests.helpers import make_event
from connectors.models import CatalogItem
from connectors.services import connection_create
from policies.services import agent_create, agent_key_issue, rule_create
from tests.factories import DEFAULT_PASSWORD, make_membership, make_org, make_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
RULES = "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}}"


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(f"async () => await axe.run(document, {RULES})")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})" for v in result["violations"]
    ]


def test_every_page_meets_wcag_aa(live, browser):
    owner = make_user("ally@example.test")
    org = make_org("Acme", owner=owner)
    make_membership(org, make_user("bo@example.test"), "member")
    ctx = resolve_org_context(user=owner, token=None, slug=org.slug)
    connection = connection_create(
        ctx=ctx, name="echo", url="http://127.0.0.1:9/mcp", headers={"Authorization": "Bearer x"}, sync=False
    )
    for name, status in (("echo", "active"), ("delete_repo", "changed")):
        CatalogItem.objects.create(
            organization=org,
            connection=connection,
            kind="tool",
            name=name,
            description=f"The {name} tool.",
            fingerprint="b" * 64,
            approved_fingerprint="a" * 64 if status == "changed" else "b" * 64,
            status=status,
        )
    agent = agent_create(ctx=ctx, name="release-bot", description="Ships releases.")
    agent_key_issue(ctx=ctx, agent_id=agent.pk, name="laptop")
    rule_create(
        ctx=ctx, agent_id=agent.pk, effect="deny", connection_id=connection.pk, target="tool", name="delete_repo"
    )
    change = make_event(
        org,
        kind="change",
        actor_type="user",
        user_email="ally@example.test",
        method="rule.create",
        decision="none",
        before=None,
        after={"effect": "deny", "name": "delete_repo"},
    )
    # axe is injected as a script tag, which the Content-Security-Policy rightly forbids; bypass it here only.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        page.goto(live.url + path)
        found[path] = violations(page)
    page.goto(live.url + "/accounts/login/")
    page.locator("#id_login").fill("ally@example.test")
    page.locator("#id_password").fill(DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"**/o/{org.slug}/")
    for suffix in (
        "",
        "connections/",
        f"connections/{connection.pk}/",
        "agents/",
        f"agents/{agent.pk}/",
        "activity/",
        f"activity/{change.pk}/",
        "activity/charts/?by=agent",
        "settings/audit/",
        "approvals/",
        "matrix/",
        "settings/",
        "settings/members/",
        "settings/tokens/",
    ):
        path = f"/o/{org.slug}/{suffix}"
        page.goto(live.url + path)
        found[path] = violations(page)
    page.goto(live.url + "/orgs/new/")
    found["/orgs/new/"] = violations(page)
    context.close()
    assert {path: v for path, v in found.items() if v} == {}
