"""GitHub's built-in tools: repositories, files, issues and pull requests."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from connectors.providers.base import (
    BOOL,
    INT,
    NSTR,
    STR,
    Tool,
    ToolError,
    array,
    enum,
    integer,
    obj,
    out,
    string,
)
from connectors.providers.github.api import GitHubApi, split_repository

SCOPES = frozenset({"repo", "public_repo"})
REPOSITORY = string("The repository as owner/name, e.g. octocat/hello-world.", pattern=r"^[\w.-]+/[\w.-]+$")
NUMBER = integer("The issue or pull request number.")
PER_PAGE = integer("Results per page.", maximum=100, default=30)
PAGE = integer("The page to return (1 is the first).", default=1)
LABELS = array(string("A label name.", maxLength=100), "Label names.", max_items=20)
NEXT_PAGE = {"type": ["integer", "null"], "description": "The next page, or null on the last one."}
REPO_ITEM = out(full_name=STR, private=BOOL, description=NSTR, default_branch=STR, html_url=STR, updated_at=NSTR)
USER = {"type": ["string", "null"], "description": "The author's login."}
ISSUE_ITEM = out(
    number=INT,
    title=STR,
    state=STR,
    user=USER,
    labels=array(STR, "Labels.", 100),
    comments=INT,
    html_url=STR,
    created_at=STR,
    updated_at=STR,
)
COMMENT = out(id=INT, user=USER, body=NSTR, created_at=STR, html_url=STR)
REPO_LISTING = {"items": "repositories", "field": "full_name", "resource": "repository"}


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
    path = quote(args["path"].strip("/"))
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
    ref = await api.get_json(f"{_base(args)}/git/ref/heads/{quote(base)}")
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
    path = quote(args["path"].strip("/"))
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


ON_REPO = {"arguments": {"repository": "repository"}}
ISSUE_LIST = out(repository=STR, issues=array(ISSUE_ITEM, "Issues.", 100), next_page=NEXT_PAGE)
PULL_ITEM = {**ISSUE_ITEM, "properties": {**ISSUE_ITEM["properties"], "head": STR, "base": STR, "draft": BOOL}}
ISSUE_DETAIL = {**ISSUE_ITEM, "properties": {**ISSUE_ITEM["properties"], "body": NSTR, "is_pull_request": BOOL}}
PULL_DETAIL = {**PULL_ITEM, "properties": {**PULL_ITEM["properties"], "body": NSTR, "merged": BOOL}}
COMMENTS = array(COMMENT, "Comments, oldest first.", 100)
MAX_COMMENTS = integer("At most this many comments.", maximum=100, default=30)
CREATED = out(repository=STR, number=INT, html_url=STR)

TOOLS = (
    Tool(
        "list_repositories",
        "List repositories",
        "Lists the repositories the connected GitHub account can access, most recently updated first.",
        obj(
            visibility=enum("Which repositories.", ["all", "public", "private"], "all"),
            sort=enum("Order.", ["updated", "created", "pushed", "full_name"], "updated"),
            per_page=PER_PAGE,
            page=PAGE,
        ),
        out(repositories=array(REPO_ITEM, "Repositories.", 100), next_page=NEXT_PAGE),
        list_repositories,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources={"listing": REPO_LISTING},
    ),
    Tool(
        "search_repositories",
        "Search repositories",
        "Searches GitHub repositories with GitHub's search syntax (e.g. 'topic:cli org:acme').",
        obj(["query"], query=string("The search query.", minLength=1, maxLength=256), per_page=PER_PAGE, page=PAGE),
        out(total_count=INT, repositories=array(REPO_ITEM, "Repositories.", 100), next_page=NEXT_PAGE),
        search_repositories,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources={"listing": REPO_LISTING},
    ),
    Tool(
        "get_file",
        "Read a file",
        "Reads a UTF-8 text file of a repository, at a branch, tag or commit (the default branch if none).",
        obj(
            ["repository", "path"],
            repository=REPOSITORY,
            path=string("The file's path in the repository, e.g. src/app.py.", minLength=1, maxLength=1000),
            ref=string("A branch, tag or commit SHA.", maxLength=250),
        ),
        out(repository=STR, path=STR, sha=STR, size=INT, content=STR),
        get_file,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "list_issues",
        "List issues",
        "Lists a repository's issues (not pull requests), newest first.",
        obj(
            ["repository"],
            repository=REPOSITORY,
            state=enum("Which issues.", ["open", "closed", "all"], "open"),
            labels=LABELS,
            per_page=PER_PAGE,
            page=PAGE,
        ),
        ISSUE_LIST,
        list_issues,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources={"arguments": {"repository": "repository", "labels": "label"}},
    ),
    Tool(
        "search_issues",
        "Search issues and pull requests",
        "Searches issues and pull requests with GitHub's search syntax (e.g. 'repo:acme/web is:open label:bug').",
        obj(["query"], query=string("The search query.", minLength=1, maxLength=256), per_page=PER_PAGE, page=PAGE),
        out(
            total_count=INT,
            items=array(
                {**ISSUE_ITEM, "properties": {**ISSUE_ITEM["properties"], "repository": STR, "is_pull_request": BOOL}},
                "Issues and pull requests.",
                100,
            ),
            next_page=NEXT_PAGE,
        ),
        search_issues,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources={"listing": {"items": "items", "field": "repository", "resource": "repository"}},
    ),
    Tool(
        "list_pull_requests",
        "List pull requests",
        "Lists a repository's pull requests, newest first.",
        obj(
            ["repository"],
            repository=REPOSITORY,
            state=enum("Which pull requests.", ["open", "closed", "all"], "open"),
            base=string("Only those merging into this branch.", maxLength=250),
            per_page=PER_PAGE,
            page=PAGE,
        ),
        out(repository=STR, pull_requests=array(PULL_ITEM, "Pull requests.", 100), next_page=NEXT_PAGE),
        list_pull_requests,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "get_issue",
        "Read an issue",
        "Reads one issue with its comments.",
        obj(["repository", "number"], repository=REPOSITORY, number=NUMBER, max_comments=MAX_COMMENTS),
        out(repository=STR, issue=ISSUE_DETAIL, comments=COMMENTS),
        get_issue,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "get_pull_request",
        "Read a pull request",
        "Reads one pull request with its conversation comments.",
        obj(["repository", "number"], repository=REPOSITORY, number=NUMBER, max_comments=MAX_COMMENTS),
        out(repository=STR, pull_request=PULL_DETAIL, comments=COMMENTS),
        get_pull_request,
        read_only=True,
        idempotent=True,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "create_issue",
        "Create an issue",
        "Opens a new issue in a repository.",
        obj(
            ["repository", "title"],
            repository=REPOSITORY,
            title=string("The issue's title.", minLength=1, maxLength=256),
            body=string("The issue's text (Markdown).", maxLength=65536),
            labels=LABELS,
        ),
        CREATED,
        create_issue,
        read_only=False,
        scopes=SCOPES,
        resources={"arguments": {"repository": "repository", "labels": "label"}},
    ),
    Tool(
        "comment",
        "Comment on an issue or pull request",
        "Adds a comment to an issue or a pull request's conversation.",
        obj(
            ["repository", "number", "body"],
            repository=REPOSITORY,
            number=NUMBER,
            body=string("The comment (Markdown).", minLength=1, maxLength=65536),
        ),
        out(repository=STR, number=INT, comment=COMMENT),
        comment,
        read_only=False,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "create_branch",
        "Create a branch",
        "Creates a branch from another branch (the default branch if none is given).",
        obj(
            ["repository", "branch"],
            repository=REPOSITORY,
            branch=string("The new branch's name.", minLength=1, maxLength=250, pattern=r"^[^\s~^:?*\[\\]+$"),
            from_branch=string("The branch to start from.", maxLength=250),
        ),
        out(repository=STR, branch=STR, from_branch=STR, sha=STR),
        create_branch,
        read_only=False,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "commit_file",
        "Commit a file",
        "Creates or replaces one file on a branch with a commit. Replacing needs the file's current sha.",
        obj(
            ["repository", "path", "content", "message", "branch"],
            repository=REPOSITORY,
            path=string("The file's path in the repository.", minLength=1, maxLength=1000),
            content=string("The file's new content (text).", maxLength=1_000_000),
            message=string("The commit message.", minLength=1, maxLength=1000),
            branch=string("The branch to commit to.", minLength=1, maxLength=250),
            sha=string("The sha of the file being replaced (from get_file).", maxLength=64),
        ),
        out(repository=STR, path=STR, branch=STR, commit_sha=STR, content_sha=STR),
        commit_file,
        read_only=False,
        destructive=True,  # it may overwrite a file
        scopes=SCOPES,
        resources=ON_REPO,
    ),
    Tool(
        "open_pull_request",
        "Open a pull request",
        "Opens a pull request merging one branch into another.",
        obj(
            ["repository", "title", "head", "base"],
            repository=REPOSITORY,
            title=string("The pull request's title.", minLength=1, maxLength=256),
            head=string("The branch with the changes.", minLength=1, maxLength=250),
            base=string("The branch to merge into.", minLength=1, maxLength=250),
            body=string("The description (Markdown).", maxLength=65536),
            draft={**BOOL, "description": "Open it as a draft.", "default": False},
        ),
        CREATED,
        open_pull_request,
        read_only=False,
        scopes=SCOPES,
        resources=ON_REPO,
    ),
)
