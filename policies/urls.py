from django.urls import path

from policies import matrix_views, views

AGENT = "o/<slug:org_slug>/agents/<int:pk>/"

urlpatterns = [
    path("o/<slug:org_slug>/agents/", views.agents, name="agents"),
    path(AGENT, views.agent_detail, name="agent_detail"),
    path(AGENT + "edit/", views.agent_update, name="agent_update"),
    path(AGENT + "activation/", views.agent_activation, name="agent_activation"),
    path(AGENT + "delete/", views.agent_delete, name="agent_delete"),
    path(AGENT + "keys/", views.agent_key_issue, name="agent_key_issue"),
    path(AGENT + "keys/<int:key_pk>/revoke/", views.agent_key_revoke, name="agent_key_revoke"),
    path(AGENT + "tools/", views.agent_tools, name="agent_tools"),
    path(AGENT + "simulate/", views.agent_simulate, name="agent_simulate"),
    path(AGENT + "rules/", views.agent_rule_create, name="agent_rule_create"),
    path(AGENT + "rules/<int:rule_pk>/delete/", views.agent_rule_delete, name="agent_rule_delete"),
    path("o/<slug:org_slug>/matrix/", matrix_views.matrix_page, name="matrix"),
    path(AGENT + "matrix/<int:item_pk>/", matrix_views.matrix_cell, name="matrix_cell"),
    path(AGENT + "matrix/bulk/", matrix_views.matrix_bulk, name="matrix_bulk"),
    path("o/<slug:org_slug>/approvals/", views.approvals, name="approvals"),
    path("o/<slug:org_slug>/approvals/list/", views.approvals_list, name="approvals_list"),
    path("o/<slug:org_slug>/approvals/badge/", views.approvals_badge, name="approvals_badge"),
    path("o/<slug:org_slug>/approvals/<int:pk>/decide/", views.approval_decide, name="approval_decide"),
]
