"""Drive's and Calendar's tools: search, list a folder, read a file (Docs exported as text); list and create
events."""

from __future__ import annotations

from urllib.parse import quote

from connectors.providers.base import ToolError
from connectors.providers.google.api import GoogleApi

DRIVE = "/drive/v3"
CALENDAR = "/calendar/v3"
FILE_FIELDS = "nextPageToken,files(id,name,mimeType,modifiedTime,parents,size,webViewLink)"
# Google's own formats have no bytes to download: they are exported.
EXPORTS = {
    "application/vnd.google-apps.document": "text/plain",
    "application/vnd.google-apps.spreadsheet": "text/csv",
    "application/vnd.google-apps.presentation": "text/plain",
}
TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript", "application/x-yaml")
MAX_FILE_BYTES = 1_000_000


def _file(f: dict) -> dict:
    return {
        "id": f.get("id", ""),
        "name": f.get("name", ""),
        "mime_type": f.get("mimeType", ""),
        "modified_time": f.get("modifiedTime"),
        "parents": f.get("parents", []),
        "web_view_link": f.get("webViewLink"),
    }


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def _files(api: GoogleApi, query: str, args: dict) -> dict:
    params = {
        "q": query,
        "pageSize": args.get("page_size", 25),
        "pageToken": args.get("page_token"),
        "fields": FILE_FIELDS,
        "orderBy": "modifiedTime desc" if "fullText" not in query else None,
    }
    data = await api.get_json(f"{DRIVE}/files", params=params)
    return {"files": [_file(f) for f in data.get("files", [])], "next_page_token": data.get("nextPageToken")}


async def drive_search(api: GoogleApi, args: dict) -> dict:
    return await _files(api, f"fullText contains '{_quoted(args['query'])}' and trashed = false", args)


async def drive_list_folder(api: GoogleApi, args: dict) -> dict:
    folder = args.get("folder_id", "root")
    return {"folder_id": folder, **await _files(api, f"'{_quoted(folder)}' in parents and trashed = false", args)}


async def drive_read_file(api: GoogleApi, args: dict) -> dict:
    path = f"{DRIVE}/files/{quote(args['file_id'], safe='')}"
    meta = await api.get_json(path, params={"fields": "id,name,mimeType,size"})
    mime = meta.get("mimeType", "")
    if mime in EXPORTS:
        response = await api.call("GET", f"{path}/export", params={"mimeType": EXPORTS[mime]}, accept="*/*")
        exported_as = EXPORTS[mime]
    elif mime.startswith(TEXTUAL):
        if int(meta.get("size") or 0) > MAX_FILE_BYTES:
            raise ToolError(f"{meta.get('name')} is larger than {MAX_FILE_BYTES} bytes.")
        response = await api.call("GET", path, params={"alt": "media"}, accept="*/*")
        exported_as = mime
    else:
        raise ToolError(f"{meta.get('name')} is a {mime or 'binary'} file, which cannot be read as text.")
    return {
        "id": meta.get("id", args["file_id"]),
        "name": meta.get("name", ""),
        "mime_type": mime,
        "exported_as": exported_as,
        "content": response.text()[:MAX_FILE_BYTES],
    }


def _event(e: dict) -> dict:
    def moment(value: dict | None) -> str | None:
        value = value or {}
        return value.get("dateTime") or value.get("date")

    return {
        "id": e.get("id", ""),
        "summary": e.get("summary"),
        "start": moment(e.get("start")),
        "end": moment(e.get("end")),
        "location": e.get("location"),
        "status": e.get("status", ""),
        "attendees": [a.get("email", "") for a in e.get("attendees") or [] if isinstance(a, dict)],
        "html_link": e.get("htmlLink"),
    }


def _calendar(args: dict) -> str:
    return f"{CALENDAR}/calendars/{quote(args.get('calendar_id', 'primary'), safe='')}/events"


async def calendar_list_events(api: GoogleApi, args: dict) -> dict:
    params = {
        "timeMin": args.get("time_min"),
        "timeMax": args.get("time_max"),
        "q": args.get("query"),
        "maxResults": args.get("max_results", 25),
        "pageToken": args.get("page_token"),
        "singleEvents": True,
        "orderBy": "startTime",
    }
    data = await api.get_json(_calendar(args), params=params)
    return {
        "calendar_id": args.get("calendar_id", "primary"),
        "events": [_event(e) for e in data.get("items", [])],
        "next_page_token": data.get("nextPageToken"),
    }


def _moment(value: str) -> dict:
    return {"date": value} if len(value) == 10 else {"dateTime": value}


async def calendar_create_event(api: GoogleApi, args: dict) -> dict:
    if (len(args["start"]) == 10) != (len(args["end"]) == 10):
        raise ToolError("start and end must both be dates (all-day) or both be date-times.")
    body = {
        "summary": args["summary"],
        "start": _moment(args["start"]),
        "end": _moment(args["end"]),
        "description": args.get("description"),
        "location": args.get("location"),
        "attendees": [{"email": a} for a in args.get("attendees", [])],
    }
    created = await api.send_json("POST", _calendar(args), {k: v for k, v in body.items() if v is not None})
    return {"calendar_id": args.get("calendar_id", "primary"), **_event(created)}
