"""A list-changed notification heard by several gateway nodes rediscovers the catalogue once, not once per node,
and a change that arrives while a refresh runs is not lost."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from connectors.models import Connection
from connectors.tasks import _refresh_keys, catalogue_refresh_job, catalogue_refresh_soon
from gateway.tests.helpers import connect, org_ctx
from tests.upstreams.run import echo_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_nodes_after_the_first_only_mark_the_refresh_to_run_again():
    with echo_server() as upstream:
        conn = connect(org_ctx("refresh@example.test"), "echo", upstream.url)
        queued, again = _refresh_keys(conn.pk)
        cache.add(queued, 1, timeout=60)  # another node queued it and its worker is running it
        assert catalogue_refresh_soon(conn.pk) is False
        assert cache.get(again) == 1
        synced = Connection.objects.get(pk=conn.pk).last_synced_at
        catalogue_refresh_job(conn.pk)  # the running job ends, sees the mark, and runs once more
        assert cache.get(again) is None and cache.get(queued) is None
        assert Connection.objects.get(pk=conn.pk).last_synced_at > synced
        assert catalogue_refresh_soon(conn.pk) is True  # nothing queued now: this node queues it
