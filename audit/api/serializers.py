"""The shape of an event in the REST API (read-only: the trail is append-only)."""

from __future__ import annotations

from rest_framework import serializers


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.DateTimeField()
    kind = serializers.CharField()
    actor_type = serializers.CharField()
    agent_id = serializers.IntegerField(allow_null=True)
    agent_name = serializers.CharField()
    key_prefix = serializers.CharField()
    user_id = serializers.IntegerField(allow_null=True)
    user_email = serializers.CharField()
    via = serializers.CharField()
    client_name = serializers.CharField()
    client_version = serializers.CharField()
    source_ip = serializers.CharField(allow_null=True)
    session_ref = serializers.CharField()
    request_id = serializers.CharField()
    method = serializers.CharField(help_text="The MCP method, or the action of a change (rule.update).")
    connection = serializers.CharField()
    tool = serializers.CharField()
    arguments = serializers.JSONField(allow_null=True, help_text="Redacted and size-capped.")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_repr = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    decision = serializers.CharField()
    rule_id = serializers.IntegerField(allow_null=True)
    trace = serializers.JSONField(allow_null=True)
    outcome = serializers.CharField(help_text="For a forwarded call, the outcome its outcome event recorded.")
    upstream_ms = serializers.FloatField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)
    result_bytes = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True, help_text="On an outcome event: the call it completes.")
    outcome_id = serializers.IntegerField(allow_null=True, help_text="On a call: the event recording its outcome.")
    segment = serializers.CharField()
    seq = serializers.IntegerField(allow_null=True)
    hash = serializers.CharField()


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null on the last one.")


class EventDetailSerializer(EventSerializer):
    completes = EventSerializer(allow_null=True, help_text="On an outcome event: the call it completes.")
