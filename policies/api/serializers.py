from rest_framework import serializers

from policies.models import Agent, AgentKey, Rule
from policies.selectors import endpoint_url
from scopegate.serializers import StrictBooleanField, StrictCharField, StrictIntegerField


class AgentSerializer(serializers.ModelSerializer):
    endpoint = serializers.SerializerMethodField(help_text="The agent's MCP endpoint.")
    mount = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The connection mounted without prefixes.")

    class Meta:
        model = Agent
        fields = ["id", "name", "public_id", "description", "mount", "is_active", "endpoint", "created_at"]
        read_only_fields = fields

    def get_endpoint(self, agent: Agent) -> str:
        return endpoint_url(agent)


class AgentCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    mount = StrictIntegerField(
        required=False, allow_null=True, default=None, help_text="A connection's id: its tools keep their names."
    )


class AgentUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    mount = StrictIntegerField(required=False, allow_null=True, help_text="A connection's id, or null for none.")
    is_active = StrictBooleanField(required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Send at least one of name, description, mount, is_active.")
        return attrs


class AgentKeySerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = AgentKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "is_active"]
        read_only_fields = fields


class AgentKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, help_text="What uses the key, e.g. 'laptop'.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AgentKeyIssuedSerializer(AgentKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret, shown this once.")
    endpoint = serializers.CharField(read_only=True)
    secret_url = serializers.CharField(
        read_only=True, help_text="The endpoint with the key in its path, for clients without headers: a secret."
    )

    class Meta(AgentKeySerializer.Meta):
        fields = [*AgentKeySerializer.Meta.fields, "key", "endpoint", "secret_url"]
        read_only_fields = fields


class RuleSerializer(serializers.ModelSerializer):
    connection = serializers.PrimaryKeyRelatedField(read_only=True)
    connection_name = serializers.CharField(source="connection.name", read_only=True, default=None)

    class Meta:
        model = Rule
        fields = [
            "id",
            "effect",
            "connection",
            "connection_name",
            "target",
            "name",
            "constraints",
            "rate_limit",
            "rate_period",
            "rate_burst",
            "expires_at",
            "created_at",
        ]
        read_only_fields = fields


class RuleWriteSerializer(serializers.Serializer):
    """A rule's fields; the service validates them together (constraints, targets, effects)."""

    effect = serializers.ChoiceField(choices=Rule.Effect.choices)
    connection = StrictIntegerField(
        required=False, allow_null=True, default=None, help_text="A connection's id; null: every connection."
    )
    target = serializers.ChoiceField(choices=Rule.Target.choices, default=Rule.Target.ALL)
    name = StrictCharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="The item, pattern or annotation."
    )
    constraints = serializers.JSONField(required=False, default=list, help_text="See policies.constraints.")
    rate_limit = StrictIntegerField(required=False, allow_null=True, default=None, min_value=1)
    rate_period = serializers.ChoiceField(choices=Rule.Period.choices, default=Rule.Period.MINUTE)
    rate_burst = StrictIntegerField(required=False, allow_null=True, default=None, min_value=1)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def service_values(self) -> dict:
        values = dict(self.validated_data)
        if "connection" in values:
            values["connection_id"] = values.pop("connection")
        return values


class RuleUpdateSerializer(RuleWriteSerializer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Send at least one field of the rule.")
        return attrs


class SimulateSerializer(serializers.Serializer):
    tool = StrictCharField(max_length=300, help_text="The tool as the agent names it: connection__tool.")
    arguments = serializers.DictField(required=False, default=dict)


class PolicySerializer(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), max_length=5000)


class AgentToolsSerializer(serializers.Serializer):
    """The permission matrix: connections allowed entirely, and per connection id the tools allowed."""

    whole = serializers.ListField(child=StrictIntegerField(), max_length=1000)
    allowed = serializers.DictField(
        child=serializers.ListField(child=StrictCharField(max_length=2000), max_length=5000),
        help_text='{"<connection id>": ["tool", ...]}',
    )

    def validate_allowed(self, value: dict) -> dict[int, set[str]]:
        allowed: dict[int, set[str]] = {}
        for key, names in value.items():
            if not (key.isascii() and key.isdigit()):
                raise serializers.ValidationError(f"{key!r} is not a connection id.")
            allowed[int(key)] = set(names)
        return allowed
