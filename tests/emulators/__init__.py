"""A local emulator of GitHub and Google: their OAuth (authorize page, token, refresh, revoke) and the REST
subset the built-in tools use, with the real response shapes, error codes, pagination and rate-limit headers.

Run it alone with ``python -m tests.emulators --port 8765``; tests start it in a thread (``Emulator``) and
turn its knobs (``emulator.github.knobs``) to make the providers misbehave.
"""

from tests.emulators.server import Emulator

__all__ = ["Emulator"]
