from allauth.account.signals import user_signed_up
from django.dispatch import receiver

from accounts.services import organization_create_personal


@receiver(user_signed_up)
def give_new_user_a_personal_organization(sender, request, user, **kwargs) -> None:
    organization_create_personal(user=user)
