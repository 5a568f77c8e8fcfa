from rest_framework import serializers

from connectors.models import CatalogItem, Connection, Credential
from connectors.selectors import catalogue_counts
from scopegate.serializers import StrictBooleanField, StrictCharField


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as anyone in the organization may see it: header names, never their values."""

    catalogue = serializers.SerializerMethodField(help_text="How many items of each kind it offers now.")
    account = serializers.SerializerMethodField(
        help_text="GitHub and Google: the connected account and the state of its grant (never its tokens)."
    )

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "kind",
            "transport",
            "url",
            "command_name",
            "header_names",
            "status",
            "last_error",
            "protocol_version",
            "server_info",
            "last_synced_at",
            "created_at",
            "catalogue",
            "account",
        ]
        read_only_fields = fields

    def get_account(self, connection: Connection) -> dict | None:
        credential = Credential.objects.filter(connection=connection).first()
        if credential is None:
            return None
        return {
            "login": credential.account_login,
            "email": credential.account_email,
            "status": credential.status,
            "access": credential.access,
            "scopes": credential.scopes,
            "expires_at": credential.expires_at,
            "last_error": credential.last_error,
        }

    def get_catalogue(self, connection: Connection) -> dict[str, int]:
        return catalogue_counts(connection)


class ConnectionCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=32)
    transport = serializers.ChoiceField(
        choices=Connection.Transport.choices, default=Connection.Transport.STREAMABLE_HTTP
    )
    url = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    command_name = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    headers = serializers.DictField(
        child=StrictCharField(allow_blank=True, trim_whitespace=False, max_length=8000),
        required=False,
        default=dict,
        help_text="Static headers sent upstream, stored encrypted; only their names are ever returned.",
    )
    sync = StrictBooleanField(
        required=False, default=True, help_text="Discover the catalogue now (default) or leave it for a later sync."
    )


class CatalogItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogItem
        fields = [
            "id",
            "kind",
            "name",
            "title",
            "description",
            "definition",
            "fingerprint",
            "approved_fingerprint",
            "status",
            "first_seen_at",
            "updated_at",
        ]
        read_only_fields = fields
