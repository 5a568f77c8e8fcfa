from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from connectors.models import Connection, Credential
from connectors.services import headers_from_lines


class ConnectionForm(forms.Form):
    """ "Add MCP server". The service checks the rest (name pattern, URL and SSRF, header names)."""

    name = forms.CharField(
        max_length=32,
        label="Name",
        help_text="Lower-case letters, digits and dashes. It prefixes the tools: name__tool.",
    )
    transport = forms.ChoiceField(choices=Connection.Transport.choices, initial=Connection.Transport.STREAMABLE_HTTP)
    url = forms.CharField(max_length=2000, required=False, label="URL", help_text="e.g. https://mcp.example.com/mcp")
    command_name = forms.ChoiceField(
        required=False, label="Local command", help_text="Commands the operator of this installation allows."
    )
    headers = forms.CharField(
        required=False,
        max_length=20_000,
        label="Static headers (optional)",
        help_text="One 'Name: value' per line, e.g. 'Authorization: Bearer …'. Stored encrypted; never shown again.",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        commands = sorted(settings.STDIO_COMMANDS)
        if commands:
            self.fields["command_name"].choices = [("", "—"), *((c, c) for c in commands)]
        else:
            # Without operator-allowed commands, stdio is no choice at all.
            del self.fields["command_name"]
            self.fields["transport"].choices = [
                c for c in Connection.Transport.choices if c[0] != Connection.Transport.STDIO
            ]

    def clean_headers(self) -> dict[str, str]:
        try:
            return headers_from_lines(self.cleaned_data["headers"].splitlines())
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["headers"]) from exc


class ConnectProviderForm(forms.Form):
    """ "Connect GitHub" / "Connect Google": a name, an access level, and (Google) which services."""

    name = forms.CharField(
        max_length=32,
        label="Name",
        help_text="Lower-case letters, digits and dashes. It prefixes the tools: name__tool.",
    )
    access = forms.ChoiceField(
        choices=Credential.Access.choices,
        initial=Credential.Access.READ,
        label="Access",
        help_text="Read only: agents get only the tools that read.",
    )
    services = forms.MultipleChoiceField(required=False, label="Services", widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, provider, **kwargs) -> None:
        super().__init__(*args, prefix=provider.kind, **kwargs)
        self.provider = provider
        self.fields["name"].initial = provider.kind
        choices = [(s.key, s.label) for s in provider.services]
        if len(choices) > 1:
            self.fields["services"].choices = choices
            self.fields["services"].initial = [key for key, _ in choices]
            self.fields["services"].required = True
        else:
            del self.fields["services"]

    def chosen_services(self) -> list[str] | None:
        return self.cleaned_data.get("services") or None
