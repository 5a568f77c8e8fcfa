from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view


@org_view()
def agents(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "policies/agents.html", {"nav": "agents"})


@org_view(Perm.VIEW_AUDIT)
def approvals(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "policies/approvals.html", {"nav": "approvals"})
