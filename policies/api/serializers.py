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
    connection_name = serializers.CharField(source="connection.name", read_only=True)

    class Meta:
        model = Rule
        fields = ["id", "effect", "connection", "connection_name", "target", "name", "created_at"]
        read_only_fields = fields


class RuleCreateSerializer(serializers.Serializer):
    effect = serializers.ChoiceField(choices=Rule.Effect.choices)
    connection = StrictIntegerField()
    target = serializers.ChoiceField(choices=Rule.Target.choices, default=Rule.Target.ALL)
    name = StrictCharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="The item's name; empty: all."
    )


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
