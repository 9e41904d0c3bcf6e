"""Hostile remotes: symbolic links pushed by someone else into the mirror's branch never make mirrord write,
or delete, outside its working clone, whether a fresh clone adopts them or a cycle brings them in."""

from __future__ import annotations

import json
from pathlib import Path

from httpsite import Site
from mirror_run import bare_repository, clone, git, mirrord

TEXT = "Readable text of an article that is long enough to be published by the mirror."
SECRET = "outside the clone: never to be written\n"


def serve_articles(site: Site, channel: str, slugs: list[str]) -> str:
    for slug in slugs:
        site.add(f"/{channel}/{slug}.html", f'<html><body><div class="body"><p>{slug}: {TEXT}</p></div></body></html>')
    links = "".join(f'<li><a href="/{channel}/{slug}.html">Story {slug}</a></li>' for slug in slugs)
    return site.add(f"/{channel}/", f'<html><body><ul class="news">{links}</ul></body></html>')


def write_config(tmp_path: Path, site: Site, remote: Path) -> Path:
    config = tmp_path / "mirrord.toml"
    channels = "".join(f'[source.site.channel.{name}]\nurl = "{site.url(f"/{name}/")}"\nitems = "ul.news a"\n'
                       for name in ("coop", "later"))
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[http]\nretries = 0\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\n[source.site]\ncontent = "div.body"\n{channels}', encoding="utf-8")
    return config


def outside(tmp_path: Path) -> Path:
    """A file and an empty folder beside the state, where a link will point."""
    folder = tmp_path / "outside"
    (folder / "folder").mkdir(parents=True)
    (folder / "secret.txt").write_text(SECRET)
    (folder / "readme.txt").write_text(SECRET)
    return folder


def push_links(bare: Path, work: Path, links: dict[str, Path], message: str = "links") -> None:
    """Push a commit adding symbolic links (path in the repository -> target), as someone with push access."""
    if not work.exists():
        clone(bare, work)
    for path, target in links.items():
        link = work / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_dir():
            git(work, "rm", "-rq", path)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        git(work, "add", path)
    git(work, "-c", "user.name=Someone", "-c", "user.email=someone@example.test", "commit", "-qm", message)
    git(work, "push", "-q", "origin", "HEAD:main")


def assert_outside_untouched(folder: Path) -> None:
    assert (folder / "secret.txt").read_text() == SECRET
    assert (folder / "readme.txt").read_text() == SECRET
    assert sorted(p.name for p in folder.rglob("*")) == ["folder", "readme.txt", "secret.txt"]


def tree_modes(bare: Path) -> dict[str, str]:
    return {line.split("\t")[1]: line.split()[0] for line in git(bare, "ls-tree", "-r", "main").splitlines()}


def unsafe_events(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "state" / "status.log").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["event"] == "clone.unsafe_file"]


def test_a_fresh_clone_adopting_links_writes_through_none_of_them(tmp_path, site):
    target = outside(tmp_path)
    bare = bare_repository(tmp_path / "remote.git")
    push_links(bare, tmp_path / "someone", {"README.md": target / "readme.txt",
                                            "pages/coop/c9.md": target / "secret.txt",
                                            "pages/later": target / "folder",
                                            "indexes/coop.md": target / "secret.txt"})
    serve_articles(site, "coop", ["c9"])
    serve_articles(site, "later", ["l1"])
    run = mirrord(write_config(tmp_path, site, bare), "once")
    assert run.code == 0, run.stdout + run.stderr
    assert "+ pages/coop/c9.md" in run.stdout and "+ pages/later/l1.md" in run.stdout
    assert_outside_untouched(target)
    modes = tree_modes(bare)
    for path in ("README.md", "pages/coop/c9.md", "pages/later/l1.md", "indexes/coop.md"):
        assert modes[path] == "100644", f"{path} is a regular file in the mirror now"
    reader = clone(bare, tmp_path / "reader")
    assert TEXT in (reader / "pages" / "coop" / "c9.md").read_text()
    assert (reader / "README.md").read_text().startswith("# news")
    assert {e["path"] for e in unsafe_events(tmp_path)} >= {"README.md", "pages/coop/c9.md", "pages/later"}


def test_links_a_cycle_brings_in_are_never_written_through_later(tmp_path, site):
    target = outside(tmp_path)
    bare = bare_repository(tmp_path / "remote.git")
    serve_articles(site, "coop", ["c1"])
    serve_articles(site, "later", ["l1"])
    config = write_config(tmp_path, site, bare)
    assert mirrord(config, "once").code == 0
    push_links(bare, tmp_path / "someone", {"pages/later": target / "folder", "pages/coop/c9.md": target / "secret.txt",
                                            "pages/coop/c2.md": target / "secret.txt"})
    serve_articles(site, "coop", ["c2", "c1"])
    run = mirrord(config, "once")  # its push is refused, so it brings the links in, then pushes
    assert run.code == 0, run.stdout + run.stderr
    serve_articles(site, "coop", ["c9", "c2", "c1"])
    serve_articles(site, "later", ["l2", "l1"])
    run = mirrord(config, "once")
    assert run.code == 0, run.stdout + run.stderr
    assert "+ pages/coop/c9.md" in run.stdout and "+ pages/later/l2.md" in run.stdout
    assert_outside_untouched(target)
    clone_root = tmp_path / "state" / "repos" / "news"
    assert [p for p in clone_root.rglob("*") if p.is_symlink()] == [], "no link in the working clone"
    modes = tree_modes(bare)
    assert modes["pages/coop/c9.md"] == modes["pages/later/l2.md"] == "100644"
    assert any(e["path"] == "pages/later" for e in unsafe_events(tmp_path))
