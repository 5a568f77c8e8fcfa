from django import forms
from django.core.exceptions import ValidationError

from accounts.roles import TOKEN_ROLES, Role


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Shows a service's ValidationError on the form: on its field when the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")


class DeleteOrganizationForm(forms.Form):
    confirm_slug = forms.CharField(max_length=60, label="Type the organization's slug to confirm")


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, grantable: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in Role if r.value in grantable]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="What will use it, e.g. 'terraform'.")
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in TOKEN_ROLES], initial=Role.ADMIN)
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (optional, UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
