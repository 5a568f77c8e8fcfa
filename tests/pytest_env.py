"""Loaded with ``-p`` before Django reads its settings: the environment every test process runs in."""

import os

os.environ.setdefault("SCOPEGATE_ENV", "test")
# Runs share CI's Redis: give each its own key space so that no state leaks from one run into the next.
os.environ.setdefault("SCOPEGATE_CACHE_PREFIX", f"sgtest{os.getpid()}")
os.environ.setdefault("SCOPEGATE_CHANNEL_PREFIX", f"sgtest{os.getpid()}")
# The stdio servers this test operator allows; the daphne children inherit it.
if "SCOPEGATE_STDIO_COMMANDS" not in os.environ:
    import json

    from tests.upstreams.run import STDIO_COMMANDS

    os.environ["SCOPEGATE_STDIO_COMMANDS"] = json.dumps(STDIO_COMMANDS)
# GitHub and Google are a local emulator (tests/emulators) on a port chosen now, so that this process and the
# daphne children it starts agree on where the providers live.
if "SCOPEGATE_GITHUB_API_URL" not in os.environ:
    import socket

    from tests.emulators.server import environment

    with socket.socket() as _sock:
        _sock.bind(("127.0.0.1", 0))
        os.environ["SCOPEGATE_EMULATOR_PORT"] = str(_sock.getsockname()[1])
    os.environ.update(environment(int(os.environ["SCOPEGATE_EMULATOR_PORT"])))
