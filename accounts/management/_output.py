import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


def emit(command, data: dict, as_json: bool) -> None:
    """Prints what a script needs: JSON with --json, else one ``key: value`` line each."""
    if as_json:
        command.stdout.write(json.dumps(data))
    else:
        for key, value in data.items():
            command.stdout.write(f"{key}: {value}")


def command_error(exc: ValidationError) -> CommandError:
    if hasattr(exc, "error_dict"):
        parts = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
        return CommandError("; ".join(parts))
    return CommandError(" ".join(exc.messages))
