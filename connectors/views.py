from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.tenancy import OrgContext, org_view


@org_view()
def connections(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "connectors/connections.html", {"nav": "connections"})
