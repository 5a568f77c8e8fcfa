"""Google's built-in tools as agents see them: Gmail, Drive and Calendar."""

from __future__ import annotations

from connectors.providers.base import NSTR, STR, Tool, array, integer, obj, out, string
from connectors.providers.google import drive, gmail

AUTH = "https://www.googleapis.com/auth/"
DRIVE_SCOPES = frozenset({AUTH + "drive.readonly", AUTH + "drive"})
CALENDAR_READ = frozenset({AUTH + "calendar.readonly", AUTH + "calendar.events", AUTH + "calendar"})
CALENDAR_WRITE = frozenset({AUTH + "calendar.events", AUTH + "calendar"})
PAGE_TOKEN = string("The next_page_token of a previous answer.", maxLength=500)
NEXT_TOKEN = {"type": ["string", "null"], "description": "Pass as page_token for more; null on the last page."}
PAGE_SIZE = integer("At most this many files.", maximum=100, default=25)
FILE = out(
    id=STR,
    name=STR,
    mime_type=STR,
    modified_time=NSTR,
    parents=array(STR, "Parent folder ids.", 10),
    web_view_link=NSTR,
)
FILES = array(FILE, "Files and folders, most recently modified first.", 100)
FILE_LISTING = {"items": "files", "field": "id", "resource": "file"}
DATETIME = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$"
CALENDAR_ID = string(
    "The calendar's id ('primary' is the account's own).", minLength=1, maxLength=500, default="primary"
)
EVENT = out(
    id=STR,
    summary=NSTR,
    start=NSTR,
    end=NSTR,
    location=NSTR,
    status=STR,
    attendees=array(STR, "Attendees.", 200),
    html_link=NSTR,
)

TOOLS = (
    Tool(
        "gmail_search",
        "Search mail",
        "Searches the mailbox with Gmail's search syntax (e.g. 'from:ana@acme.com is:unread newer_than:7d').",
        obj(
            query=string("Gmail search query.", maxLength=500),
            label=string("Only messages with this label id (e.g. INBOX).", maxLength=200),
            max_results=integer("At most this many messages.", maximum=100, default=20),
            page_token=PAGE_TOKEN,
        ),
        out(messages=array(gmail.SUMMARY, "Messages, newest first.", 100), next_page_token=NEXT_TOKEN),
        gmail.gmail_search,
        read_only=True,
        idempotent=True,
        scopes=gmail.READ_SCOPES,
        resources={"arguments": {"label": "label"}},
    ),
    Tool(
        "gmail_read",
        "Read a message",
        "Reads one message: its headers and its plain-text body.",
        obj(["message_id"], message_id=string("The message id (from gmail_search).", pattern=r"^[A-Za-z0-9_-]{1,64}$")),
        gmail.MESSAGE,
        gmail.gmail_read,
        read_only=True,
        idempotent=True,
        scopes=gmail.READ_SCOPES,
    ),
    Tool(
        "gmail_draft",
        "Draft a message",
        "Saves a plain-text draft in the mailbox, without sending it.",
        obj(["to", "subject", "body"], **gmail.COMPOSE),
        out(draft_id=STR, message_id=STR),
        gmail.gmail_draft,
        read_only=False,
        scopes=gmail.COMPOSE_SCOPES,
        resources=gmail.RECIPIENTS,
    ),
    Tool(
        "gmail_send",
        "Send a message",
        "Sends a plain-text e-mail from the connected account. It cannot be unsent.",
        obj(["to", "subject", "body"], **gmail.COMPOSE),
        out(message_id=STR, thread_id=STR),
        gmail.gmail_send,
        read_only=False,
        destructive=True,  # a sent message cannot be taken back
        scopes=gmail.SEND_SCOPES,
        resources=gmail.RECIPIENTS,
    ),
    Tool(
        "drive_search",
        "Search Drive",
        "Searches the names and contents of the files in Drive.",
        obj(
            ["query"],
            query=string("Words to find.", minLength=1, maxLength=500),
            page_size=PAGE_SIZE,
            page_token=PAGE_TOKEN,
        ),
        out(files=FILES, next_page_token=NEXT_TOKEN),
        drive.drive_search,
        read_only=True,
        idempotent=True,
        scopes=DRIVE_SCOPES,
        resources={"listing": FILE_LISTING},
    ),
    Tool(
        "drive_list_folder",
        "List a folder",
        "Lists the files and folders in one Drive folder ('root' is My Drive).",
        obj(
            folder_id=string(
                "The folder's id.", minLength=1, maxLength=200, pattern=r"^[A-Za-z0-9_-]+$", default="root"
            ),
            page_size=PAGE_SIZE,
            page_token=PAGE_TOKEN,
        ),
        out(folder_id=STR, files=FILES, next_page_token=NEXT_TOKEN),
        drive.drive_list_folder,
        read_only=True,
        idempotent=True,
        scopes=DRIVE_SCOPES,
        resources={"arguments": {"folder_id": "folder"}, "listing": FILE_LISTING},
    ),
    Tool(
        "drive_read_file",
        "Read a file",
        "Reads a Drive file as text. Google Docs and Slides are exported as plain text, Sheets as CSV.",
        obj(["file_id"], file_id=string("The file's id.", minLength=1, maxLength=200, pattern=r"^[A-Za-z0-9_-]+$")),
        out(id=STR, name=STR, mime_type=STR, exported_as=STR, content=STR),
        drive.drive_read_file,
        read_only=True,
        idempotent=True,
        scopes=DRIVE_SCOPES,
        resources={"arguments": {"file_id": "file"}},
    ),
    Tool(
        "calendar_list_events",
        "List events",
        "Lists a calendar's events in order of start time, recurring events expanded.",
        obj(
            calendar_id=CALENDAR_ID,
            time_min=string("Events ending after this RFC 3339 time.", pattern=DATETIME),
            time_max=string("Events starting before this RFC 3339 time.", pattern=DATETIME),
            query=string("Words to find in the events.", maxLength=500),
            max_results=integer("At most this many events.", maximum=250, default=25),
            page_token=PAGE_TOKEN,
        ),
        out(calendar_id=STR, events=array(EVENT, "Events.", 250), next_page_token=NEXT_TOKEN),
        drive.calendar_list_events,
        read_only=True,
        idempotent=True,
        scopes=CALENDAR_READ,
        resources={"arguments": {"calendar_id": "calendar"}},
    ),
    Tool(
        "calendar_create_event",
        "Create an event",
        "Creates an event; attendees get Google's invitation. Dates (YYYY-MM-DD) make an all-day event.",
        obj(
            ["summary", "start", "end"],
            calendar_id=CALENDAR_ID,
            summary=string("The event's title.", minLength=1, maxLength=1000),
            start=string("Start: an RFC 3339 date-time, or a date.", pattern=DATETIME),
            end=string("End: an RFC 3339 date-time, or a date.", pattern=DATETIME),
            description=string("Details.", maxLength=8000),
            location=string("Where.", maxLength=1000),
            attendees=array(gmail.ADDRESS, "Attendees' e-mail addresses.", max_items=100),
        ),
        {
            **EVENT,
            "properties": {**EVENT["properties"], "calendar_id": STR},
            "required": sorted([*EVENT["required"], "calendar_id"]),
        },
        drive.calendar_create_event,
        read_only=False,
        scopes=CALENDAR_WRITE,
        resources={"arguments": {"calendar_id": "calendar", "attendees": "recipient"}},
    ),
)
