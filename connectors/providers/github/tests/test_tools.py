"""GitHub's tools against the emulator, alone: pagination, the write tools in sequence, and GitHub's errors."""

from __future__ import annotations

import asyncio

import pytest

from connectors.providers import provider_for
from connectors.providers.base import RESOURCE_KINDS, TokenRejected

GITHUB = provider_for("github")


def call(emulator, name: str, args: dict, token: str | None = None):
    token = token or emulator.github.mint("octocat", ["repo"])
    return asyncio.run(GITHUB.tool(name).run(GITHUB.api(token), args))


def test_every_tool_declares_resources_on_arguments_it_takes_and_kinds_the_matrix_knows():
    for tool in GITHUB.tools:
        arguments = tool.resources.get("arguments", {})
        assert set(arguments) <= set(tool.input_schema["properties"])
        assert set(arguments.values()) <= RESOURCE_KINDS
        if "repository" in tool.input_schema["properties"]:
            assert arguments.get("repository") == "repository", tool.name
        definition = tool.definition()
        assert definition["annotations"]["readOnlyHint"] is tool.read_only
        assert definition["inputSchema"]["additionalProperties"] is False


def test_repositories_come_in_pages_that_follow_githubs_link_header(emulator):
    first = call(emulator, "list_repositories", {"per_page": 30})
    assert len(first["repositories"]) == 30 and first["next_page"] == 2
    second = call(emulator, "list_repositories", {"per_page": 30, "page": 2})
    assert len(second["repositories"]) == 8 and second["next_page"] is None


def test_a_branch_a_commit_and_a_pull_request_in_sequence(emulator):
    repo = "acme/web"
    branch = call(emulator, "create_branch", {"repository": repo, "branch": "feature"})
    assert branch["from_branch"] == "main" and branch["sha"]
    readme = call(emulator, "get_file", {"repository": repo, "path": "README.md"})
    commit = call(
        emulator,
        "commit_file",
        {
            "repository": repo,
            "path": "README.md",
            "content": "# new\n",
            "message": "Update",
            "branch": "feature",
            "sha": readme["sha"],
        },
    )
    assert commit["commit_sha"]
    pull = call(
        emulator, "open_pull_request", {"repository": repo, "title": "Update", "head": "feature", "base": "main"}
    )
    assert pull["number"] == 3
    detail = call(emulator, "get_pull_request", {"repository": repo, "number": 3})
    assert detail["pull_request"]["head"] == "feature" and detail["comments"] == []
    call(emulator, "comment", {"repository": repo, "number": 3, "body": "LGTM"})
    assert call(emulator, "get_pull_request", {"repository": repo, "number": 3})["comments"][0]["body"] == "LGTM"


def test_issues_leave_pull_requests_out_and_search_names_the_repository(emulator):
    issues = call(emulator, "list_issues", {"repository": "acme/web"})["issues"]
    assert [i["number"] for i in issues] == [1]
    found = call(emulator, "search_issues", {"query": "login repo:acme/web"})
    assert {(i["repository"], i["is_pull_request"]) for i in found["items"]} == {
        ("acme/web", False),
        ("acme/web", True),
    }


def test_githubs_errors_read_as_sentences(emulator):
    from connectors.providers.base import ToolError

    with pytest.raises(ToolError, match="GitHub found no such repository"):
        call(emulator, "get_issue", {"repository": "acme/nope", "number": 1})
    with pytest.raises(ToolError, match="GitHub refused the request \\(HTTP 422\\): Reference already exists"):
        call(emulator, "create_branch", {"repository": "acme/web", "branch": "main"})
    with pytest.raises(TokenRejected):
        call(emulator, "list_repositories", {}, token="gho_not_a_token")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_file", {"path": "../../api/contents/README.md"}),
        ("get_file", {"path": "src/../../../api/contents/src/app.py"}),
        ("get_file", {"path": "./README.md"}),
        ("get_file", {"path": "src//app.py"}),
        ("commit_file", {"path": "../../api/contents/README.md", "content": "x", "message": "m", "branch": "main"}),
        ("create_branch", {"branch": "b", "from_branch": "../../../../api/git/ref/heads/main"}),
    ],
)
def test_a_path_cannot_climb_out_of_the_repository_its_policy_allows(emulator, tool, args):
    """A policy limits ``repository``; a ``..`` in a path once reached another repository the token can see (the
    URL was normalised to /repos/acme/api/...). Refused before anything is sent."""
    from connectors.providers.base import ToolError

    assert call(emulator, "get_file", {"repository": "acme/api", "path": "README.md"})["content"]  # it is there
    with pytest.raises(ToolError, match="must not contain empty, '\\.' or '\\.\\.' segments"):
        call(emulator, tool, {"repository": "acme/web", **args})
    with pytest.raises(ToolError, match="repository must look like owner/name"):
        call(emulator, "get_file", {"repository": "acme/..", "path": "README.md"})


def test_the_provider_client_sends_a_url_as_built(emulator):
    """Beneath the handlers' check, the client never normalises a URL: a '..' that reached it would be sent as
    is (GitHub finds no such file) instead of becoming a path into another repository."""
    from connectors.providers.base import ToolError

    api = GITHUB.api(emulator.github.mint("octocat", ["repo"]))
    assert asyncio.run(api.get_json("/repos/acme/api/contents/README.md"))["content"]
    with pytest.raises(ToolError, match="GitHub found no such"):
        asyncio.run(api.get_json("/repos/acme/web/contents/../../api/contents/README.md"))
    assert call(emulator, "get_file", {"repository": "acme/web", "path": "/src/app.py"})["path"] == "src/app.py"
