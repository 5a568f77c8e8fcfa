"""OAuth 2.0 as GitHub and Google speak it: the consent page, the token endpoint (authorization code with PKCE,
refresh) and revocation. ``style`` is where the two differ (error statuses, scope separators, lifetimes)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import time
from urllib.parse import urlencode

from aiohttp import web

from tests.emulators.state import Grant, ProviderState, Token

ACCOUNTS = {
    "github": ["octocat", "octo-work"],
    "google": ["ana@example.test", "ana@work.example.test"],
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    head = f"<title>{html.escape(title)}</title><link rel='icon' href='data:,'>"  # no favicon request to 404
    document = f"<!doctype html><html lang='en'><head>{head}</head><body>{body}</body></html>"
    return web.Response(text=document, status=status, content_type="text/html")


def _redirect(uri: str, **params: str) -> web.Response:
    raise web.HTTPFound(uri + ("&" if "?" in uri else "?") + urlencode({k: v for k, v in params.items() if v}))


async def authorize(request: web.Request, state: ProviderState) -> web.Response:
    q = request.query
    if q.get("client_id") != state.client_id:
        return _page("Error", "<h1>Application not found</h1>", 404)
    if q.get("redirect_uri") not in state.redirect_uris:
        return _page("Error", "<h1>The redirect_uri is not associated with this application.</h1>", 400)
    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
        return _page("Error", "<h1>PKCE with S256 is required.</h1>", 400)
    if state.name == "google" and q.get("response_type") != "code":
        return _page("Error", "<h1>Error 400: invalid_request (response_type)</h1>", 400)
    hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in q.items())
    accounts = "".join(f"<option value='{a}'>{a}</option>" for a in ACCOUNTS[state.name])
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in _scopes(state, q.get("scope", "")))
    body = f"""<h1>{state.name.title()}: authorize ScopeGate</h1>
<form method="post" action="{request.path}">{hidden}
<label>Account <select name="account">{accounts}</select></label>
<p>ScopeGate asks for:</p><ul>{scopes}</ul>
<button type="submit" name="decision" value="allow">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>"""
    return _page("Authorize", body)


def _scopes(state: ProviderState, raw: str) -> list[str]:
    return [s for s in raw.replace(",", " ").split() if s]


async def consent(request: web.Request, state: ProviderState) -> web.Response:
    form = await request.post()
    redirect_uri = str(form.get("redirect_uri", ""))
    if form.get("client_id") != state.client_id or redirect_uri not in state.redirect_uris:
        return _page("Error", "<h1>Bad request</h1>", 400)
    if form.get("decision") != "allow":
        description = "The user has denied your application access." if state.name == "github" else ""
        return _redirect(
            redirect_uri, error="access_denied", error_description=description, state=str(form.get("state", ""))
        )
    code = state.new_token("code-")
    state.codes[code] = {
        "redirect_uri": redirect_uri,
        "challenge": str(form.get("code_challenge")),
        "scopes": _scopes(state, str(form.get("scope", ""))),
        "account": str(form.get("account") or ACCOUNTS[state.name][0]),
        "issued": time.time(),
    }
    return _redirect(redirect_uri, code=code, state=str(form.get("state", "")))


def _error(state: ProviderState, error: str, description: str) -> web.Response:
    # GitHub answers token errors with 200 and an error document; Google with 400.
    status = 200 if state.name == "github" else 400
    return web.json_response({"error": error, "error_description": description}, status=status)


def _client_ok(request: web.Request, form, state: ProviderState) -> bool:
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    return client_id == state.client_id and secret == state.client_secret


def _issue(state: ProviderState, grant: Grant) -> dict:
    github = state.name == "github"
    expiring = state.knobs.expiring_tokens or not github
    access = state.new_token("ghu_" if github and expiring else "gho_" if github else "ya29.")
    lifetime = state.knobs.token_lifetime
    state.access_tokens[access] = Token(grant=grant, expires_at=time.time() + lifetime if expiring else None)
    answer = {"access_token": access, "token_type": "bearer" if github else "Bearer"}
    answer["scope"] = ",".join(grant.scopes) if github else " ".join(grant.scopes)
    if expiring:
        answer["expires_in"] = lifetime
        if github or grant.refresh_token is None:  # GitHub rotates refresh tokens; Google keeps the first one
            if grant.refresh_token:
                state.refresh_tokens.pop(grant.refresh_token, None)
            grant.refresh_token = state.new_token("ghr_" if github else "1//")
            state.refresh_tokens[grant.refresh_token] = grant
            answer["refresh_token"] = grant.refresh_token
            if github:
                answer["refresh_token_expires_in"] = 15_897_600
    return answer


async def token(request: web.Request, state: ProviderState) -> web.Response:
    state.count("token_requests")
    mode = state.knobs.token_endpoint
    if mode == "timeout":
        await asyncio.sleep(120)
    if mode == "garbage":
        return web.Response(text="<html><body>Whoops</body></html>", content_type="text/html")
    if mode == "error500":
        return web.Response(text="Internal Server Error", status=500)
    form = await request.post()
    if not _client_ok(request, form, state):
        return _error(state, "incorrect_client_credentials" if state.name == "github" else "invalid_client", "")
    grant_type = form.get("grant_type", "authorization_code")
    if grant_type == "refresh_token":
        state.count("refreshes")
        if state.knobs.refresh_delay:
            await asyncio.sleep(state.knobs.refresh_delay)
        grant = state.refresh_tokens.get(str(form.get("refresh_token", "")))
        if state.knobs.reject_refresh or grant is None or grant.revoked:
            if state.name == "github":
                return _error(state, "bad_refresh_token", "The refresh token passed is incorrect or expired.")
            return _error(state, "invalid_grant", "Token has been expired or revoked.")
        return web.json_response(_issue(state, grant))
    code = state.codes.pop(str(form.get("code", "")), None)
    if code is None or time.time() - code["issued"] > 600:
        return _error(
            state,
            "bad_verification_code" if state.name == "github" else "invalid_grant",
            "The code passed is incorrect or expired.",
        )
    if form.get("redirect_uri") != code["redirect_uri"]:
        return _error(state, "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL.")
    verifier = str(form.get("code_verifier", ""))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if challenge != code["challenge"]:
        return _error(state, "invalid_grant", "The code_verifier does not match the code_challenge.")
    grant = Grant(client_id=state.client_id, scopes=code["scopes"], account=code["account"])
    state.count("codes_exchanged")
    return web.json_response(_issue(state, grant))


async def google_revoke(request: web.Request, state: ProviderState) -> web.Response:
    state.count("revocations")
    if state.knobs.revoke == "error500":
        return web.json_response({"error": "internal_failure"}, status=500)
    form = await request.post()
    value = str(form.get("token") or request.query.get("token", ""))
    grant = state.refresh_tokens.get(value) or (
        state.access_tokens[value].grant if value in state.access_tokens else None
    )
    if grant is None or grant.revoked:
        return web.json_response(
            {"error": "invalid_token", "error_description": "Token expired or revoked"}, status=400
        )
    state.revoke_grant(grant)
    state.count("revoked")
    return web.json_response({})


def bearer(request: web.Request, state: ProviderState) -> Token | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return state.token(value.strip()) if scheme.lower() in ("bearer", "token") else None
