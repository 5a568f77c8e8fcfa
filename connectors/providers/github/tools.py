"""GitHub's built-in tools as the catalogue shows them: schemas, annotations, resource declarations."""

from __future__ import annotations

from connectors.providers.base import (
    BOOL,
    INT,
    NSTR,
    STR,
    Tool,
    array,
    enum,
    integer,
    obj,
    out,
    string,
)
from connectors.providers.github.handlers import (
    comment,
    commit_file,
    create_branch,
    create_issue,
    get_file,
    get_issue,
    get_pull_request,
    list_issues,
    list_pull_requests,
    list_repositories,
    open_pull_request,
    search_issues,
    search_repositories,
)

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
