"""The gateway's lean HTTP/1.1 client against real sockets on loopback: servers that answer well, and servers that
misbehave in the ways an upstream can (closing early, malformed or endless answers, answering out of turn)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from gateway import lean_http

CLOSE = b"<close>"  # an answer starting with this is sent, and then the connection is closed


class Server:
    """An HTTP server on loopback whose every answer is scripted by ``respond(request_bytes) -> bytes | None``
    (None: close without answering; ``CLOSE + answer``: answer, then close). It records each connection's
    requests."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.connections: list[list[bytes]] = []
        self.open = 0
        self.most_open = 0
        self.closed_by_client = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/mcp?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests: list[bytes] = []
        self.connections.append(requests)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                request = head + await reader.readexactly(length)
                requests.append(request)
                answer = self.respond(request)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                if answer is None:
                    break
                writer.write(answer.removeprefix(CLOSE))
                await writer.drain()
                if answer.startswith(CLOSE):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        except asyncio.CancelledError:  # the server stops
            pass
        finally:
            self.open -= 1
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def json_answer(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


async def _post(url: str, body: bytes = b"{}", headers: dict | None = None, *, allow_private: bool = True) -> tuple:
    target = lean_http.Target(url)
    async with lean_http.post(target, body, headers or {"Content-Type": "application/json"}, 5, allow_private) as r:
        return r.status, r.headers, await r.read()


def served(server: Server, scenario):
    """Runs ``scenario(url)`` on a new event loop against ``server``, stopped after it with the client's pool."""

    async def wrapped():
        url = await server.start()
        try:
            return await scenario(url)
        finally:
            await server.stop()
            await lean_http.close_all()

    return asyncio.run(wrapped())


def test_calls_reuse_one_connection_and_send_what_they_were_given():
    server = Server(lambda request: json_answer(extra=b"Mcp-Session-Id: abc\r\nX-A: 1\r\nX-A: 2\r\n"))

    async def scenario(url):
        results = [
            await _post(url, b'{"n":%d}' % i, {"Content-Type": "application/json", "Mcp-Name": "t"}) for i in range(3)
        ]
        return results

    results = served(server, scenario)
    assert len(server.connections) == 1 and len(server.connections[0]) == 3
    first = server.connections[0][0]
    assert first.startswith(b"POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Mcp-Name: t\r\n" in first and first.endswith(b'{"n":0}')
    status, headers, body = results[0]
    assert (status, body) == (200, b'{"ok":true}')
    assert headers["mcp-session-id"] == "abc" and headers["x-a"] == "1, 2"


def test_a_stream_is_read_line_by_line_whatever_the_chunks():
    events = b'event: message\r\ndata: {"a":1}\r\n\r\n: comment\ndata: {"b":\ndata: 2}\n\n'
    chunks = [events[i : i + 3] for i in range(0, len(events), 3)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    server = Server(lambda request: STREAM_HEAD + body)

    async def scenario(url):
        async with lean_http.post(lean_http.Target(url), b"{}", {}, 5, True) as response:
            lines = [line async for line in response.lines()]
        again = await _post(url)  # the stream was read to its end: the connection is reused
        return lines, again

    lines, again = served(server, scenario)
    assert lines == [b"event: message", b'data: {"a":1}', b"", b": comment", b'data: {"b":', b"data: 2}", b""]
    assert again[0] == 200 and len(server.connections) == 1


def test_a_response_left_unread_closes_its_connection():
    """A call cancelled while its answer streams: the connection is closed (so the upstream sees it) and the next
    call opens another one."""
    stalled = asyncio.Event()

    async def respond(request):
        if b'"stall"' in request:
            stalled.set()
            return STREAM_HEAD + b"5\r\ndata:\r\n"
        return json_answer()

    server = Server(respond)

    async def scenario(url):

        async def stall():
            async with lean_http.post(lean_http.Target(url), b'"stall"', {}, 5, True) as response:
                await response.read()

        task = asyncio.ensure_future(stall())
        await stalled.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):  # the server notices the close
            if server.closed_by_client:
                break
            await asyncio.sleep(0.01)
        answer = await _post(url)
        return answer

    assert served(server, scenario)[0] == 200
    assert server.closed_by_client == 1 and len(server.connections) == 2


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    answers = iter([json_answer(extra=b"Connection: close\r\n"), json_answer()])
    server = Server(lambda request: next(answers))

    async def scenario(url):
        first = await _post(url)
        await asyncio.sleep(0.05)
        second = await _post(url)
        return first, second

    first, second = served(server, scenario)
    assert first[0] == second[0] == 200 and len(server.connections) == 2


def test_a_body_without_length_ends_with_the_connection():
    server = Server(lambda request: CLOSE + b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"end":1}')

    async def scenario(url):
        return await _post(url)

    status, _, body = served(server, scenario)
    assert (status, body) == (200, b'{"end":1}')


@pytest.mark.parametrize(
    "answer, error",
    [
        (CLOSE + b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"cut', ConnectionResetError),
        (b"NOT HTTP AT ALL\r\n\r\n", lean_http.ProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", lean_http.ProtocolError),
        (json_answer() + json_answer(), lean_http.ProtocolError),
        (None, ConnectionResetError),
    ],
    ids=["cut-short", "not-http", "two-lengths", "answered-twice", "closed-without-answer"],
)
def test_a_broken_answer_is_an_error_and_its_connection_is_dropped(answer, error):
    server = Server(lambda request: answer)

    async def scenario(url):
        with pytest.raises(error):
            await _post(url)
        server.respond = lambda request: json_answer()
        return await _post(url)  # on a new connection

    assert served(server, scenario)[0] == 200
    assert len(server.connections) == 2


def test_an_answer_larger_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(lean_http, "MAX_BODY_BYTES", 1000)
    server = Server(lambda request: json_answer(b"x" * 5000))

    async def scenario(url):
        return await _post(url)

    with pytest.raises(lean_http.ProtocolError, match="more than"):
        served(server, scenario)


def test_a_header_that_would_split_the_request_is_refused():
    server = Server(lambda request: json_answer())

    async def scenario(url):
        return await _post(url, headers={"X-Evil": "a\r\nX-Injected: 1"})

    with pytest.raises(ValueError, match="cannot be sent"):
        served(server, scenario)
    assert server.connections == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_at_connect_unless_allowed(host, settings):
    settings.UPSTREAM_ALLOWED_NETWORKS = []
    server = Server(lambda request: json_answer())

    async def scenario(url):
        url = url.replace("127.0.0.1", host)
        with pytest.raises(lean_http.RefusedAddress, match="private address"):
            await _post(url, allow_private=False)
        # or only the operator's networks among the private ones
        settings.UPSTREAM_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
        first = await _post(url, allow_private=False)
        settings.UPSTREAM_ALLOWED_NETWORKS = []
        return first, await _post(url, allow_private=True)

    first, second = served(server, scenario)
    assert first[0] == second[0] == 200
    assert len(server.connections) == 1  # the first connected through the check; the second reused it


def test_concurrent_calls_to_one_origin_stay_within_the_limit(monkeypatch):
    monkeypatch.setattr(lean_http, "LIMIT_PER_ORIGIN", 3)

    async def slow(request):
        await asyncio.sleep(0.02)
        return json_answer()

    server = Server(slow)

    async def scenario(url):
        return await asyncio.gather(*(_post(url) for _ in range(12)))

    results = served(server, scenario)
    assert [status for status, _, _ in results] == [200] * 12
    assert server.most_open == 3


def test_the_request_target_is_encoded_and_url_credentials_are_sent_as_basic_auth():
    server = Server(lambda request: json_answer())

    async def scenario(url):
        url = url.replace("http://", "http://us%40er:p%3Ass@").replace("/mcp?x=1", "/m cp/é?q=a b&x=%2F")
        await _post(url)
        await _post(url, headers={"authorization": "Bearer own"})  # the connection's own header wins

    served(server, scenario)
    first, second = server.connections[0]
    assert first.startswith(b"POST /m%20cp/%C3%A9?q=a%20b&x=%2F HTTP/1.1\r\n")
    assert b"Authorization: Basic dXNAZXI6cDpzcw==\r\n" in first  # base64 of "us@er:p:ss"
    assert b"Basic" not in second and b"authorization: Bearer own\r\n" in second
