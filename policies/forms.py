from django import forms

from accounts.tenancy import OrgContext
from connectors.models import Connection
from policies.models import Rule
from policies.selectors import tool_choices


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Connection) -> str:
        return obj.name


class AgentForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="e.g. 'release-bot'.")
    description = forms.CharField(
        required=False, max_length=2000, label="Description (optional)", widget=forms.Textarea(attrs={"rows": 2})
    )
    mount = ConnectionChoiceField(
        queryset=Connection.objects.none(),
        required=False,
        label="Mount a single connection without prefixes (optional)",
        empty_label="No: tools are named connection__tool",
        help_text="The agent then sees this connection's tools under their own names.",
    )

    def __init__(self, *args, ctx: OrgContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mount"].queryset = ctx.scoped(Connection)

    @property
    def mount_id(self) -> int | None:
        mount = self.cleaned_data.get("mount")
        return mount.pk if mount else None


class AgentActivationForm(forms.Form):
    is_active = forms.TypedChoiceField(choices=[("1", "active"), ("0", "inactive")], coerce=lambda v: v == "1")


class AgentKeyForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", initial="key", help_text="What uses it, e.g. 'laptop'.")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (optional, UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class DenyRuleForm(forms.Form):
    connection = ConnectionChoiceField(queryset=Connection.objects.none(), label="Connection")
    target = forms.ChoiceField(
        choices=[(Rule.Target.TOOL.value, "A tool"), (Rule.Target.ALL.value, "Everything of the connection")],
        label="Deny",
    )
    name = forms.CharField(
        required=False, max_length=2000, label="Tool name", help_text="The upstream's name; empty: every tool."
    )

    def __init__(self, *args, ctx: OrgContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = ctx.scoped(Connection)


class AgentToolsForm(forms.Form):
    """The permission matrix: ``whole`` lists connections allowed entirely, ``tool`` values are
    ``<connection id>:<tool name>``."""

    whole = forms.TypedMultipleChoiceField(required=False, coerce=int)
    tool = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, ctx: OrgContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["whole"].choices = [
            (str(pk), name) for pk, name in ctx.scoped(Connection).values_list("pk", "name")
        ]
        self.fields["tool"].choices = tool_choices(ctx)

    @property
    def allowed(self) -> dict[int, set[str]]:
        allowed: dict[int, set[str]] = {}
        for value in self.cleaned_data["tool"]:
            cid, _, name = value.partition(":")
            allowed.setdefault(int(cid), set()).add(name)
        return allowed

    @property
    def whole_ids(self) -> set[int]:
        return set(self.cleaned_data["whole"])


class SimulateForm(forms.Form):
    """What would this agent get for this call? Answered from the saved rules, nothing is called."""

    tool = forms.CharField(max_length=300, help_text="As the agent names it: connection__tool.")
    arguments = forms.CharField(
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"repository": "acme/web"}.',
    )

    def clean_arguments(self) -> dict:
        import json

        raw = self.cleaned_data.get("arguments") or "{}"
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError("This is not valid JSON.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Give the arguments as a JSON object.")
        return value
