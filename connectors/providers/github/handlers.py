"""What GitHub's built-in tools do: each takes the API client and validated arguments, returns structured content."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from connectors.providers.base import ToolError
from connectors.providers.github.api import GitHubApi, split_repository, url_path


def _repo(r: dict) -> dict:
    return {
        "full_name": r.get("full_name", ""),
        "private": bool(r.get("private")),
        "description": r.get("description"),
        "default_branch": r.get("default_branch", ""),
        "html_url": r.get("html_url", ""),
        "updated_at": r.get("updated_at"),
    }


def _login(user: dict | None) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _issue(i: dict) -> dict:
    return {
        "number": i.get("number", 0),
        "title": i.get("title", ""),
        "state": i.get("state", ""),
        "user": _login(i.get("user")),
        "labels": [label.get("name", "") for label in i.get("labels") or [] if isinstance(label, dict)],
        "comments": i.get("comments", 0),
        "html_url": i.get("html_url", ""),
        "created_at": i.get("created_at", ""),
        "updated_at": i.get("updated_at", ""),
    }


def _comment(c: dict) -> dict:
    return {
        "id": c.get("id", 0),
        "user": _login(c.get("user")),
        "body": c.get("body"),
        "created_at": c.get("created_at", ""),
        "html_url": c.get("html_url", ""),
    }


def _base(args: dict) -> str:
    owner, name = split_repository(args["repository"])
    return f"/repos/{quote(owner)}/{quote(name)}"


def _page(args: dict) -> dict:
    return {"per_page": args.get("per_page", 30), "page": args.get("page", 1)}


async def list_repositories(api: GitHubApi, args: dict) -> dict:
    params = {**_page(args), "visibility": args.get("visibility", "all"), "sort": args.get("sort", "updated")}
    response = await api.call("GET", "/user/repos", params=params)
    return {"repositories": [_repo(r) for r in api.decode(response)], "next_page": api.next_page(response)}


async def search_repositories(api: GitHubApi, args: dict) -> dict:
    response = await api.call("GET", "/search/repositories", params={"q": args["query"], **_page(args)})
    data = api.decode(response)
    return {
        "total_count": data.get("total_count", 0),
        "repositories": [_repo(r) for r in data.get("items", [])],
        "next_page": api.next_page(response),
    }


async def get_file(api: GitHubApi, args: dict) -> dict:
    path = url_path(args["path"], "path")
    data = await api.get_json(f"{_base(args)}/contents/{path}", params={"ref": args.get("ref")})
    if isinstance(data, list) or data.get("type") != "file":
        raise ToolError(f"{args['path']} is a directory, not a file.")
    try:
        content = base64.b64decode(data.get("content", "")).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ToolError(f"{args['path']} is not a UTF-8 text file.") from None
    return {
        "repository": args["repository"],
        "path": data.get("path", args["path"]),
        "sha": data.get("sha", ""),
        "size": data.get("size", 0),
        "content": content,
    }


async def list_issues(api: GitHubApi, args: dict) -> dict:
    params = {**_page(args), "state": args.get("state", "open")}
    if args.get("labels"):
        params["labels"] = ",".join(args["labels"])
    response = await api.call("GET", f"{_base(args)}/issues", params=params)
    issues = [_issue(i) for i in api.decode(response) if "pull_request" not in i]  # GitHub mixes PRs in
    return {"repository": args["repository"], "issues": issues, "next_page": api.next_page(response)}


async def search_issues(api: GitHubApi, args: dict) -> dict:
    response = await api.call("GET", "/search/issues", params={"q": args["query"], **_page(args)})
    data = api.decode(response)
    items = []
    for i in data.get("items", []):
        repository = "/".join(str(i.get("repository_url", "")).split("/")[-2:])
        items.append({**_issue(i), "repository": repository, "is_pull_request": "pull_request" in i})
    return {"total_count": data.get("total_count", 0), "items": items, "next_page": api.next_page(response)}


async def list_pull_requests(api: GitHubApi, args: dict) -> dict:
    params = {**_page(args), "state": args.get("state", "open"), "base": args.get("base")}
    response = await api.call("GET", f"{_base(args)}/pulls", params=params)
    pulls = [
        {
            **_issue(p),
            "head": p.get("head", {}).get("ref", ""),
            "base": p.get("base", {}).get("ref", ""),
            "draft": bool(p.get("draft")),
        }
        for p in api.decode(response)
    ]
    return {"repository": args["repository"], "pull_requests": pulls, "next_page": api.next_page(response)}


async def _comments(api: GitHubApi, args: dict) -> list[dict]:
    params = {"per_page": args.get("max_comments", 30)}
    return [_comment(c) for c in await api.get_json(f"{_base(args)}/issues/{args['number']}/comments", params=params)]


async def get_issue(api: GitHubApi, args: dict) -> dict:
    issue = await api.get_json(f"{_base(args)}/issues/{args['number']}")
    return {
        "repository": args["repository"],
        "issue": {**_issue(issue), "body": issue.get("body"), "is_pull_request": "pull_request" in issue},
        "comments": await _comments(api, args),
    }


async def get_pull_request(api: GitHubApi, args: dict) -> dict:
    pull = await api.get_json(f"{_base(args)}/pulls/{args['number']}")
    return {
        "repository": args["repository"],
        "pull_request": {
            **_issue(pull),
            "body": pull.get("body"),
            "head": pull.get("head", {}).get("ref", ""),
            "base": pull.get("base", {}).get("ref", ""),
            "draft": bool(pull.get("draft")),
            "merged": bool(pull.get("merged")),
        },
        "comments": await _comments(api, args),
    }


async def create_issue(api: GitHubApi, args: dict) -> dict:
    body = {"title": args["title"], "body": args.get("body", ""), "labels": args.get("labels", [])}
    issue = await api.send_json("POST", f"{_base(args)}/issues", body)
    return {"repository": args["repository"], "number": issue.get("number", 0), "html_url": issue.get("html_url", "")}


async def comment(api: GitHubApi, args: dict) -> dict:
    created = await api.send_json("POST", f"{_base(args)}/issues/{args['number']}/comments", {"body": args["body"]})
    return {"repository": args["repository"], "number": args["number"], "comment": _comment(created)}


async def create_branch(api: GitHubApi, args: dict) -> dict:
    base = args.get("from_branch")
    if not base:
        base = (await api.get_json(_base(args))).get("default_branch", "main")
    ref = await api.get_json(f"{_base(args)}/git/ref/heads/{url_path(base, 'from_branch')}")
    sha = ref.get("object", {}).get("sha", "")
    await api.send_json("POST", f"{_base(args)}/git/refs", {"ref": f"refs/heads/{args['branch']}", "sha": sha})
    return {"repository": args["repository"], "branch": args["branch"], "from_branch": base, "sha": sha}


async def commit_file(api: GitHubApi, args: dict) -> dict:
    body = {
        "message": args["message"],
        "content": base64.b64encode(args["content"].encode()).decode(),
        "branch": args["branch"],
    }
    if args.get("sha"):
        body["sha"] = args["sha"]
    path = url_path(args["path"], "path")
    data = await api.send_json("PUT", f"{_base(args)}/contents/{path}", body)
    return {
        "repository": args["repository"],
        "path": data.get("content", {}).get("path", args["path"]),
        "branch": args["branch"],
        "commit_sha": data.get("commit", {}).get("sha", ""),
        "content_sha": data.get("content", {}).get("sha", ""),
    }


async def open_pull_request(api: GitHubApi, args: dict) -> dict:
    body = {k: args[k] for k in ("title", "head", "base", "body", "draft") if k in args}
    pull = await api.send_json("POST", f"{_base(args)}/pulls", body)
    return {"repository": args["repository"], "number": pull.get("number", 0), "html_url": pull.get("html_url", "")}
