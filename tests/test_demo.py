"""`mirrord demo` as a newcomer runs it, and the README that tells them how."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mirrord.cli import build_parser

from mirror_run import clone, metadata

ROOT = Path(__file__).resolve().parents[1]


def demo(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mirrord", "demo", "--dir", str(directory)], capture_output=True,
                          text=True, timeout=120)


def test_demo_mirrors_the_bundled_site_into_a_bare_repository(tmp_path):
    run = demo(tmp_path / "demo")
    assert run.returncode == 0, run.stderr
    bare = tmp_path / "demo" / "mirror.git"
    assert f"git clone {bare}" in run.stdout
    assert "Published 11 pages." in run.stdout
    repo = clone(bare, tmp_path / "reader")
    assert (repo / "README.md").read_text(encoding="utf-8").startswith("# Lakeside Gazette mirror")
    assert sorted(p.name for p in (repo / "indexes").iterdir()) == ["culture.md", "news.md"]
    pages = sorted((repo / "pages").rglob("*.md"))
    assert len(pages) == 11
    assert {metadata(page)["source"] for page in pages} == {"gazette", "culture"}
    lantern = (repo / "pages" / "culture" / "lantern-workshop.md").read_text(encoding="utf-8")
    assert "灯笼工作坊" in lantern and "Related" not in lantern and "<script" not in lantern
    picture = next((repo / "pages" / "culture" / "lantern-workshop.files").glob("*.png"))
    assert f'src="lantern-workshop.files/{picture.name}"' in lantern, "pictures are stored beside their page"
    assert picture.read_bytes().startswith(b"\x89PNG")
    share = "https://git.example/you/lakeside-gazette-mirror/blob/main/pages/culture/lantern-workshop.md"
    assert f"Share this page: {share}\n" in lantern, "the demo shows the share link"
    assert f'<a href="{share}"><img src="lantern-workshop.md.png"' in lantern, "and the QR code"
    assert (repo / "pages" / "culture" / "lantern-workshop.md.png").read_bytes().startswith(b"\x89PNG")

    again = demo(tmp_path / "demo")
    assert again.returncode == 0 and "Published 0 pages" in again.stdout


def test_readme_names_every_command_and_option():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    options = [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]
    for name, sub in commands.items():
        assert f"mirrord {name}" in readme or f"`{name}`" in readme, name
        options += [o for a in sub._actions for o in a.option_strings if o not in ("-h", "--help")]
    assert [o for o in options if o not in readme] == []
