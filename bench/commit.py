"""Seconds to commit 50 new pages into mirrors already holding 1k, 10k and 100k pages.

mirrord stages only the paths a cycle changed, so the cost should barely grow with the mirror.
Compared in the same run with a plain `git add <those paths> && git commit` on the same repository.
Prints medians of REPEATS rounds, the ratio 100k/1k (target ≤ 1.5) and mirrord/plain (target ≤ 1.5).
Run: python bench/commit.py [REPEATS] [SIZES...]   e.g. python bench/commit.py 5 1000 10000 100000
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mirrord.model import Mirror, PageFile
from mirrord.publish import Workspace

BATCH = 50
PAGE = "### Title {n}\n------------------------\n\n<div>\n<p>Body of page {n}, with some text.</p>\n</div>\n"
MIRROR = Mirror(name="bench", title="bench", remotes=(), branch="main", public_url=None, keep=0, links="keep",
                images="hotlink", body="html", qr=False, header=None, footer=None, readme_header=None, templates=None,
                commit_message="sync", author="mirrord <mirrord@localhost>", ssh_key=None, token_env=None,
                squash_after=0)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-C", str(repo), *args], input=stdin, check=True, capture_output=True)


def build_mirror(root: Path, pages: int) -> None:
    """Create a repository whose one commit holds `pages` pages, through git fast-import (fast)."""
    git(root, "init", "-q", "-b", "main")
    stream = ["commit refs/heads/main", "committer bench <bench@localhost> 0 +0000", "data 5", "seed"]
    for n in range(pages):
        data = PAGE.format(n=n).encode()
        stream += [f"M 644 inline pages/ch{n % 10}/p{n}.md", f"data {len(data)}", data.decode()]
    git(root, "fast-import", "--quiet", stdin=("\n".join(stream) + "\n").encode())
    git(root, "checkout", "-q", "-f", "main")


def batch(round_: int, tag: str) -> list[PageFile]:
    return [PageFile(f"pages/new/{tag}{round_}-{n}.md", PAGE.format(n=n).encode()) for n in range(BATCH)]


def mirrord_commit(state_dir: Path, files: list[PageFile]) -> float:
    """Open the clone as a cycle does, write the pages, commit them; return the seconds taken."""
    started = time.perf_counter()
    workspace = Workspace.open(state_dir, MIRROR)
    workspace.write(files, [])
    workspace.commit(files, [], "sync")
    workspace.close()
    return time.perf_counter() - started


def plain_commit(root: Path, files: list[PageFile]) -> float:
    started = time.perf_counter()
    for file in files:
        (root / file.path).parent.mkdir(parents=True, exist_ok=True)
        (root / file.path).write_bytes(file.data)
    git(root, "add", "--", *[f.path for f in files])
    git(root, "commit", "-q", "-m", "sync")
    return time.perf_counter() - started


def measure(pages: int, repeats: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        root = state_dir / "repos" / MIRROR.name
        root.mkdir(parents=True)
        build_mirror(root, pages)
        git(root, "-c", "user.name=b", "-c", "user.email=b@b", "status", "-s")  # warm the index, as a live clone is
        ours, theirs = [], []
        for round_ in range(repeats):
            ours.append(mirrord_commit(state_dir, batch(round_, "m")))
            theirs.append(plain_commit(root, batch(round_, "p")))
        return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sizes = [int(s) for s in sys.argv[2:]] or [1_000, 10_000, 100_000]
    results = {}
    for pages in sizes:
        results[pages] = measure(pages, repeats)
        ours, theirs = results[pages]
        print(f"{pages:>7} pages: mirrord {ours:.3f} s, plain git add+commit {theirs:.3f} s, "
              f"ratio {ours / theirs:.2f} (median of {repeats})")
    if len(sizes) > 1:
        print(f"ratio {sizes[-1]}/{sizes[0]}: {results[sizes[-1]][0] / results[sizes[0]][0]:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
