import pytest

from tests.upstreams.run import echo_server


@pytest.fixture(scope="module")
def echo_url():
    """Our SDK echo server on a loopback port, for the length of the module."""
    with echo_server() as upstream:
        yield upstream.url
