"""A 600 MB unauthenticated body against a real ``shopsentinel serve`` (issue 14, "Must show").

The body is streamed from a generator over a raw socket, so the test knows exactly how many bytes
it had sent when the answer came: with ``Content-Length: 600000000`` the 413 comes after the
headers, before the body; chunked (no length) it comes once the streamed bytes pass the limit. The
server never reads (or holds) the rest, and its resident memory stays flat.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import Server, serve, service_env

SIX_HUNDRED_MB = 600_000_000
CHUNK = 64 * 1024
DEFAULT_LIMIT = 32 * 1024 * 1024  # Settings.max_body_bytes
MIB = 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    status: int
    body: bytes
    sent: int  # body bytes (payload, without chunk framing) handed to the socket before the answer


def json_filler(total: int) -> Iterator[bytes]:
    """``{"points": [...]}``, ``total`` bytes of it, in ``CHUNK`` pieces, made as they are sent."""
    head = b'{"points": ['
    item = b'{"ts": "2026-11-11T00:00:00Z", "platform": "tmall", "store": "s", "metric": "uv", "value": 1},'
    yield head
    sent = len(head)
    piece = item * (CHUNK // len(item))
    while sent < total:
        part = piece[: total - sent]
        yield part
        sent += len(part)


def push(server: Server, total: int, *, chunked: bool) -> Outcome:
    """POST /api/v1/points without a token, the body from :func:`json_filler`; stop sending as soon
    as the server answers (or stops reading), and return its answer."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST /api/v1/points HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"{framing}\r\n\r\n".encode())
    sent = 0
    try:
        for part in json_filler(total):
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable or not writable:
                break  # the answer is there (or the server stopped reading for 30 s)
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            sent += len(part)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection: its answer is already here
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            block = sock.recv(65536)
            if not block:
                break
            data += block
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:200]
    return Outcome(int(head.split()[1]), body, sent)


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        return len(data) + 1
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(data) + 1


def test_600_mb_unauthenticated_bodies_are_refused_early_with_memory_flat(tmp_path: Path) -> None:
    with ExitStack() as stack:
        server = serve(stack, tmp_path, service_env(tmp_path), "body")  # the default limit (32 MiB)
        rss_before = server.rss_kib()

        # Declared 600 MB: refused on the header, before the body (the token is never looked at: 413, not 401).
        declared = push(server, SIX_HUNDRED_MB, chunked=False)
        assert declared.status == 413, declared
        assert "请求体过大" in declared.body.decode()
        assert declared.sent < DEFAULT_LIMIT  # not even the limit: what fit into the socket buffers, at most

        # Chunked, no length: refused once the streamed bytes pass the limit, not after 600 MB.
        streamed = push(server, SIX_HUNDRED_MB, chunked=True)
        assert streamed.status == 413, streamed
        assert DEFAULT_LIMIT < streamed.sent < DEFAULT_LIMIT + 24 * MIB, streamed.sent

        grown_mib = (server.rss_kib() - rss_before) / 1024
        assert grown_mib < 100, f"RSS grew by {grown_mib:.0f} MiB"
        # Still serving: a small request right after is answered normally (401 without a token).
        assert server.client.post("/api/v1/points", json={"points": []}, headers={"Authorization": ""}).status_code == 401


def test_a_chunked_body_over_a_small_limit_is_refused_as_soon_as_it_passes_it(tmp_path: Path) -> None:
    limit = 256 * 1024
    env = service_env(tmp_path, SHOPSENTINEL_MAX_BODY_BYTES=str(limit))
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "small-limit")
        rss_before = server.rss_kib()
        streamed = push(server, SIX_HUNDRED_MB, chunked=True)
        assert streamed.status == 413, streamed
        assert f"上限 {limit} 字节" in streamed.body.decode()
        assert limit < streamed.sent < limit + 24 * MIB, streamed.sent
        # Under the limit is fine: the same stream cut short is read and parsed (422 or 401, never 413).
        small = push(server, limit // 2, chunked=True)
        assert small.status in (400, 401, 422), small
        assert (server.rss_kib() - rss_before) / 1024 < 100
