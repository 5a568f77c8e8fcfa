from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings

from scopegate.env import env_bool


def signup_is_open() -> bool:
    return env_bool("SCOPEGATE_OPEN_SIGNUP", True)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return signup_is_open()

    def get_email_verification_redirect_url(self, email_address):
        return settings.LOGIN_REDIRECT_URL


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return signup_is_open()
