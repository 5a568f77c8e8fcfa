from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view


@org_view(Perm.VIEW_AUDIT)
def activity(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return TemplateResponse(request, "audit/activity.html", {"nav": "activity"})
