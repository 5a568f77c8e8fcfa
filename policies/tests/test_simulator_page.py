"""The simulator on the agent's page answers the decision and the rule that made it, from the saved rules."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import Connection
from policies.services import agent_create, rule_create

pytestmark = pytest.mark.django_db


def test_the_simulator_names_the_decision_and_its_rule(world, client_as):
    ctx = world.ctx("owner")
    conn = Connection.objects.create(organization=world.acme, name="echo", url="http://127.0.0.1:9/mcp")
    agent = agent_create(ctx=ctx, name="sim-bot")
    rule = rule_create(ctx=ctx, agent_id=agent.pk, effect="allow", connection_id=conn.pk, target="tool", name="echo")
    url = reverse("agent_simulate", args=[world.acme.slug, agent.pk])
    client = client_as(world.auditor)  # reading the policy is enough to ask it

    allowed = client.post(url, {"sim-tool": "echo__echo", "sim-arguments": "{}"})
    assert allowed.status_code == 200
    assert "allow" in allowed.text and f"by rule {rule.pk}" in allowed.text

    denied = client.post(url, {"sim-tool": "echo__delete_repo", "sim-arguments": "{}"})
    assert "deny" in denied.text and "denied by default" in denied.text

    bad = client.post(url, {"sim-tool": "echo__echo", "sim-arguments": "{oops"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
