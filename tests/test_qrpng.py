"""QR codes as readers get them: each PNG read by a PNG decoder of its own (Pillow) and scanned by a real QR
reader (zxing-cpp's), and an upgraded mirror whose published codes stay as they were."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import zxingcpp
from PIL import Image

from mirrord.qrpng import BORDER, SCALE, png_of, qr_png

from httpsite import Site
from mirror_run import PUBLIC_URL, bare_repository, git, mirrord
from releases import release

MAIN_RELEASE = "9a5543b"  # the last commit whose QR codes segno wrote
URLS = [
    f"{PUBLIC_URL}/pages/news/a1.md",
    "https://github.com/someone/a-mirror-of-the-evening-news/blob/main/pages/world-and-regions/"
    "2026-11-27-the-council-said-on-monday-that-its-plan-for-the-river-would-cost-more.md",
    "https://git.example/news/blob/main/pages/%E4%B8%AD%E6%96%87/%E6%96%B0%E9%97%BB-1.md",
    "https://git.example/新闻/blob/main/pages/中文/新闻-1.md",
    "https://codeberg.org/m/n/src/branch/main/pages/x/y.md?plain=1#L1",
]


def scanned(png: bytes) -> str | None:
    """Return what a QR reader finds in a PNG, decoded by Pillow; None when it finds no code."""
    image = Image.open(io.BytesIO(png))
    image.load()
    found = zxingcpp.read_barcode(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return found.text if found else None


@pytest.mark.parametrize("url", URLS)
def test_a_code_scans_to_its_url(url):
    assert scanned(qr_png(url)) == url


def test_a_code_is_a_one_bit_greyscale_png_of_three_pixels_a_module_within_two_white_modules():
    image = Image.open(io.BytesIO(qr_png(URLS[0])))
    assert image.format == "PNG" and image.mode == "1"
    modules = image.width // SCALE - 2 * BORDER
    assert image.width == image.height and image.width % SCALE == 0 and (modules - 17) % 4 == 0, "a QR version"
    pixels = image.convert("L")
    edge = BORDER * SCALE
    assert all(pixels.getpixel((x, y)) == 255 for x in range(image.width) for y in range(edge)), "white border"
    assert pixels.getpixel((edge, edge)) == 0, "the finder pattern's corner is dark"


def test_the_png_writer_draws_the_modules_it_is_given():
    rows = [bytes([0, 255, 255]), bytes([255, 0, 255]), bytes([255, 255, 0])]  # a diagonal of dark modules
    image = Image.open(io.BytesIO(png_of(rows))).convert("L")
    assert image.size == ((3 + 2 * BORDER) * SCALE,) * 2
    for row in range(3):
        for column in range(3):
            x, y = ((BORDER + column) * SCALE + 1, (BORDER + row) * SCALE + 1)
            assert image.getpixel((x, y)) == (0 if row == column else 255)


# The upgrade from main, whose codes segno wrote.

def serve_feed(site: Site, paths: list[str]) -> None:
    items = "".join(f"<item><title>Story {path}</title><link>{site.url(path)}</link><description>{path}: a story "
                    "long enough to be published.</description></item>" for path in paths)
    site.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
             "application/rss+xml")


def test_codes_published_before_the_upgrade_stay_and_a_cycle_with_nothing_new_changes_nothing(tmp_path, site):
    old = release(MAIN_RELEASE, "main before QR codes by zxing-cpp", tmp_path / "main")
    remote = bare_repository(tmp_path / "remote.git")
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\npublic_url = "{PUBLIC_URL}"\n\n[source.site]\n\n'
                      f'[source.site.channel.feed]\nurl = "{site.url("/feed.xml")}"\n', encoding="utf-8")
    serve_feed(site, ["/s/one.html"])
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(old)})
    assert done.returncode == 0, done.stderr
    before = git(remote, "rev-parse", "main:pages/feed/one.md.png")

    serve_feed(site, ["/s/two.html", "/s/one.html"])
    assert mirrord(config, "once").code == 0
    assert git(remote, "rev-parse", "main:pages/feed/one.md.png") == before, "a published code is never rewritten"
    new = subprocess.run(["git", "-C", str(remote), "show", "main:pages/feed/two.md.png"], capture_output=True,
                         check=True).stdout
    assert scanned(new) == f"{PUBLIC_URL}/pages/feed/two.md"

    head = git(remote, "rev-parse", "main")
    assert mirrord(config, "once").code == 0
    assert git(remote, "rev-parse", "main") == head, "a cycle with nothing new commits nothing"
