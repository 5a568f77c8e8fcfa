from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response

from accounts.api.base import OrgScopedAPIView
from accounts.roles import Perm
from policies import services
from policies.api.serializers import (
    AgentCreateSerializer,
    AgentKeyCreateSerializer,
    AgentKeyIssuedSerializer,
    AgentKeySerializer,
    AgentSerializer,
    AgentToolsSerializer,
    AgentUpdateSerializer,
    PolicySerializer,
    RuleSerializer,
    RuleUpdateSerializer,
    RuleWriteSerializer,
    SimulateSerializer,
)
from policies.documents import parse_document, policy_export, policy_import, policy_yaml, simulate
from policies.models import Agent, AgentKey, Rule
from policies.selectors import endpoint_url, secret_url


class AgentListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = AgentSerializer
    model = Agent

    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(request=AgentCreateSerializer, responses={201: AgentSerializer})
    def post(self, request, org_slug):
        data = AgentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent = services.agent_create(
            ctx=self.ctx, name=values["name"], description=values["description"], mount_id=values["mount"]
        )
        return Response(AgentSerializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(OrgScopedAPIView):
    serializer_class = AgentSerializer
    model = Agent

    def get(self, request, org_slug, pk):
        return Response(AgentSerializer(self.get_object()).data)

    @extend_schema(request=AgentUpdateSerializer, responses=AgentSerializer)
    def patch(self, request, org_slug, pk):
        data = AgentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "mount" in values:
            values["mount_id"] = values.pop("mount")
        agent = services.agent_update(ctx=self.ctx, agent_id=self.get_object().pk, **values)
        return Response(AgentSerializer(agent).data)

    def delete(self, request, org_slug, pk):
        services.agent_delete(ctx=self.ctx, agent_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentScopedView(OrgScopedAPIView):
    """The base of the views under agents/<pk>/: their rows belong to that agent of this organization."""

    def agent(self) -> Agent:
        return self.ctx.get(Agent, pk=self.kwargs["pk"])

    def base_queryset(self):
        return super().base_queryset().filter(agent=self.agent())


class AgentKeyListView(mixins.ListModelMixin, AgentScopedView):
    serializer_class = AgentKeySerializer
    model = AgentKey

    def get(self, request, org_slug, pk):
        return self.list(request)

    @extend_schema(request=AgentKeyCreateSerializer, responses={201: AgentKeyIssuedSerializer})
    def post(self, request, org_slug, pk):
        agent = self.agent()
        data = AgentKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.agent_key_issue(ctx=self.ctx, agent_id=agent.pk, **data.validated_data)
        body = {
            **AgentKeySerializer(key).data,
            "key": secret,
            "endpoint": endpoint_url(agent),
            "secret_url": secret_url(agent, secret),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class AgentKeyDetailView(AgentScopedView):
    serializer_class = AgentKeySerializer
    model = AgentKey
    lookup_url_kwarg = "key_pk"

    def get(self, request, org_slug, pk, key_pk):
        return Response(AgentKeySerializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def delete(self, request, org_slug, pk, key_pk):
        """Revokes the key: the next call with it is refused on every node. The row stays, marked revoked."""
        services.agent_key_revoke(ctx=self.ctx, key_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleListView(mixins.ListModelMixin, AgentScopedView):
    serializer_class = RuleSerializer
    model = Rule

    def base_queryset(self):
        return super().base_queryset().select_related("connection")

    def get(self, request, org_slug, pk):
        return self.list(request)

    @extend_schema(request=RuleWriteSerializer, responses={201: RuleSerializer})
    def post(self, request, org_slug, pk):
        agent = self.agent()
        data = RuleWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_create(ctx=self.ctx, agent_id=agent.pk, **data.service_values())
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(AgentScopedView):
    serializer_class = RuleSerializer
    model = Rule
    lookup_url_kwarg = "rule_pk"

    def get(self, request, org_slug, pk, rule_pk):
        return Response(RuleSerializer(self.get_object()).data)

    @extend_schema(request=RuleUpdateSerializer, responses=RuleSerializer)
    def patch(self, request, org_slug, pk, rule_pk):
        data = RuleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_update(ctx=self.ctx, rule_id=self.get_object().pk, **data.service_values())
        return Response(RuleSerializer(rule).data)

    def delete(self, request, org_slug, pk, rule_pk):
        services.rule_delete(ctx=self.ctx, rule_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentToolsView(AgentScopedView):
    """The permission matrix at once: replaces the allow rules on whole connections and tools; rules on a single
    resource or prompt, and deny rules, stay."""

    serializer_class = AgentToolsSerializer
    model = Rule

    @extend_schema(request=AgentToolsSerializer, responses=AgentToolsSerializer)
    def put(self, request, org_slug, pk):
        agent = self.agent()
        data = AgentToolsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.agent_tools_set(ctx=self.ctx, agent_id=agent.pk, allowed=values["allowed"], whole=set(values["whole"]))
        return Response(self._matrix(agent))

    def _matrix(self, agent: Agent) -> dict:
        rules = self.ctx.scoped(Rule).filter(agent=agent, effect=Rule.Effect.ALLOW)
        whole = sorted({r.connection_id for r in rules if r.target == Rule.Target.ALL})
        allowed: dict[str, list[str]] = {}
        for rule in rules:
            if rule.target == Rule.Target.TOOL and rule.connection_id not in whole:
                allowed.setdefault(str(rule.connection_id), []).append(rule.name)
        return {"whole": whole, "allowed": {cid: sorted(names) for cid, names in sorted(allowed.items())}}


class YamlParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return parse_document(stream.read().decode("utf-8"))
        except (UnicodeDecodeError, DjangoValidationError) as exc:
            raise ParseError("The body is not valid YAML.") from exc


class AgentPolicyView(AgentScopedView):
    """The agent's whole policy as a document: GET exports it (``?as=yaml`` for YAML), PUT replaces every rule
    with the document's (JSON, or YAML sent as application/yaml), audited as one change."""

    serializer_class = PolicySerializer
    model = Rule
    parser_classes = [JSONParser, YamlParser]

    def get(self, request, org_slug, pk):
        document = policy_export(self.ctx, self.agent())
        if request.query_params.get("as") == "yaml":
            return HttpResponse(policy_yaml(document), content_type="application/yaml; charset=utf-8")
        return Response(document)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def put(self, request, org_slug, pk):
        agent = self.agent()
        policy_import(ctx=self.ctx, agent_id=agent.pk, document=request.data)
        return Response(policy_export(self.ctx, agent))


class AgentSimulateView(AgentScopedView):
    """What the agent would get for a tool with these arguments: the decision, the rule and why. Changes nothing,
    so every role that may see the agent may ask."""

    serializer_class = SimulateSerializer
    model = Rule
    write_perm = Perm.VIEW

    @extend_schema(request=SimulateSerializer)
    def post(self, request, org_slug, pk):
        data = SimulateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return Response(simulate(self.ctx, self.agent(), values["tool"], values["arguments"]))
