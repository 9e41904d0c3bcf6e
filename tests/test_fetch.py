"""The fetch stage against real servers on 127.0.0.1: deadlines, caps, retries, redirects, proxies, charsets."""

from __future__ import annotations

import asyncio
import gzip
import sys
import time
import tracemalloc
import zlib
from dataclasses import replace

import pytest

from mirrord import addresses as addresses_module
from mirrord.encoding import decode_html
from mirrord.errors import FetchError
from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings, Response

from httpsite import Site
from mirror_run import measured
from rawserver import RawServer, Socks5Proxy, answer, compression_bomb, reset

SETTINGS = HttpSettings(user_agent="mirrord-tests/1", timeout=5.0, concurrency=16, per_host=4, retries=0,
                        max_bytes=1_000_000, proxy=None)


def get(url: str, settings: HttpSettings = SETTINGS, **options) -> Response:
    """Fetch url with a fresh Fetcher, as the pipeline does."""
    async def fetch() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.get(url, **options)

    return asyncio.run(fetch())


def failure(url: str, settings: HttpSettings = SETTINGS, **options) -> FetchError:
    """Return the FetchError fetching url raises. How long it takes is bench/'s concern, not the tests':
    a deadline that does not hold shows as another error, or as none."""
    with pytest.raises(FetchError) as caught:
        get(url, settings, **options)
    return caught.value


def test_a_server_sending_one_byte_a_second_is_cut_at_the_total_deadline():
    def trickle(conn, _head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(1)

    with RawServer(trickle) as server:
        error = failure(server.url(), replace(SETTINGS, timeout=2))
    # httpx's per-read timeout alone would never fire: each byte comes within it, and the body would arrive.
    assert "no complete answer within http.timeout (2 s)" in str(error) and error.transient


def test_a_server_that_never_answers_times_out():
    with RawServer(lambda conn, head: server.stopped.wait(30)) as server:
        error = failure(server.url(), replace(SETTINGS, timeout=1, retries=1))
    assert error.transient and "no complete answer within http.timeout (1 s)" in str(error)
    assert len(server.requests) == 2, "a timeout is transient: retried once"


def test_a_connection_reset_mid_body_is_a_transient_failure():
    def half_then_reset(conn, _head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.1)
        reset(conn)

    with RawServer(half_then_reset) as server:
        error = failure(server.url(), replace(SETTINGS, retries=1))
    assert error.transient and "connection failed" in str(error)
    assert len(server.requests) == 2


def test_a_50_mb_body_is_refused_with_memory_bounded():
    def flood(conn, _head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
        chunk = b"<p>" + b"x" * 65533
        for _ in range(50_000_000 // len(chunk)):
            conn.sendall(chunk)

    with RawServer(flood) as server:
        tracemalloc.start()
        error = failure(server.url())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert "over the limit of 1000000 bytes, skipped (raise http.max_bytes" in str(error) and not error.transient
    assert peak < 5_000_000, f"peak {peak} bytes: the body must not be read past max_bytes"


def test_a_declared_length_over_the_cap_is_refused_before_reading(site):
    def declare(conn, _head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
        server.stopped.wait(30)

    with RawServer(declare) as server:
        error = failure(server.url())
    # The server sends no body: reading one would end in a timeout, not in this refusal.
    assert "body of 50000000 bytes is over the limit" in str(error)


def test_a_gzip_bomb_is_cut_after_decompression(site):
    site.add("/bomb.html", gzip.compress(b"\0" * 20_000_000), headers=(("Content-Encoding", "gzip"),))
    error = failure(site.url("/bomb.html"))
    assert "over the limit of 1000000 bytes" in str(error)


FETCH_IN_A_CHILD = """
import asyncio, sys
from mirrord.errors import FetchError
from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings

async def fetch(url, max_bytes):
    settings = HttpSettings("mirrord-tests", 30.0, 4, 4, 0, 10_000_000, None)
    async with Fetcher(settings) as fetcher:
        try:
            return f"read {len((await fetcher.get(url, max_bytes=max_bytes)).body)} bytes"
        except FetchError as error:
            return str(error)

print(asyncio.run(fetch(sys.argv[1], int(sys.argv[2]))))
"""


def fetch_in_a_child(url: str, max_bytes: int) -> tuple[str, int]:
    """Fetch url in a fresh process (http.max_bytes at its default of 10 MB); return what came of it and the
    process's peak memory in bytes."""
    run, peak = measured(sys.executable, "-c", FETCH_IN_A_CHILD, url, str(max_bytes), timeout=60)
    assert run.code == 0, run.stderr
    return run.stdout.strip(), peak


def serve_bomb(codings: str, content_type: str = "text/html"):
    body = compression_bomb(512, codings)
    headers = (("Content-Type", content_type), ("Content-Encoding", codings))
    return lambda conn, _head: conn.sendall(answer("200 OK", body, headers))


@pytest.mark.parametrize("codings", ["gzip, gzip", "gzip", "deflate", "deflate, gzip"])
@pytest.mark.parametrize("what, max_bytes", [("page or feed", 10_000_000), ("picture", 5_000_000)])
def test_a_compression_bomb_is_cut_at_the_cap_with_memory_bounded(codings, what, max_bytes):
    """512 MiB of zeros in under 600 kB (under 1 kB when gzipped twice). httpx inflates each network read
    in one call: the fetching process peaked at 1106 MB for two stacked codings and 166 MB for one before
    decoding moved into fetch.py; now at 42 MB (37 MB for a picture's 5 MB cap)."""
    with RawServer(serve_bomb(codings, "image/png" if what == "picture" else "text/html")) as server:
        outcome, peak = fetch_in_a_child(server.url("/bomb"), max_bytes)
    assert peak < 80_000_000, f"peak {peak / 1e6:.0f} MB: the body must be cut as it unpacks, not after"
    assert f"body unpacked from {codings} is over the limit of {max_bytes} bytes" in outcome


def test_three_stacked_codings_and_codings_never_asked_for_are_refused():
    for codings, expected in [("gzip, gzip, gzip", "compressed 3 times (Content-Encoding gzip, gzip, gzip): refused"),
                              ("br", "sent Content-Encoding br, which mirrord did not ask for")]:
        with RawServer(sequence(answer("200 OK", b"x", (("Content-Encoding", codings),)))) as server:
            error = failure(server.url())
        assert expected in str(error) and not error.transient
        assert "Accept-Encoding: gzip, deflate" in server.requests[0].split("\r\n")


@pytest.mark.parametrize("codings", ["gzip", "deflate", "gzip, gzip", "deflate, gzip", "identity", "utf-8"])
def test_compressed_bodies_within_the_cap_are_read_whole(codings):
    body = "<p>Ein Artikel über Kaffee.</p>".encode() * 30_000  # 1 MB spread over many network reads
    packed = body
    for coding in codings.split(", "):
        if coding in ("gzip", "deflate"):
            packer = zlib.compressobj(6, zlib.DEFLATED, 31 if coding == "gzip" else 15)
            packed = packer.compress(packed) + packer.flush()
    with RawServer(sequence(answer("200 OK", packed, (("Content-Encoding", codings),)))) as server:
        response = get(server.url(), replace(SETTINGS, max_bytes=len(body)))
    assert response.body == body


def test_raw_deflate_and_a_corrupt_stream():
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = packer.compress(b"<p>raw deflate</p>") + packer.flush()
    with RawServer(sequence(answer("200 OK", raw, (("Content-Encoding", "deflate"),)))) as server:
        assert get(server.url()).body == b"<p>raw deflate</p>", "some servers send deflate without its zlib wrapper"
    with RawServer(sequence(answer("200 OK", b"\x1f\x8b not gzip", (("Content-Encoding", "gzip"),)))) as server:
        error = failure(server.url())
    assert "the body could not be decoded (Content-Encoding gzip:" in str(error) and not error.transient


def test_endless_bytes_after_the_compressed_data_are_cut_at_the_cap():
    def trailing(conn, _head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
                     + gzip.compress(b"<p>short</p>"))
        for _ in range(200):
            conn.sendall(b"x" * 65536)

    with RawServer(trailing) as server:
        error = failure(server.url())
    assert "over the limit of 1000000 bytes" in str(error)


def sequence(*answers: bytes):
    """A handler giving each answer in turn, then the last one again."""
    count = iter(range(10**6))

    def handle(conn, _head):
        conn.sendall(answers[min(next(count), len(answers) - 1)])

    return handle


def test_429_waits_for_retry_after_then_succeeds():
    handler = sequence(answer("429 Too Many Requests", b"slow down", (("Retry-After", "1"),)),
                       answer("200 OK", b"<p>ok</p>"))
    arrivals: list[float] = []

    def note_arrival(conn, head):
        arrivals.append(time.monotonic())
        handler(conn, head)

    with RawServer(note_arrival) as server:
        response = get(server.url(), replace(SETTINGS, retries=3))
    assert response.body == b"<p>ok</p>" and len(server.requests) == 2
    assert arrivals[1] - arrivals[0] >= 1.0, "Retry-After: 1 is honoured, not the shorter backoff"


@pytest.mark.parametrize("status, transient", [(500, True), (502, True), (503, True), (429, True), (400, False),
                                               (401, False), (403, False), (404, False), (410, False)])
def test_only_429_and_5xx_are_retried(site, status, transient):
    site.add("/x", "no", status=status, headers=(("Retry-After", "0"),))
    error = failure(site.url("/x"), replace(SETTINGS, retries=2))
    assert error.transient is transient and f"HTTP {status}" in str(error)
    assert site.requested("/x") == (3 if transient else 1)


def redirect(site: Site, path: str, target: str) -> None:
    site.add(path, "", status=302, headers=(("Location", target),))


def test_five_redirects_are_followed_and_a_sixth_is_refused(site):
    for hop in range(6):
        redirect(site, f"/r{hop}", f"/r{hop + 1}")
    site.add("/r6", "<p>end</p>")
    assert get(site.url("/r1")).url == site.url("/r6")
    error = failure(site.url("/r0"), replace(SETTINGS, retries=2))
    assert "more than 5 redirects" in str(error) and not error.transient
    assert site.requested("/r6") == 1, "the chain from /r0 stops before its end"


def test_a_redirect_out_of_hosts_is_refused_before_it_is_followed(site):
    redirect(site, "/moved", f"http://localhost:{site.port}/elsewhere")
    site.add("/elsewhere", "<p>elsewhere</p>")
    error = failure(site.url("/moved"), hosts=frozenset({"127.0.0.1"}))
    assert f"redirected to http://localhost:{site.port}/elsewhere, whose host localhost is not in the " \
           "source's hosts" in str(error)
    assert site.requested("/elsewhere") == 0
    assert get(site.url("/moved")).body == b"<p>elsewhere</p>", "without hosts any host is followed"


def test_a_redirect_to_another_scheme_is_refused(site):
    redirect(site, "/file", "file:///etc/passwd")
    error = failure(site.url("/file"))
    assert "which is not an http(s) URL" in str(error) and not error.transient


def get_picture(url: str, image_hosts: frozenset[str] = frozenset(), settings: HttpSettings = SETTINGS) -> Response:
    """Fetch url as the pipeline fetches a picture."""
    async def fetch() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.for_pictures(image_hosts).get(url, max_bytes=5_000_000)

    return asyncio.run(fetch())


def picture_failure(url: str, image_hosts: frozenset[str] = frozenset(), settings: HttpSettings = SETTINGS) -> str:
    with pytest.raises(FetchError) as caught:
        get_picture(url, image_hosts, settings)
    assert not caught.value.transient
    return str(caught.value)


@pytest.mark.parametrize("address, kind", [
    ("169.254.169.254", "link-local"), ("10.0.0.1", "private"), ("192.168.1.1", "private"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"),
    ("[::1]", "loopback"), ("[::ffff:127.0.0.1]", "loopback"), ("[fe80::1]", "link-local"), ("[fd00::1]", "private"),
])
def test_pictures_are_not_fetched_from_addresses_that_are_not_public(address, kind):
    """A picture of a page can point anywhere: at the cloud's metadata service or an admin port of the host."""
    error = picture_failure(f"http://{address}/latest/meta-data/x.png")
    plain = address.strip("[]")
    assert f"{plain} is a {kind} address: pictures are fetched from public addresses only " \
           f"(add {plain} to image_hosts if its pictures are meant to be mirrored)" in error


def test_a_loopback_picture_is_refused_before_connecting_unless_its_host_is_in_image_hosts(site):
    site.add("/p.png", b"\x89PNG\r\n\x1a\npicture", "image/png")
    assert "127.0.0.1 is a loopback address" in picture_failure(site.url("/p.png"))
    assert "localhost is at" in picture_failure(f"http://localhost:{site.port}/p.png"), "checked once resolved"
    assert site.requested("/p.png") == 0
    assert get_picture(site.url("/p.png"), frozenset({"127.0.0.1"})).body.startswith(b"\x89PNG")
    assert get(site.url("/p.png")).status == 200, "feeds and pages may come from any address"


def test_a_redirect_to_a_loopback_host_is_refused_before_it_is_followed(site):
    redirect(site, "/moved.png", f"http://localhost:{site.port}/p.png")
    site.add("/p.png", b"\x89PNG\r\n\x1a\npicture", "image/png")
    error = picture_failure(site.url("/moved.png"), frozenset({"127.0.0.1"}))
    assert f"{site.url('/moved.png')}: localhost is at" in error and "a loopback address" in error
    assert site.requested("/moved.png") == 1 and site.requested("/p.png") == 0


def test_a_picture_host_is_looked_up_once_and_connected_to_at_the_address_checked(site, monkeypatch):
    """What defeats DNS rebinding: the guard resolves, checks and connects to that address, so no second lookup
    (httpx's own, in the socket layer) can answer otherwise. `rebind.test` resolves nowhere but here."""
    lookups = []

    async def resolve_once(host: str, port: int) -> list[str]:
        lookups.append(host)
        assert len(lookups) == 1, "a second lookup could answer with another address"
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses_module, "resolve", resolve_once)
    site.add("/p.png", b"\x89PNG\r\n\x1a\npicture", "image/png")
    url = f"http://rebind.test:{site.port}/p.png"
    assert get_picture(url, frozenset({"rebind.test"})).body.startswith(b"\x89PNG")
    lookups.clear()
    assert "rebind.test is at 127.0.0.1, a loopback address" in picture_failure(url)
    assert lookups == ["rebind.test"] and site.requested("/p.png") == 1


def test_through_a_proxy_a_picture_host_that_resolves_here_to_loopback_is_refused(site):
    site.add("/p.png", b"\x89PNG\r\n\x1a\npicture", "image/png")
    with Socks5Proxy() as proxy:
        settings = replace(SETTINGS, proxy=f"socks5://127.0.0.1:{proxy.port}")
        assert "localhost is at" in picture_failure(f"http://localhost:{site.port}/p.png", settings=settings)
        assert proxy.targets == [], "refused before the proxy is asked"
        assert get_picture(site.url("/p.png"), frozenset({"127.0.0.1"}), settings).body.startswith(b"\x89PNG")
    assert proxy.targets == [("127.0.0.1", site.port)]


def test_conditional_get_sends_validators_and_gets_304(site):
    site.add("/feed.xml", "<rss/>", "application/xml", headers=(("ETag", '"v1"'),))
    first = get(site.url("/feed.xml"))
    assert first.etag == '"v1"' and not first.not_modified
    again = get(site.url("/feed.xml"), etag=first.etag)
    assert again.not_modified and again.body == b""


def test_user_agent_and_an_http_proxy_are_used():
    with RawServer(sequence(answer("200 OK", b"<p>via proxy</p>"))) as proxy:
        response = get("http://site.invalid/page.html", replace(SETTINGS, proxy=proxy.url("")))
    assert response.body == b"<p>via proxy</p>"
    assert proxy.requests[0].startswith("GET http://site.invalid/page.html HTTP/1.1")
    assert "User-Agent: mirrord-tests/1" in proxy.requests[0]


def test_feeds_and_pages_go_through_the_environments_proxy_and_pictures_do_not(site, monkeypatch):
    site.add("/p.png", b"\x89PNG\r\n\x1a\npicture", "image/png")
    with RawServer(sequence(answer("200 OK", b"<p>via proxy</p>"))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        assert get("http://site.invalid/page.html").body == b"<p>via proxy</p>"
        assert get_picture(site.url("/p.png"), frozenset({"127.0.0.1"})).body.startswith(b"\x89PNG")
    assert len(proxy.requests) == 1 and proxy.requests[0].startswith("GET http://site.invalid/page.html HTTP/1.1")
    assert site.requested("/p.png") == 1


def test_a_socks5_proxy_is_used(site):
    site.add("/page.html", "<p>through socks</p>")
    with Socks5Proxy() as proxy:
        response = get(site.url("/page.html"), replace(SETTINGS, proxy=f"socks5://127.0.0.1:{proxy.port}"))
    assert response.body == b"<p>through socks</p>"
    assert proxy.targets == [("127.0.0.1", site.port)]


def test_per_host_and_total_concurrency_are_bounded(site):
    in_flight, peak = [0], [0]

    def slow(conn, _head):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.2)
        in_flight[0] -= 1
        conn.sendall(answer("200 OK", b"ok"))

    async def fetch_many(url: str) -> None:
        async with Fetcher(replace(SETTINGS, per_host=3)) as fetcher:
            await asyncio.gather(*(fetcher.get(f"{url}?n={n}") for n in range(12)))

    with RawServer(slow) as server:
        asyncio.run(fetch_many(server.url()))
    assert len(server.requests) == 12 and peak[0] == 3, "12 requests, never more than 3 at a time"


CHINESE = "习近平会见俄罗斯总理。台湾地区的新闻报道，香港与澳门的经济发展状况良好，人民生活水平不断提高。" * 4
TRADITIONAL = "習近平會見俄羅斯總理。臺灣地區的新聞報道，香港與澳門的經濟發展狀況良好，人民生活水平不斷提高。" * 4
RARE = "𠮷𡈽"  # only in GB18030 (outside GBK), and in UTF-8


@pytest.mark.parametrize("codec, content_type, meta, text", [
    ("gbk", "text/html; charset=gbk", "", CHINESE),
    ("gbk", "text/html", '<meta charset="gb2312">', CHINESE),
    ("gbk", "text/html", "", CHINESE),
    ("gb18030", "text/html; charset=GB2312", "", CHINESE + RARE),
    ("gb18030", "text/html", '<meta http-equiv="Content-Type" content="text/html; charset=gb18030">', CHINESE + RARE),
    ("big5", "text/html; charset=big5", "", TRADITIONAL),
    ("big5", "text/html", '<meta charset="big5">', TRADITIONAL),
    ("big5", "text/html", "", TRADITIONAL),
    ("utf-8", "text/html", "", CHINESE + RARE),
    ("utf-8", "text/html; charset=utf-8", "", CHINESE + RARE),
])
def test_chinese_pages_are_decoded_right(site, codec, content_type, meta, text):
    title = "新聞" if codec == "big5" else "新闻"
    html = f"<html><head>{meta}<title>{title}</title></head><body><p>{text}</p></body></html>"
    site.add("/page.html", html.encode(codec), content_type)
    response = get(site.url("/page.html"))
    decoded = decode_html(response.body, response.content_type)
    assert text in decoded and f"<title>{title}</title>" in decoded


def test_a_cookie_a_site_sets_is_sent_back_and_an_answer_without_one_keeps_it():
    """The client keeps the cookies a site sets, as httpx does; answers that set none (most) leave the jar as
    it was, without httpx's look at them."""
    def cookie_once(conn, head):
        first = "/set" in head.split("\r\n", 1)[0]
        conn.sendall(answer("200 OK", b"ok", (("Set-Cookie", "consent=yes; Path=/"),) if first else ()))

    async def three(url: str) -> None:
        async with Fetcher(SETTINGS) as fetcher:
            for path in ("/set", "/plain", "/again"):
                await fetcher.get(url + path)

    with RawServer(cookie_once) as server:
        asyncio.run(three(server.url("")))
    cookies = ["cookie: consent=yes" in head.lower() for head in server.requests]
    assert cookies == [False, True, True]
