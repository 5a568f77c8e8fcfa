"""Google's REST subset the built-in tools use: userinfo, Gmail, Drive and Calendar, with Google's error
documents, page tokens and quota errors."""

from __future__ import annotations

import base64
import email
import email.policy
import itertools
import json
import re
import time
from functools import partial

from aiohttp import web

from tests.emulators import oauth
from tests.emulators.common import api_route
from tests.emulators.state import ProviderState, Token

AUTH = "https://www.googleapis.com/auth/"
DOC = "application/vnd.google-apps.document"
FOLDER = "application/vnd.google-apps.folder"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def seed() -> dict:
    messages = []
    for n in range(1, 31):  # more than one page of messages
        messages.append(
            {
                "id": f"msg{n:03d}",
                "threadId": f"thr{n:03d}",
                "labelIds": ["INBOX"] + (["UNREAD"] if n % 2 else []),
                "from": "Bo <bo@acme.test>",
                "to": "ana@example.test",
                "subject": f"Weekly report {n}",
                "date": "Mon, 2 Nov 2026 10:00:00 +0000",
                "body": f"Report number {n}.\nAll good.",
            }
        )
    files = {
        "fold1": {"id": "fold1", "name": "Projects", "mimeType": FOLDER, "parents": ["root"]},
        "doc1": {
            "id": "doc1",
            "name": "Roadmap",
            "mimeType": DOC,
            "parents": ["fold1"],
            "text": "Q1: ship the gateway.",
        },
        "txt1": {
            "id": "txt1",
            "name": "notes.txt",
            "mimeType": "text/plain",
            "parents": ["root"],
            "text": "plain notes",
        },
        "img1": {"id": "img1", "name": "logo.png", "mimeType": "image/png", "parents": ["root"], "text": "\x89PNG"},
    }
    events = [
        {
            "id": "evt1",
            "summary": "Standup",
            "start": {"dateTime": "2026-11-02T09:00:00Z"},
            "end": {"dateTime": "2026-11-02T09:15:00Z"},
            "status": "confirmed",
            "attendees": [],
        }
    ]
    return {
        "messages": messages,
        "drafts": [],
        "sent": [],
        "files": files,
        "events": {"primary": events},
        "ids": itertools.count(1000),
    }


class GoogleEmulator:
    def __init__(self, state: ProviderState) -> None:
        self.state = state
        state.data = seed()

    def error(self, code: int, message: str, reason: str, status: str) -> web.Response:
        body = {
            "error": {
                "code": code,
                "message": message,
                "status": status,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        }
        return web.json_response(body, status=code)

    def unauthorized(self) -> web.Response:
        return self.error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "authError",
            "UNAUTHENTICATED",
        )

    def rate_limited(self) -> web.Response:
        response = self.error(
            429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded", "RESOURCE_EXHAUSTED"
        )
        response.headers["Retry-After"] = "30"
        return response

    def need(self, token: Token, *scopes: str) -> None:
        if not set(token.grant.scopes) & {AUTH + s for s in scopes}:
            raise web.HTTPForbidden(
                text='{"error": {"code": 403, "message": "Request had insufficient authentication scopes.", '
                '"status": "PERMISSION_DENIED", "errors": [{"reason": "insufficientPermissions"}]}}',
                content_type="application/json",
            )

    def page(self, request: web.Request, items: list, size_param: str, default: int) -> tuple[list, str | None]:
        size = max(1, min(500, int(request.query.get(size_param, default))))
        start = int(request.query.get("pageToken", "0") or 0)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else None)

    def routes(self, app: web.Application) -> None:
        s = self.state
        route = api_route(s, self.unauthorized, self.rate_limited)
        app.router.add_get("/google/accounts/o/oauth2/v2/auth", partial(oauth.authorize, state=s))
        app.router.add_post("/google/accounts/o/oauth2/v2/auth", partial(oauth.consent, state=s))
        app.router.add_post("/google/oauth2/token", partial(oauth.token, state=s))
        app.router.add_post("/google/oauth2/revoke", partial(oauth.google_revoke, state=s))
        api = "/google/api"
        gmail = api + "/gmail/v1/users/me"
        for method, path, handler in (
            ("GET", api + "/oauth2/v3/userinfo", self.userinfo),
            ("GET", gmail + "/messages", self.list_messages),
            ("GET", gmail + "/messages/{id}", self.get_message),
            ("POST", gmail + "/messages/send", self.send),
            ("POST", gmail + "/drafts", self.draft),
            ("GET", api + "/drive/v3/files", self.list_files),
            ("GET", api + "/drive/v3/files/{id}", self.get_file),
            ("GET", api + "/drive/v3/files/{id}/export", self.export_file),
            ("GET", api + "/calendar/v3/calendars/{calendar}/events", self.list_events),
            ("POST", api + "/calendar/v3/calendars/{calendar}/events", self.create_event),
        ):
            app.router.add_route(method, path, route(handler))

    async def userinfo(self, request, token):
        account = token.grant.account
        return web.json_response(
            {
                "sub": str(abs(hash(account)) % 10**12),
                "email": account,
                "email_verified": True,
                "name": account.split("@")[0].title(),
            }
        )

    # --- Gmail ------------------------------------------------------------------------------------------
    def message_json(self, m: dict, fmt: str) -> dict:
        headers = [{"name": k.title(), "value": m[k]} for k in ("from", "to", "subject", "date") if m.get(k)]
        out = {
            "id": m["id"],
            "threadId": m["threadId"],
            "labelIds": m["labelIds"],
            "snippet": m["body"][:100],
            "sizeEstimate": len(m["body"]),
        }
        if fmt == "minimal":
            return out
        payload = {"mimeType": "multipart/alternative", "headers": headers}
        if fmt == "full":
            payload["parts"] = [
                {"partId": "0", "mimeType": "text/plain", "body": {"size": len(m["body"]), "data": _b64(m["body"])}},
                {"partId": "1", "mimeType": "text/html", "body": {"data": _b64(f"<p>{m['body']}</p>")}},
            ]
        return {**out, "payload": payload}

    async def list_messages(self, request, token):
        self.need(token, "gmail.readonly", "gmail.modify")
        q = request.query.get("q", "").lower()
        labels = request.query.getall("labelIds", [])
        found = [
            m
            for m in self.state.data["messages"]
            if all(w in (m["subject"] + m["body"]).lower() for w in q.split() if ":" not in w)
            and all(label in m["labelIds"] for label in labels)
        ]
        items, next_token = self.page(request, found, "maxResults", 100)
        body = {
            "messages": [{"id": m["id"], "threadId": m["threadId"]} for m in items],
            "resultSizeEstimate": len(found),
        }
        if next_token:
            body["nextPageToken"] = next_token
        return web.json_response(body)

    async def get_message(self, request, token):
        self.need(token, "gmail.readonly", "gmail.modify")
        for m in self.state.data["messages"]:
            if m["id"] == request.match_info["id"]:
                return web.json_response(self.message_json(m, request.query.get("format", "full")))
        return self.error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")

    def parse(self, raw: str) -> dict:
        message = email.message_from_bytes(
            base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email.policy.default
        )
        return {
            "to": message["To"],
            "cc": message["Cc"],
            "subject": message["Subject"],
            "body": message.get_content() if not message.is_multipart() else "",
        }

    async def draft(self, request, token):
        self.need(token, "gmail.compose", "gmail.modify")
        body = await request.json()
        n = next(self.state.data["ids"])
        self.state.data["drafts"].append(self.parse(body["message"]["raw"]))
        return web.json_response(
            {"id": f"r-{n}", "message": {"id": f"m{n}", "threadId": f"t{n}", "labelIds": ["DRAFT"]}}
        )

    async def send(self, request, token):
        self.need(token, "gmail.send", "gmail.compose", "gmail.modify")
        body = await request.json()
        n = next(self.state.data["ids"])
        self.state.data["sent"].append(self.parse(body["raw"]))
        return web.json_response({"id": f"m{n}", "threadId": f"t{n}", "labelIds": ["SENT"]})

    # --- Drive ------------------------------------------------------------------------------------------
    def file_json(self, f: dict) -> dict:
        out = {
            "kind": "drive#file",
            "id": f["id"],
            "name": f["name"],
            "mimeType": f["mimeType"],
            "parents": f["parents"],
            "modifiedTime": "2026-11-01T10:00:00.000Z",
            "webViewLink": f"https://drive.google.com/file/d/{f['id']}/view",
        }
        if not f["mimeType"].startswith("application/vnd.google-apps"):
            out["size"] = str(len(f.get("text", "")))
        return out

    async def list_files(self, request, token):
        self.need(token, "drive.readonly", "drive")
        q = request.query.get("q", "")
        files = list(self.state.data["files"].values())
        if m := re.search(r"fullText contains '((?:[^'\\]|\\.)*)'", q):
            word = m.group(1).lower()
            files = [f for f in files if word in f["name"].lower() or word in f.get("text", "").lower()]
        if m := re.search(r"'([^']+)' in parents", q):
            files = [f for f in files if m.group(1) in f["parents"]]
        items, next_token = self.page(request, files, "pageSize", 100)
        body = {"kind": "drive#fileList", "files": [self.file_json(f) for f in items]}
        if next_token:
            body["nextPageToken"] = next_token
        return web.json_response(body)

    def _file(self, request) -> dict:
        f = self.state.data["files"].get(request.match_info["id"])
        if f is None:
            error = {
                "code": 404,
                "message": f"File not found: {request.match_info['id']}.",
                "errors": [{"reason": "notFound"}],
            }
            raise web.HTTPNotFound(text=json.dumps({"error": error}), content_type="application/json")
        return f

    async def get_file(self, request, token):
        self.need(token, "drive.readonly", "drive")
        f = self._file(request)
        if request.query.get("alt") == "media":
            if f["mimeType"].startswith("application/vnd.google-apps"):
                return self.error(
                    403,
                    "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
                    "fileNotDownloadable",
                    "PERMISSION_DENIED",
                )
            return web.Response(body=f.get("text", "").encode(), content_type=f["mimeType"])
        return web.json_response(self.file_json(f))

    async def export_file(self, request, token):
        self.need(token, "drive.readonly", "drive")
        f = self._file(request)
        if not f["mimeType"].startswith("application/vnd.google-apps"):
            return self.error(403, "Export only supports Docs Editors files.", "fileNotExportable", "PERMISSION_DENIED")
        return web.Response(text=f.get("text", ""), content_type=request.query.get("mimeType", "text/plain"))

    # --- Calendar ---------------------------------------------------------------------------------------
    async def list_events(self, request, token):
        self.need(token, "calendar.readonly", "calendar.events", "calendar")
        events = self.state.data["events"].get(request.match_info["calendar"])
        if events is None:
            return self.error(404, "Not Found", "notFound", "NOT_FOUND")
        items, next_token = self.page(request, events, "maxResults", 250)
        body = {"kind": "calendar#events", "summary": request.match_info["calendar"], "items": items}
        if next_token:
            body["nextPageToken"] = next_token
        return web.json_response(body)

    async def create_event(self, request, token):
        self.need(token, "calendar.events", "calendar")
        events = self.state.data["events"].get(request.match_info["calendar"])
        if events is None:
            return self.error(404, "Not Found", "notFound", "NOT_FOUND")
        body = await request.json()
        if not body.get("start") or not body.get("end"):
            return self.error(400, "Missing end time.", "required", "INVALID_ARGUMENT")
        event = {
            **body,
            "id": f"evt{next(self.state.data['ids'])}",
            "status": "confirmed",
            "htmlLink": "https://www.google.com/calendar/event?eid=x",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        events.append(event)
        return web.json_response(event)
