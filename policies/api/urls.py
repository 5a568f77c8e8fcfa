from django.urls import path

from policies.api import views

AGENTS = "orgs/<slug:org_slug>/agents/"
AGENT = AGENTS + "<int:pk>/"

urlpatterns = [
    path(AGENTS, views.AgentListView.as_view(), name="api_agents"),
    path(AGENT, views.AgentDetailView.as_view(), name="api_agent"),
    path(AGENT + "keys/", views.AgentKeyListView.as_view(), name="api_agent_keys"),
    path(AGENT + "keys/<int:key_pk>/", views.AgentKeyDetailView.as_view(), name="api_agent_key"),
    path(AGENT + "rules/", views.RuleListView.as_view(), name="api_agent_rules"),
    path(AGENT + "rules/<int:rule_pk>/", views.RuleDetailView.as_view(), name="api_agent_rule"),
    path(AGENT + "tools/", views.AgentToolsView.as_view(), name="api_agent_tools"),
    path(AGENT + "policy/", views.AgentPolicyView.as_view(), name="api_agent_policy"),
    path(AGENT + "simulate/", views.AgentSimulateView.as_view(), name="api_agent_simulate"),
]
