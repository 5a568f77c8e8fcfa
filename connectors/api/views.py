from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from accounts.api.base import OrgScopedAPIView
from connectors import services
from connectors.api.serializers import CatalogItemSerializer, ConnectionCreateSerializer, ConnectionSerializer
from connectors.models import CatalogItem, Connection
from connectors.selectors import with_counts


class ConnectionListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = ConnectionSerializer
    model = Connection

    def base_queryset(self):
        return with_counts(Connection.objects.all())

    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(request=ConnectionCreateSerializer, responses={201: ConnectionSerializer})
    def post(self, request, org_slug):
        data = ConnectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.connection_create(ctx=self.ctx, **data.validated_data)
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailView(OrgScopedAPIView):
    serializer_class = ConnectionSerializer
    model = Connection

    def base_queryset(self):
        return with_counts(Connection.objects.all())

    def get(self, request, org_slug, pk):
        return Response(ConnectionSerializer(self.get_object()).data)

    def delete(self, request, org_slug, pk):
        services.connection_delete(ctx=self.ctx, connection_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionSyncView(OrgScopedAPIView):
    """Discovers the catalogue again. A failing upstream is no API error: the answer's status and last_error
    tell what happened."""

    serializer_class = ConnectionSerializer
    model = Connection

    @extend_schema(request=None, responses=ConnectionSerializer)
    def post(self, request, org_slug, pk):
        connection = services.connection_sync(ctx=self.ctx, connection_id=self.get_object().pk)
        connection.refresh_from_db()
        return Response(ConnectionSerializer(connection).data)


class CatalogItemListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = CatalogItemSerializer
    model = CatalogItem

    def base_queryset(self):
        connection = self.ctx.get(Connection, pk=self.kwargs["pk"])
        return CatalogItem.objects.filter(connection=connection)

    def get(self, request, org_slug, pk):
        return self.list(request)


class CatalogItemApproveView(OrgScopedAPIView):
    """Approves what an item now tells agents: its current fingerprint becomes the pinned one."""

    serializer_class = CatalogItemSerializer
    model = CatalogItem
    lookup_url_kwarg = "item_pk"

    def base_queryset(self):
        return CatalogItem.objects.filter(connection_id=self.kwargs["pk"])

    @extend_schema(request=None, responses=CatalogItemSerializer)
    def post(self, request, org_slug, pk, item_pk):
        item = services.catalog_item_approve(ctx=self.ctx, item_id=self.get_object().pk)
        return Response(CatalogItemSerializer(item).data)
