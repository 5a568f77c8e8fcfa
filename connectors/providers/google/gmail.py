"""Gmail's tools: search, read, draft and send."""

from __future__ import annotations

import asyncio
import base64
import binascii
from email.message import EmailMessage
from email.utils import getaddresses
from urllib.parse import quote

from connectors.providers.base import NSTR, STR, ToolError, array, integer, out, string
from connectors.providers.google.api import GoogleApi

GMAIL = "/gmail/v1/users/me"
READ_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.modify"}
)
COMPOSE_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/gmail.compose", "https://www.googleapis.com/auth/gmail.modify"}
)
SEND_SCOPES = COMPOSE_SCOPES | {"https://www.googleapis.com/auth/gmail.send"}
ADDRESS = string("An e-mail address.", format="email", maxLength=254, pattern=r"^[^@\s<>,]+@[^@\s<>,]+$")
ADDRESSES = array(ADDRESS, "E-mail addresses.", max_items=50)
HEADERS = ("From", "To", "Cc", "Subject", "Date")
SUMMARY = out(
    id=STR, thread_id=STR, **{"from": NSTR}, to=NSTR, subject=NSTR, date=NSTR, snippet=STR, labels=array(STR, "", 100)
)
MESSAGE = out(
    id=STR,
    thread_id=STR,
    **{"from": NSTR},
    to=NSTR,
    cc=NSTR,
    subject=NSTR,
    date=NSTR,
    labels=array(STR, "", 100),
    body=STR,
)
COMPOSE = {
    "to": {**ADDRESSES, "minItems": 1},
    "cc": ADDRESSES,
    "subject": string("The subject.", maxLength=998),
    "body": string("The message as plain text.", maxLength=1_000_000),
}
RECIPIENTS = {"arguments": {"to": "recipient", "cc": "recipient"}}


def _header(message: dict, name: str) -> str | None:
    for header in message.get("payload", {}).get("headers", []):
        if str(header.get("name", "")).lower() == name.lower():
            return header.get("value")
    return None


def _summary(message: dict) -> dict:
    return {
        "id": message.get("id", ""),
        "thread_id": message.get("threadId", ""),
        "from": _header(message, "From"),
        "to": _header(message, "To"),
        "subject": _header(message, "Subject"),
        "date": _header(message, "Date"),
        "snippet": message.get("snippet", ""),
        "labels": message.get("labelIds", []),
    }


def _decode(data: str) -> str:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def _text(part: dict) -> str | None:
    """The first text/plain body of a (multipart) message."""
    if part.get("mimeType") == "text/plain" and part.get("body", {}).get("data"):
        return _decode(part["body"]["data"])
    for child in part.get("parts") or []:
        found = _text(child)
        if found is not None:
            return found
    return None


async def gmail_search(api: GoogleApi, args: dict) -> dict:
    params = {
        "q": args.get("query"),
        "maxResults": args.get("max_results", 20),
        "pageToken": args.get("page_token"),
        "labelIds": args.get("label"),
    }
    listing = await api.get_json(f"{GMAIL}/messages", params=params)
    ids = [m["id"] for m in listing.get("messages") or [] if isinstance(m, dict) and m.get("id")]
    meta = {"format": "metadata", "metadataHeaders": list(HEADERS)}
    # aiohttp repeats a list parameter, as Gmail expects (metadataHeaders=From&metadataHeaders=To...)
    fetched = await asyncio.gather(*(api.get_json(f"{GMAIL}/messages/{i}", params=meta) for i in ids))
    return {"messages": [_summary(m) for m in fetched], "next_page_token": listing.get("nextPageToken")}


async def gmail_read(api: GoogleApi, args: dict) -> dict:
    message = await api.get_json(f"{GMAIL}/messages/{quote(args['message_id'], safe='')}", params={"format": "full"})
    summary = _summary(message)
    del summary["snippet"]
    return {**summary, "cc": _header(message, "Cc"), "body": _text(message.get("payload", {})) or ""}


def _raw(args: dict) -> str:
    message = EmailMessage()
    message["To"] = ", ".join(args["to"])
    if args.get("cc"):
        message["Cc"] = ", ".join(args["cc"])
    message["Subject"] = args.get("subject", "")
    message.set_content(args.get("body", ""))
    if len(getaddresses([message["To"]])) != len(args["to"]):
        raise ToolError("Each recipient must be one plain e-mail address.")
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


async def gmail_draft(api: GoogleApi, args: dict) -> dict:
    draft = await api.send_json("POST", f"{GMAIL}/drafts", {"message": {"raw": _raw(args)}})
    return {"draft_id": draft.get("id", ""), "message_id": draft.get("message", {}).get("id", "")}


async def gmail_send(api: GoogleApi, args: dict) -> dict:
    sent = await api.send_json("POST", f"{GMAIL}/messages/send", {"raw": _raw(args)})
    return {"message_id": sent.get("id", ""), "thread_id": sent.get("threadId", "")}


MAX_RESULTS = integer("At most this many messages.", maximum=100, default=20)
PAGE_TOKEN = string("The next_page_token of a previous answer.", maxLength=500)
NEXT_TOKEN = {"type": ["string", "null"], "description": "Pass as page_token for more; null on the last page."}
