"""A cold mirror of 6 listing channels x 50 articles of ~93 KB, served on 127.0.0.1 with 0 and 50 ms added to
each answer, `[http] concurrency = per_host = 16`: mirrord `once` against a seed-style pipeline (sequential
requests + BeautifulSoup html.parser, prettify, one `git add -A && git commit && git push`) in the same run.

Each article page is realistic noise (60 inline scripts, a 120-link nav, two 60-item related lists, a style block)
around `div.featured_image` and `div.post_content`. Printed, medians of REPEATS runs: walls, CPU (user + sys of the
process and of every process it started, its extraction workers and git), CPU per article (the cold cycle's CPU less
that of a cycle with nothing new, all 304, over the articles; less also an extraction worker's start-up (its
interpreter, imports and page template, which a run pays once, not per article); and without the QR code's share,
which the issue measures apart; and what one article more costs, the slope from a cold cycle of half the articles,
the fixed costs of a cycle that fetches set apart), the start-up of `--version`, `check` and `status`, the cost of
one QR code, the latency bound (requests x latency / requests in flight) and the ratios; with mirrord's HTTP client
alone (its Fetcher fetching the same pages, in a process of its own, its imports left out) and a plain-socket client
as the floor of HTTP alone (bench/http_client.py compares the two closer).

Run: python bench/cold.py [--repeats N] [--rev COMMIT] [--against COMMIT]  (--rev: mirrord's code at that commit,
e.g. 9a5543b, for the figures before a change; --against: that commit's code too, run round by round with the
other, for a comparison both sides of which saw the machine alike; needs `pip install -e '.[bench]'`)
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
CHANNELS, ARTICLES, IN_FLIGHT = 6, 50, 16
LATENCIES = (0.0, 0.05)
WORDS = ["the", "council", "said", "on", "monday", "that", "its", "plan", "for", "river", "would", "cost", "more",
         "than", "expected", "and", "take", "longer", "to", "build", "while", "residents", "asked", "why", "nobody"]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def noise_scripts(rng: random.Random) -> str:
    """60 inline scripts, as trackers, ads and widgets leave them."""
    return "".join(f'<script type="text/javascript">window.dataLayer=window.dataLayer||[];(function(w,d,i){{'
                   f'var s=d.createElement("script");s.async=true;s.src="https://cdn{n}.example/t.js?id="+i;'
                   f'w.cfg{n}={{"slot":"{rng.getrandbits(64):x}","sizes":[[300,250],[728,90]],"kv":"'
                   f'{"x" * rng.randint(580, 760)}"}};d.head.appendChild(s);}})(window,document,"{n}");</script>\n'
                   for n in range(60))


def nav() -> str:
    links = "".join(f'<li class="menu-item"><a href="/category/section-{n}/">Section {n}</a></li>' for n in range(120))
    return f'<nav class="main-nav"><ul>{links}</ul></nav>'


def related(rng: random.Random, channel: int, title: str) -> str:
    items = "".join(f'<li><a href="/c{channel}/a{rng.randrange(ARTICLES)}.html"><img src="/thumb/{n}.jpg" alt="">'
                    f'<span>{sentence(rng, 8)}</span></a></li>' for n in range(60))
    return f'<aside class="related"><h3>{title}</h3><ul>{items}</ul></aside>'


def article_page(channel: int, number: int) -> bytes:
    """An article page of about 93 KB whose text is in div.post_content."""
    rng = random.Random(channel * 1000 + number)
    title = f"Story {number} of channel {channel}: {sentence(rng, 6)}"
    paragraphs = "".join(f"<p>{sentence(rng, 60)} <a href=\"/c{channel}/a{rng.randrange(ARTICLES)}.html\">more"
                         f"</a> <strong>{sentence(rng, 5)}</strong></p>" for _ in range(14))
    rules = "".join(f".c{n}{{margin:{n}px;padding:{n % 7}px;color:#{n:06x}}}" for n in range(120))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{rules}</style>'
            f'{noise_scripts(rng)}</head><body>{nav()}<main><h1>{title}</h1>'
            f'<div class="featured_image"><img src="/img/{channel}-{number}.jpg" alt="picture">'
            f'<p class="caption">{sentence(rng, 10)}</p></div>'
            f'<div class="post_content">{paragraphs}<img data-src="/img/{channel}-{number}-2.jpg" src="data:,">'
            f'</div>{related(rng, channel, "Related")}{related(rng, channel, "Most read")}</main></body></html>')
    return page.encode("utf-8")


def listing_page(channel: int) -> bytes:
    links = "".join(f'<li><a href="/c{channel}/a{n}.html">Story {n}</a></li>' for n in range(ARTICLES))
    return f'<html><body>{nav()}<ul class="articles">{links}</ul></body></html>'.encode()


def site_paths() -> list[str]:
    return [path for channel in range(CHANNELS)
            for path in [f"/c{channel}/"] + [f"/c{channel}/a{number}.html" for number in range(ARTICLES)]]


def build_site() -> dict[str, bytes]:
    return {path: listing_page(int(path[2:-1])) if path.endswith("/") else
            article_page(*map(int, path[2:-5].split("/a"))) for path in site_paths()}


def serve(site: dict[str, bytes], latency: float) -> ThreadingHTTPServer:
    """Serve the site over HTTP/1.1 keep-alive, each answer `latency` seconds late, with ETags (304 when matched)."""
    modified = formatdate(time.time() - 3600, usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer waits for a delayed ACK

        def do_GET(self) -> None:
            time.sleep(latency)
            body = site.get(self.path.split("?")[0])
            etag = f'"{hashlib.md5(body).hexdigest()}"' if body else ""
            status = 404 if body is None else 304 if self.headers.get("If-None-Match") == etag else 200
            payload = body if status == 200 else b""
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if etag:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 4 * IN_FLIGHT  # the default 5 drops connections opened at once: a 1 s wait each

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, port: int, max_new: int | None = None) -> Path:
    """Write the mirror's config; with max_new, each channel's newest max_new articles only."""
    remote = folder / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    channels = "".join(f'[source.site.channel.c{n}]\nurl = "http://127.0.0.1:{port}/c{n}/"\nitems = "ul.articles a"\n\n'
                       for n in range(CHANNELS))
    config = folder / "mirrord.toml"
    config.write_text(f'state_dir = "{folder / "state"}"\n\n[http]\nconcurrency = {IN_FLIGHT}\nper_host = {IN_FLIGHT}\n'
                      f'retries = 0\n\n[mirror.news]\nremotes = ["{remote}"]\n'
                      f'public_url = "https://git.example/me/news/blob/main"\n'
                      # the seed-style baseline's work: links and pictures left pointing at the site
                      f'links = "keep"\nimages = "hotlink"\n\n'
                      f'[source.site]\nhosts = ["127.0.0.1"]\ncontent = "div.post_content"\n'
                      f'lead = "div.featured_image"\n{f"max_new = {max_new}" if max_new else ""}\n\n{channels}',
                      encoding="utf-8")
    return config


def run_measured(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Return the wall and CPU seconds of a command (user + sys of it and of every process it started, those it
    left behind included: this process is their subreaper, see main) and its output's first line; raise when it
    fails."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        process.wait()
        wall = time.perf_counter() - started
        reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {err.read().decode()[-2000:]}")
        first = (out.read().decode().splitlines() or [""])[0]
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, first


def size_kib(folder: Path) -> float:
    """Return the KiB the files under folder take (a remote's objects: what a cycle's push made it store)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1024


def become_subreaper() -> None:
    """Make this process the parent of any process a measured command leaves behind when it exits (Linux's
    PR_SET_CHILD_SUBREAPER), so that their CPU is counted too: mirrord up to 4e77c39 did not wait for its
    extraction workers, whose CPU was then missing from these figures."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


def reap_orphans() -> None:
    """Wait for every process left to this one (a measured command's leftovers), counting their CPU."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def seed_baseline(folder: Path, base: str) -> None:
    """The seed-style pipeline, in a process of its own: each listing then each article fetched in turn with
    requests, the body cut out with BeautifulSoup(html.parser) and prettified into a file, then one
    `git add -A && git commit && git push`."""
    import requests
    from bs4 import BeautifulSoup

    clone = folder / "seed"
    subprocess.run(["git", "clone", "-q", str(folder / "remote.git"), str(clone)], check=True, capture_output=True)
    for channel in range(CHANNELS):
        listing = BeautifulSoup(requests.get(f"{base}/c{channel}/", timeout=30).text, "html.parser")
        (clone / f"c{channel}").mkdir(exist_ok=True)
        for link in listing.select("ul.articles a"):
            page = BeautifulSoup(requests.get(base + link["href"], timeout=30).text, "html.parser")
            title = page.title.get_text(strip=True) if page.title else ""
            blocks = [block.prettify() for block in page.select("div.featured_image, div.post_content")]
            name = link["href"].rsplit("/", 1)[1].replace(".html", ".md")
            (clone / f"c{channel}" / name).write_text(f"### {title}\n\n" + "\n".join(blocks), encoding="utf-8")
    for command in (["add", "-A"], ["-c", "user.name=seed", "-c", "user.email=seed@localhost", "commit", "-q", "-m",
                                    "sync"], ["push", "-q", "origin", "HEAD:main"]):
        subprocess.run(["git", *command], cwd=clone, check=True, capture_output=True)


async def socket_floor(port: int, paths: list[str]) -> None:
    """Fetch paths over IN_FLIGHT keep-alive connections with asyncio streams: the floor of HTTP alone."""
    queue = list(reversed(paths))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            writer.write(f"GET {queue.pop()} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(connection() for _ in range(IN_FLIGHT)))


FETCHER_TIMING = """
import asyncio, sys, time
from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings

settings = HttpSettings(user_agent="mirrord-bench", timeout=30, concurrency={in_flight}, per_host={in_flight},
                        retries=0, max_bytes=10_000_000, proxy=None)

async def fetch_all(base, paths):
    async with Fetcher(settings) as fetcher:
        answers = await asyncio.gather(*(fetcher.get(base + path) for path in paths))
    assert all(answer.status == 200 for answer in answers)

started, cpu = time.perf_counter(), time.process_time()
asyncio.run(fetch_all(sys.argv[1], sys.argv[2:]))
print(time.process_time() - cpu, time.perf_counter() - started)
""".replace("{in_flight}", str(IN_FLIGHT))


def fetcher_alone(port: int, env: dict[str, str]) -> tuple[float, float]:
    """Return the CPU and wall seconds mirrord's Fetcher takes to fetch the site, imports left out."""
    _, _, printed = run_measured([sys.executable, "-c", FETCHER_TIMING, f"http://127.0.0.1:{port}", *site_paths()], env)
    cpu, wall = map(float, printed.split())
    return cpu, wall


# What an extraction worker loads before its first article (`python -c` of `budget.Worker`): part of a run's
# start-up, like the imports a cycle with nothing new makes, not of any article.
WORKER_START = """
import importlib
from mirrord.budget import serve
for name in ("mirrord.extract", "mirrord.render", "zxingcpp", "segno"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
try:
    from mirrord.templating import environment
    environment(None).get_template("page.md.j2")
except ImportError:
    pass
"""


QR_TIMING = """
import sys, time
from mirrord.render import qr_png
urls = [f"https://git.example/me/news/blob/main/pages/c{n % 6}/a{n}.md" for n in range(300)]
started = time.process_time()
for url in urls:
    qr_png(url)
print((time.process_time() - started) / len(urls) * 1000)
"""


def code_of(rev: str | None, into: Path) -> dict[str, str]:
    """Return the environment that runs mirrord's code at rev (this tree's when None), its bytecode compiled
    first, as an installed release has it: with PYTHONDONTWRITEBYTECODE (set in some shells and CI) every
    run would compile each of mirrord's modules from source again, and the start-up measured would be
    mostly the compiler's."""
    env = {**os.environ, "MIRRORD_LOCK_WAIT": "5"}
    env.pop("MIRRORD_CONFIG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = REPOSITORY / "daemon"
    if rev is not None:
        archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", rev, "daemon"], capture_output=True,
                                 check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(into, filter="data")
        code = into / "daemon"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code)], check=True)
    env["PYTHONPATH"] = str(code)
    return env


def one_round(site: dict[str, bytes], latency: float, env: dict[str, str], tmp: Path) -> dict[str, float]:
    """One run of everything at one latency, each in a fresh folder; return the figures by name."""
    server = serve(site, latency)
    port = server.server_address[1]
    mirrord = [sys.executable, "-m", "mirrord"]
    figures: dict[str, float] = {}
    try:
        folder = Path(tempfile.mkdtemp(dir=tmp))
        config = write_config(folder, port)
        figures["wall"], figures["cpu"], _ = run_measured(mirrord + ["-c", str(config), "once"], env)
        figures["remote kib"] = size_kib(folder / "remote.git" / "objects")
        figures["warm wall"], figures["warm cpu"], _ = run_measured(mirrord + ["-c", str(config), "once"], env)
        _, figures["worker start cpu"], _ = run_measured([sys.executable, "-c", WORKER_START], env)
        half = write_config(Path(tempfile.mkdtemp(dir=tmp)), port, max_new=ARTICLES // 2)
        _, figures["half cpu"], _ = run_measured(mirrord + ["-c", str(half), "once"], env)
        for command in ("check", "status"):
            figures[f"{command} wall"], _, _ = run_measured(mirrord + ["-c", str(config), command], env)
        figures["--version wall"], _, _ = run_measured(mirrord + ["--version"], env)
        baseline = Path(tempfile.mkdtemp(dir=tmp))
        write_config(baseline, port)
        figures["seed wall"], figures["seed cpu"], _ = run_measured(
            [sys.executable, __file__, "--seed", str(baseline), f"http://127.0.0.1:{port}"], env)
        figures["sockets wall"], figures["sockets cpu"], _ = run_measured(
            [sys.executable, __file__, "--sockets", str(port)], env)
        figures["client cpu"], figures["client wall"] = fetcher_alone(port, env)
    finally:
        server.shutdown()
        server.server_close()
    return figures


def report(latency: float, rounds: list[dict[str, float]], qr_ms: float) -> None:
    med = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    articles = CHANNELS * ARTICLES
    requests = articles + CHANNELS
    bound = requests * latency / IN_FLIGHT
    per_article = (med["cpu"] - med["warm cpu"]) / articles * 1000
    apart = per_article - qr_ms
    started = med["warm cpu"] + med["worker start cpu"]
    beyond_start = (med["cpu"] - started) / articles * 1000
    marginal = (med["cpu"] - med["half cpu"]) / (articles - CHANNELS * (ARTICLES // 2)) * 1000
    print(f"\nadded latency {latency * 1000:.0f} ms, medians of {len(rounds)} runs, {articles} articles, "
          f"{requests} requests")
    print(f"  mirrord once, cold:        {med['wall']:6.2f} s wall  {med['cpu']:6.2f} s CPU  "
          f"({per_article:.2f} ms CPU per article beyond a cycle with nothing new, {apart:.2f} ms QR codes apart)")
    print(f"  beyond start-up:           {beyond_start:6.2f} ms CPU per article, {beyond_start - qr_ms:.2f} ms QR "
          f"codes apart (start-up: the cycle with nothing new and an extraction worker's start, "
          f"{med['worker start cpu'] * 1000:.0f} ms)")
    print(f"  one article more:          {marginal:6.2f} ms CPU (the slope from a cold cycle of half the articles: "
          f"what a cycle's fixed costs leave per article)")
    print(f"  the remote after it:       {med['remote kib']:6.0f} KiB of objects")
    print(f"  mirrord once, nothing new: {med['warm wall'] * 1000:6.0f} ms wall  {med['warm cpu'] * 1000:4.0f} ms CPU")
    print(f"  start-up: --version {med['--version wall'] * 1000:.0f} ms, check {med['check wall'] * 1000:.0f} ms, "
          f"status {med['status wall'] * 1000:.0f} ms wall; QR code {qr_ms:.2f} ms CPU each")
    print(f"  seed-style baseline:       {med['seed wall']:6.2f} s wall  {med['seed cpu']:6.2f} s CPU")
    print(f"  mirrord's HTTP client alone: {med['client wall']:4.2f} s wall  {med['client cpu']:6.2f} s CPU  "
          f"({med['client cpu'] / requests * 1000:.2f} ms CPU per request, its imports left out)")
    print(f"  plain sockets (HTTP only): {med['sockets wall']:6.2f} s wall  {med['sockets cpu']:6.2f} s CPU")
    if latency:
        print(f"  latency bound: {requests} x {latency * 1000:.0f} ms / {IN_FLIGHT} = {bound:.2f} s; mirrord is "
              f"{med['wall'] / bound:.1f}x the bound")
    print(f"  ratio: the baseline takes {med['seed wall'] / med['wall']:.1f}x mirrord's wall, "
          f"{med['seed cpu'] / med['cpu']:.1f}x its CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rev", help="run mirrord's code at this commit (figures before a change)")
    parser.add_argument("--against", metavar="COMMIT", help="also run mirrord at this commit, round by round with the "
                        "other (the fair comparison on a busy machine)")
    parser.add_argument("--latency", type=float, action="append", help="seconds added to each answer [0, 0.05]")
    parser.add_argument("--seed", nargs=2, metavar=("FOLDER", "BASE"), help=argparse.SUPPRESS)
    parser.add_argument("--sockets", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        return seed_baseline(Path(args.seed[0]), args.seed[1])
    if args.sockets:
        return asyncio.run(socket_floor(args.sockets, site_paths()))
    become_subreaper()
    site = build_site()
    sizes = [len(body) for path, body in site.items() if path.endswith(".html")]
    revs = [args.rev] + ([args.against] if args.against else [])
    print(f"mirrord at {' and at '.join(rev or 'this tree' for rev in revs)}; {CHANNELS} channels x {ARTICLES} "
          f"articles of {statistics.mean(sizes) / 1000:.0f} KB on average; concurrency = per_host = {IN_FLIGHT}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        envs = {rev or "this tree": code_of(rev, tmp / f"code-{n}") for n, rev in enumerate(revs)}
        qr_ms = {name: float(subprocess.run([sys.executable, "-c", QR_TIMING], env=env, capture_output=True,
                                            text=True, check=True).stdout) for name, env in envs.items()}
        for latency in args.latency or LATENCIES:
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in envs}
            for _ in range(args.repeats):  # round by round, so that both codes see the machine in the same state
                for name, env in envs.items():
                    rounds[name].append(one_round(site, latency, env, tmp))
            for name in envs:
                print(f"\nmirrord at {name}:" if len(envs) > 1 else "", end="")
                report(latency, rounds[name], qr_ms[name])
            print("  load average (1, 5, 15 min) after these runs: {:.1f} {:.1f} {:.1f} on {} cores: walls above "
                  "the cores stretch".format(*os.getloadavg(), os.cpu_count()))

if __name__ == "__main__":
    main()
