from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int, secret: str) -> None:
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at is not None:
        return  # revoked or accepted meanwhile
    url = settings.PUBLIC_URL + reverse("invitation_detail", args=[secret])
    context = {"invitation": invitation, "url": url}
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Join {invitation.organization.name} on ScopeGate",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
