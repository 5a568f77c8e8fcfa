"""Which questions an upstream asks mid-call a given agent can be put (``gateway.bridge.unanswerable``), and what
the parked call's binding covers (``gateway.parking``)."""

import pytest

from gateway.bridge import unanswerable
from gateway.parking import _binding, is_parked_state

FORM = {"method": "elicitation/create", "params": {"message": "Proceed?", "requestedSchema": {}}}
URL = {"method": "elicitation/create", "params": {"mode": "url", "url": "https://x.test", "message": "m"}}
SAMPLE = {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}


@pytest.mark.parametrize(
    ("request_", "caps", "stream", "why"),
    [
        (FORM, {"elicitation": {}}, True, None),  # an empty object is form mode (2025-06-18)
        (FORM, {"elicitation": {"form": {}}}, True, None),
        (URL, {"elicitation": {"form": {}, "url": {}}}, True, None),
        (URL, {"elicitation": {}}, True, "does not accept 'url' elicitations"),
        (FORM, {"elicitation": {"url": {}}}, True, "does not accept 'form' elicitations"),
        (FORM, {}, True, "did not declare elicitation"),
        (FORM, {"elicitation": True}, True, "did not declare elicitation"),
        (SAMPLE, {"sampling": {}}, True, None),
        (SAMPLE, {"elicitation": {}}, True, "did not declare sampling"),
        (SAMPLE, {"sampling": {}}, False, "takes no stream"),
        ({"method": "tasks/get", "params": {}}, {"tasks": {}}, True, "does not pass 'tasks/get'"),
    ],
)
def test_what_an_agent_can_be_asked(request_, caps, stream, why):
    reason = unanswerable(request_, caps, stream)
    assert (reason is None) if why is None else (why in reason), reason


def test_the_binding_covers_agent_connection_method_item_and_arguments():
    base = _binding("agt_1", 7, "tools/call", {"name": "confirm", "arguments": {"a": 1}})
    assert base == _binding("agt_1", 7, "tools/call", {"name": "confirm", "arguments": {"a": 1}, "_meta": {"x": 1}})
    for other in (
        _binding("agt_2", 7, "tools/call", {"name": "confirm", "arguments": {"a": 1}}),
        _binding("agt_1", 8, "tools/call", {"name": "confirm", "arguments": {"a": 1}}),
        _binding("agt_1", 7, "prompts/get", {"name": "confirm", "arguments": {"a": 1}}),
        _binding("agt_1", 7, "tools/call", {"name": "other", "arguments": {"a": 1}}),
        _binding("agt_1", 7, "tools/call", {"name": "confirm", "arguments": {"a": 2}}),
    ):
        assert other != base


def test_only_scopegates_own_request_state_resumes_a_parked_call():
    assert is_parked_state({"requestState": "sgpark.abc"})
    assert not is_parked_state({"requestState": "an-upstreams-own-state"})
    assert not is_parked_state({"requestState": 7}) and not is_parked_state({})
