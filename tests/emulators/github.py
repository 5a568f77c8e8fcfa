"""GitHub's REST API subset the built-in tools use, with GitHub's shapes, Link pagination and rate limits."""

from __future__ import annotations

import base64
import hashlib
import time
from functools import partial
from urllib.parse import urlencode

from aiohttp import web

from tests.emulators import oauth
from tests.emulators.common import api_route, reset_epoch, window
from tests.emulators.state import ProviderState, Token

DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def seed() -> dict:
    def repo(full_name: str, private: bool, owners: list[str]) -> dict:
        return {
            "full_name": full_name,
            "private": private,
            "description": f"The {full_name} repository",
            "default_branch": "main",
            "owners": owners,
            "files": {"README.md": f"# {full_name}\n", "src/app.py": "print('hello')\n"},
            "branches": {"main": _sha(full_name)},
            "issues": [],
            "comments": {},
            "updated_at": "2026-11-01T10:00:00Z",
        }

    repos = {
        r["full_name"]: r
        for r in (
            repo("acme/web", False, ["octocat", "octo-work"]),
            repo("acme/api", True, ["octocat"]),
            repo("octocat/notes", True, ["octocat"]),
        )
    }
    for n in range(1, 36):  # more than one page of repositories
        name = f"octocat/lab-{n:02d}"
        repos[name] = repo(name, False, ["octocat"])
    web_repo = repos["acme/web"]
    web_repo["issues"].append(_issue(web_repo, 1, "Login page is slow", "octo-work", ["bug"]))
    web_repo["comments"][1] = [_comment(1, "octocat", "I can reproduce it.")]
    pull = _issue(web_repo, 2, "Speed up the login page", "octocat", [])
    pull.update(pull_request=True, head="fast-login", base="main", draft=False, merged=False)
    web_repo["issues"].append(pull)
    return {"repos": repos, "next_comment": 100}


def _issue(repo: dict, number: int, title: str, user: str, labels: list[str], body: str = "") -> dict:
    return {
        "number": number,
        "title": title,
        "user": user,
        "labels": labels,
        "body": body,
        "state": "open",
        "created_at": _now(),
        "updated_at": _now(),
    }


def _comment(comment_id: int, user: str, body: str) -> dict:
    return {"id": comment_id, "user": user, "body": body, "created_at": _now()}


class GitHubEmulator:
    def __init__(self, state: ProviderState, base: str) -> None:
        self.state, self.base = state, base
        state.data = seed()

    @property
    def repos(self) -> dict:
        return self.state.data["repos"]

    # --- shapes -----------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.base}/api{path}"

    def repo_json(self, r: dict) -> dict:
        owner, name = r["full_name"].split("/")
        return {
            "id": abs(hash(r["full_name"])) % 10**8,
            "name": name,
            "full_name": r["full_name"],
            "owner": {"login": owner},
            "private": r["private"],
            "description": r["description"],
            "default_branch": r["default_branch"],
            "html_url": f"https://github.com/{r['full_name']}",
            "updated_at": r["updated_at"],
        }

    def issue_json(self, r: dict, i: dict) -> dict:
        html_url = f"https://github.com/{r['full_name']}/{'pull' if i.get('pull_request') else 'issues'}/{i['number']}"
        out = {
            "number": i["number"],
            "title": i["title"],
            "state": i["state"],
            "user": {"login": i["user"]},
            "labels": [{"name": label} for label in i["labels"]],
            "body": i["body"],
            "comments": len(r["comments"].get(i["number"], [])),
            "html_url": html_url,
            "repository_url": self.url(f"/repos/{r['full_name']}"),
            "created_at": i["created_at"],
            "updated_at": i["updated_at"],
        }
        if i.get("pull_request"):
            out["pull_request"] = {"url": self.url(f"/repos/{r['full_name']}/pulls/{i['number']}")}
        return out

    def pull_json(self, r: dict, i: dict) -> dict:
        out = self.issue_json(r, i)
        out.pop("pull_request", None)
        out.update(head={"ref": i["head"]}, base={"ref": i["base"]}, draft=i["draft"], merged=i["merged"])
        return out

    def comment_json(self, r: dict, number: int, c: dict) -> dict:
        return {
            "id": c["id"],
            "user": {"login": c["user"]},
            "body": c["body"],
            "created_at": c["created_at"],
            "html_url": f"https://github.com/{r['full_name']}/issues/{number}#issuecomment-{c['id']}",
        }

    # --- answers ----------------------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        used = self.state.counts.get("api_calls", 0)
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - used)),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Reset": str(reset_epoch()),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
        }

    def json(self, data, status: int = 200, extra: dict | None = None) -> web.Response:
        return web.json_response(data, status=status, headers={**self.headers(), **(extra or {})})

    def error(self, status: int, message: str) -> web.Response:
        return self.json({"message": message, "documentation_url": DOCS, "status": str(status)}, status)

    def unauthorized(self) -> web.Response:
        return self.error(401, "Bad credentials")

    def rate_limited(self) -> web.Response:
        headers = {**self.headers(), "X-RateLimit-Remaining": "0"}
        body = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS}
        return web.json_response(body, status=403, headers=headers)

    def paged(self, request: web.Request, items: list, wrap=None) -> web.Response:
        page_items, page, per_page, more = window(request, items)
        links = []
        query = dict(request.query)
        if more:
            links.append(
                f'<{self.url(request.path.split("/api", 1)[1])}?{urlencode({**query, "page": page + 1})}>; rel="next"'
            )
            last = (len(items) + per_page - 1) // per_page
            links.append(
                f'<{self.url(request.path.split("/api", 1)[1])}?{urlencode({**query, "page": last})}>; rel="last"'
            )
        body = wrap(page_items) if wrap else page_items
        return self.json(body, extra={"Link": ", ".join(links)} if links else None)

    def visible(self, token: Token, full_name: str) -> dict | None:
        r = self.repos.get(full_name)
        if r is None or (r["private"] and token.grant.account not in r["owners"]):
            return None
        return r

    def find(self, request: web.Request, token: Token) -> dict:
        r = self.visible(token, f"{request.match_info['owner']}/{request.match_info['repo']}")
        if r is None:
            raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
        return r

    # --- routes -----------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        s = self.state
        route = api_route(s, self.unauthorized, self.rate_limited)
        app.router.add_get("/github/login/oauth/authorize", partial(oauth.authorize, state=s))
        app.router.add_post("/github/login/oauth/authorize", partial(oauth.consent, state=s))
        app.router.add_post("/github/login/oauth/access_token", partial(oauth.token, state=s))
        app.router.add_delete("/github/api/applications/{client_id}/grant", self.delete_grant)
        repo = "/github/api/repos/{owner}/{repo}"
        for method, path, handler in (
            ("GET", "/github/api/user", self.user),
            ("GET", "/github/api/user/repos", self.user_repos),
            ("GET", "/github/api/search/repositories", self.search_repos),
            ("GET", "/github/api/search/issues", self.search_issues),
            ("GET", repo, self.get_repo),
            ("GET", repo + "/contents/{path:.+}", self.get_contents),
            ("PUT", repo + "/contents/{path:.+}", self.put_contents),
            ("GET", repo + "/issues", self.list_issues),
            ("POST", repo + "/issues", self.create_issue),
            ("GET", repo + "/issues/{number:\\d+}", self.get_issue),
            ("GET", repo + "/issues/{number:\\d+}/comments", self.list_comments),
            ("POST", repo + "/issues/{number:\\d+}/comments", self.create_comment),
            ("GET", repo + "/pulls", self.list_pulls),
            ("POST", repo + "/pulls", self.create_pull),
            ("GET", repo + "/pulls/{number:\\d+}", self.get_pull),
            ("GET", repo + "/git/ref/heads/{branch:.+}", self.get_ref),
            ("POST", repo + "/git/refs", self.create_ref),
        ):
            app.router.add_route(method, path, route(handler))

    async def user(self, request, token):
        login = token.grant.account
        return self.json(
            {
                "login": login,
                "id": 1 if login == "octocat" else 2,
                "type": "User",
                "email": f"{login}@users.example.test",
                "name": login.title(),
            }
        )

    async def user_repos(self, request, token):
        mine = [r for r in self.repos.values() if token.grant.account in r["owners"]]
        vis = request.query.get("visibility", "all")
        mine = [r for r in mine if vis == "all" or r["private"] == (vis == "private")]
        return self.paged(request, [self.repo_json(r) for r in mine])

    async def search_repos(self, request, token):
        q = request.query.get("q", "").lower()
        if not q:
            return self.json(
                {"message": "Validation Failed", "errors": [{"resource": "Search", "field": "q", "code": "missing"}]},
                422,
            )
        found = [
            self.repo_json(r)
            for r in self.repos.values()
            if self.visible(token, r["full_name"]) and any(w in r["full_name"].lower() for w in q.split())
        ]
        return self.paged(
            request, found, lambda items: {"total_count": len(found), "incomplete_results": False, "items": items}
        )

    async def search_issues(self, request, token):
        words = request.query.get("q", "").lower().split()
        repo_filter = [w[5:] for w in words if w.startswith("repo:")]
        terms = [w for w in words if ":" not in w]
        found = []
        for r in self.repos.values():
            if not self.visible(token, r["full_name"]) or (repo_filter and r["full_name"] not in repo_filter):
                continue
            found += [self.issue_json(r, i) for i in r["issues"] if all(t in i["title"].lower() for t in terms)]
        return self.paged(
            request, found, lambda items: {"total_count": len(found), "incomplete_results": False, "items": items}
        )

    async def get_repo(self, request, token):
        return self.json(self.repo_json(self.find(request, token)))

    async def get_contents(self, request, token):
        r = self.find(request, token)
        path = request.match_info["path"]
        if path not in r["files"]:
            if any(p.startswith(path + "/") for p in r["files"]):
                return self.json([{"type": "file", "path": p} for p in r["files"] if p.startswith(path + "/")])
            return self.error(404, "Not Found")
        text = r["files"][path]
        return self.json(
            {
                "type": "file",
                "encoding": "base64",
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "size": len(text.encode()),
                "sha": _sha(text),
                "content": base64.encodebytes(text.encode()).decode(),
            }
        )

    async def put_contents(self, request, token):
        r = self.find(request, token)
        body = await request.json()
        path, branch = request.match_info["path"], body.get("branch", "main")
        if branch not in r["branches"]:
            return self.error(404, f"Branch {branch} not found")
        if path in r["files"] and body.get("sha") != _sha(r["files"][path]):
            return self.json(
                {
                    "message": '"sha" wasn\'t supplied.'
                    if not body.get("sha")
                    else f"{path} does not match {body['sha']}",
                    "documentation_url": DOCS,
                },
                409 if body.get("sha") else 422,
            )
        text = base64.b64decode(body["content"]).decode()
        r["files"][path] = text
        commit = _sha(path + text + body.get("message", ""))
        r["branches"][branch] = commit
        return self.json(
            {"content": {"path": path, "sha": _sha(text)}, "commit": {"sha": commit, "message": body.get("message")}},
            201,
        )

    async def list_issues(self, request, token):
        r = self.find(request, token)
        state = request.query.get("state", "open")
        labels = [x for x in request.query.get("labels", "").split(",") if x]
        found = [
            self.issue_json(r, i)
            for i in reversed(r["issues"])
            if (state == "all" or i["state"] == state) and all(label in i["labels"] for label in labels)
        ]
        return self.paged(request, found)

    async def create_issue(self, request, token):
        r = self.find(request, token)
        body = await request.json()
        if not body.get("title"):
            return self.json(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                    "documentation_url": DOCS,
                },
                422,
            )
        issue = _issue(
            r,
            len(r["issues"]) + 1,
            body["title"],
            token.grant.account,
            body.get("labels") or [],
            body.get("body") or "",
        )
        r["issues"].append(issue)
        return self.json(self.issue_json(r, issue), 201)

    def _number(self, request, r, pulls: bool | None = None) -> dict:
        number = int(request.match_info["number"])
        for i in r["issues"]:
            if i["number"] == number and (pulls is None or bool(i.get("pull_request")) == pulls):
                return i
        raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")

    async def get_issue(self, request, token):
        r = self.find(request, token)
        return self.json(self.issue_json(r, self._number(request, r)))

    async def list_comments(self, request, token):
        r = self.find(request, token)
        i = self._number(request, r)
        return self.paged(request, [self.comment_json(r, i["number"], c) for c in r["comments"].get(i["number"], [])])

    async def create_comment(self, request, token):
        r = self.find(request, token)
        i = self._number(request, r)
        body = await request.json()
        self.state.data["next_comment"] += 1
        c = _comment(self.state.data["next_comment"], token.grant.account, body.get("body", ""))
        r["comments"].setdefault(i["number"], []).append(c)
        return self.json(self.comment_json(r, i["number"], c), 201)

    async def list_pulls(self, request, token):
        r = self.find(request, token)
        state = request.query.get("state", "open")
        found = [
            self.pull_json(r, i)
            for i in reversed(r["issues"])
            if i.get("pull_request") and (state == "all" or i["state"] == state)
        ]
        return self.paged(request, found)

    async def get_pull(self, request, token):
        r = self.find(request, token)
        return self.json(self.pull_json(r, self._number(request, r, pulls=True)))

    async def create_pull(self, request, token):
        r = self.find(request, token)
        body = await request.json()
        if body.get("head") not in r["branches"] or body.get("base") not in r["branches"]:
            return self.json(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                    "documentation_url": DOCS,
                },
                422,
            )
        pull = _issue(r, len(r["issues"]) + 1, body.get("title", ""), token.grant.account, [], body.get("body") or "")
        pull.update(
            pull_request=True, head=body["head"], base=body["base"], draft=bool(body.get("draft")), merged=False
        )
        r["issues"].append(pull)
        return self.json(self.pull_json(r, pull), 201)

    async def get_ref(self, request, token):
        r = self.find(request, token)
        branch = request.match_info["branch"]
        if branch not in r["branches"]:
            return self.error(404, "Not Found")
        return self.json({"ref": f"refs/heads/{branch}", "object": {"sha": r["branches"][branch], "type": "commit"}})

    async def create_ref(self, request, token):
        r = self.find(request, token)
        body = await request.json()
        name = str(body.get("ref", "")).removeprefix("refs/heads/")
        if name in r["branches"]:
            return self.json({"message": "Reference already exists", "documentation_url": DOCS}, 422)
        r["branches"][name] = body.get("sha", "")
        return self.json({"ref": body["ref"], "object": {"sha": body.get("sha"), "type": "commit"}}, 201)

    async def delete_grant(self, request: web.Request) -> web.Response:
        s = self.state
        s.count("revocations")
        if s.knobs.revoke == "error500":
            return web.json_response({"message": "Server Error"}, status=500)
        header = request.headers.get("Authorization", "")
        client_id, _, secret = (
            base64.b64decode(header[6:]).decode().partition(":") if header.startswith("Basic ") else ("", "", "")
        )
        if client_id != s.client_id or secret != s.client_secret or request.match_info["client_id"] != s.client_id:
            return web.json_response({"message": "Bad credentials"}, status=401)
        body = await request.json()
        token = s.access_tokens.get(body.get("access_token", ""))
        if token is None or token.grant.revoked:
            return web.json_response({"message": "Not Found"}, status=404)
        s.revoke_grant(token.grant)
        s.count("revoked")
        return web.Response(status=204)
