"""Runs the emulator on loopback in a thread of its own (tests) or in the foreground (``__main__``)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from tests.emulators.github import GitHubEmulator
from tests.emulators.github import seed as github_seed
from tests.emulators.google import GoogleEmulator
from tests.emulators.google import seed as google_seed
from tests.emulators.state import ProviderState

CLIENTS = {
    "github": ("Iv1.emulatedgithub", "github-emulator-client-secret-0123456789"),
    "google": ("emulated.apps.googleusercontent.com", "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t"),
}


def environment(port: int) -> dict[str, str]:
    """The settings that point ScopeGate at an emulator on ``port``."""
    base = f"http://127.0.0.1:{port}"
    return {
        "SCOPEGATE_GITHUB_CLIENT_ID": CLIENTS["github"][0],
        "SCOPEGATE_GITHUB_CLIENT_SECRET": CLIENTS["github"][1],
        "SCOPEGATE_GITHUB_OAUTH_URL": f"{base}/github",
        "SCOPEGATE_GITHUB_API_URL": f"{base}/github/api",
        "SCOPEGATE_GOOGLE_CLIENT_ID": CLIENTS["google"][0],
        "SCOPEGATE_GOOGLE_CLIENT_SECRET": CLIENTS["google"][1],
        "SCOPEGATE_GOOGLE_ACCOUNTS_URL": f"{base}/google/accounts",
        "SCOPEGATE_GOOGLE_OAUTH2_URL": f"{base}/google/oauth2",
        "SCOPEGATE_GOOGLE_API_URL": f"{base}/google/api",
    }


class Emulator:
    def __init__(self, port: int, redirect_base: str | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.redirect_base = redirect_base
        self.github = ProviderState("github", *CLIENTS["github"])
        self.google = ProviderState("google", *CLIENTS["google"])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._github = GitHubEmulator(self.github, f"{self.url}/github")
        self._google = GoogleEmulator(self.google)

    def allow_redirects_to(self, base: str) -> None:
        """Registers ``base``'s callbacks as each app's exact redirect URIs."""
        self.github.redirect_uris.add(f"{base}/oauth/github/callback/")
        self.google.redirect_uris.add(f"{base}/oauth/google/callback/")

    def reset(self) -> None:
        """Fresh data, counters and knobs; the registered redirect URIs stay."""
        for state in (self.github, self.google):
            uris = state.redirect_uris
            fresh = ProviderState(state.name, state.client_id, state.client_secret, redirect_uris=uris)
            state.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})
        self.github.data, self.google.data = github_seed(), google_seed()

    def app(self) -> web.Application:
        app = web.Application()
        # The routes hold the emulator objects; all they remember lives in the ProviderStates reset() renews.
        self._github.routes(app)
        self._google.routes(app)
        return app

    def issued_tokens(self) -> list[str]:
        return [*self.github.issued(), *self.google.issued()]

    def start(self) -> Emulator:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="provider-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the provider emulator did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            await self._runner.cleanup()
            for task in asyncio.all_tasks():  # handlers a "timeout" knob left sleeping
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
