"""Golden files: real pages in, the exact mirror readers get out, so what readers get changes only by a
reviewed diff.

Each folder of tests/golden/ is one case (tests/golden/README.md lists them and where their inputs
come from):

    <case>/mirrord.toml   the config of one mirror, without state_dir and [http]
    <case>/site/          the site, served as http://golden.invalid/ (site/gb/x.html is .../gb/x.html)
    <case>/expected/      every file of the mirror after one `mirrord once`, as a clone shows it

The test serves site/ from a real HTTP server on 127.0.0.1 that mirrord reaches as its HTTP proxy
(`[http] proxy`), so the case's URLs name the fixed host golden.invalid and no port or address of the
test machine can get into a page: the files are compared byte for byte. Only the times the clock gives
differ from run to run (a page's "fetched" time, the README's last change); every RFC 3339 time
(2026-11-27T10:00:00+00:00) or README time (2026-11-27 10:00 UTC) that falls within the run is
replaced by RUN_TIME in what the run produced. Times outside the run (dates in articles and feeds)
are left alone.

Regenerate the expected files after a change that is meant to change what readers get, then review
the diff with git:

    MIRRORD_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py

Without the flag a mismatch fails with the missing and unexpected files and a unified diff of the
first file that differs.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from httpsite import Site
from mirror_run import clone, mirrord

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
CASES = sorted(folder.name for folder in GOLDEN.iterdir() if (folder / "mirrord.toml").is_file())
REGENERATE = os.environ.get("MIRRORD_REGEN_GOLDEN") == "1"
RUN_TIME = "<RUN-TIME>"
RUN_DATE = "<RUN-DATE>"
# The day a page was published on, as index and README lines show it after its link.
LINE_DATE = re.compile(r"(?<=\) · )\d{4}-\d{2}-\d{2}$", re.MULTILINE)
# An RFC 3339 time (with seconds), or a time to the minute followed by " UTC" as the README shows it.
# The README's words for UTC in each lang: " UTC", "（协调世界时）", "（協調世界時）".
README_UTC = (" UTC", "（协调世界时）", "（協調世界時）")
CLOCK_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"
                        r"|\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?:" + "|".join(README_UTC) + ")")
# Rule keys a case's source must share with the recipe of config.example.toml that has its name;
# hosts differ by design (the cases are served as golden.invalid).
RECIPE_KEYS = ("content", "lead", "remove", "id", "exclude", "min_text")


@pytest.mark.parametrize("case", CASES)
def test_mirror_is_the_golden_one(case: str, tmp_path: Path) -> None:
    produced = mirror_case(GOLDEN / case, tmp_path)
    expected = GOLDEN / case / "expected"
    if REGENERATE:
        write_tree(expected, produced)
        return
    difference = first_difference(produced, read_tree(expected))
    if difference:
        pytest.fail(f"golden case {case}: the mirror differs from tests/golden/{case}/expected/\n{difference}\n"
                    "If the change is meant, regenerate with MIRRORD_REGEN_GOLDEN=1 and review the diff.",
                    pytrace=False)


@pytest.mark.parametrize("case", CASES)
def test_sources_named_after_a_recipe_use_its_rules(case: str) -> None:
    """config.example.toml is the one copy of the rules for real sites: a case may not drift from it."""
    recipes = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["source"]
    sources = tomllib.loads((GOLDEN / case / "mirrord.toml").read_text(encoding="utf-8"))["source"]
    for name, source in sources.items():
        if name in recipes:
            assert pick(source, RECIPE_KEYS) == pick(recipes[name], RECIPE_KEYS), \
                f"source {name} of tests/golden/{case}/mirrord.toml differs from its recipe in config.example.toml"


@pytest.mark.parametrize(("text", "normalised"), [
    ('"fetched": "2026-11-27T10:00:05+00:00"', f'"fetched": "{RUN_TIME}"'),
    ("Last change: 2026-11-27 10:00 UTC", f"Last change: {RUN_TIME}"),
    ("最后更新：2026-11-27 10:00（协调世界时）", f"最后更新：{RUN_TIME}"),
    ("2026-11-27T10:00:50.123Z", RUN_TIME),
    ("published 2018-10-05T09:39:22Z", "published 2018-10-05T09:39:22Z"),
    ("2026-11-27T10:02:00+00:00 after the run", "2026-11-27T10:02:00+00:00 after the run"),
    ("2026-11-27 10:00", "2026-11-27 10:00"),
    ("#### [Title](../pages/w/a.md) · 2026-11-27\n", f"#### [Title](../pages/w/a.md) · {RUN_DATE}\n"),
    ("- [Title](pages/w/a.md) · 2026-11-26\n", "- [Title](pages/w/a.md) · 2026-11-26\n"),
])
def test_only_times_within_the_run_are_normalised(text: str, normalised: str) -> None:
    started = datetime(2026, 11, 27, 10, 0, 3, tzinfo=timezone.utc)
    assert normalise(text, started, started + timedelta(seconds=50)) == normalised


def mirror_case(case: Path, tmp_path: Path) -> dict[str, bytes]:
    """Run `mirrord once` on the case's site and return the mirror's files as a clone shows them, normalised."""
    config = tomllib.loads((case / "mirrord.toml").read_text(encoding="utf-8"))
    (mirror_name,) = config["mirror"]
    with Site() as site:
        serve_folder(site, case / "site")
        config_path = write_config(case / "mirrord.toml", tmp_path, site)
        started = datetime.now(timezone.utc)
        run = mirrord(config_path, "once")
        finished = datetime.now(timezone.utc)
    assert run.code == 0, f"mirrord once exited {run.code}\n{run.stdout}\n{run.stderr}"
    reader = clone(tmp_path / "state" / "repos" / mirror_name, tmp_path / "reader")
    return {path: normalise_file(data, started, finished) for path, data in read_tree(reader).items()}


def serve_folder(site: Site, folder: Path) -> None:
    """Serve every file under folder at its path relative to it, typed by its extension."""
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            site.serve_corpus_file("/" + file.relative_to(folder).as_posix(), file)


def write_config(case_config: Path, tmp_path: Path, site: Site) -> Path:
    """Write the case's config with a state folder in tmp_path and the site as the proxy of every request."""
    path = tmp_path / "mirrord.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n\n'
                    f'[http]\nproxy = "{site.base_url}"\ntimeout = 10\nretries = 0\n\n'
                    + case_config.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def read_tree(folder: Path) -> dict[str, bytes]:
    """Return every file under folder but .git/, by its POSIX path relative to folder."""
    if not folder.is_dir():
        return {}
    return {file.relative_to(folder).as_posix(): file.read_bytes() for file in sorted(folder.rglob("*"))
            if file.is_file() and ".git" not in file.relative_to(folder).parts}


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Replace folder by exactly these files."""
    shutil.rmtree(folder, ignore_errors=True)
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)


def normalise_file(data: bytes, started: datetime, finished: datetime) -> bytes:
    """Return a text file with the run's times normalised; binary files (pictures) as they are."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return normalise(text, started, finished).encode("utf-8")


def normalise(text: str, started: datetime, finished: datetime) -> str:
    """Replace every time that falls within the run (to the minute for minute-precise ones) by RUN_TIME, and
    the days of the run that index and README lines show by RUN_DATE."""
    earliest = started.replace(second=0, microsecond=0)

    def replace(match: re.Match) -> str:
        text = match.group()
        for utc in README_UTC:
            text = text.replace(utc, "+00:00")
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return RUN_TIME if earliest <= when <= finished else match.group()

    days = {earliest.strftime("%Y-%m-%d"), finished.strftime("%Y-%m-%d")}
    text = LINE_DATE.sub(lambda match: RUN_DATE if match.group() in days else match.group(), text)
    return CLOCK_TIME.sub(replace, text)


def first_difference(produced: dict[str, bytes], expected: dict[str, bytes]) -> str:
    """Return what differs: missing and unexpected files, then the first differing file's diff; '' if none."""
    lines = [f"missing: {path}" for path in sorted(expected.keys() - produced.keys())]
    lines += [f"unexpected: {path}" for path in sorted(produced.keys() - expected.keys())]
    differing = [path for path in sorted(expected.keys() & produced.keys()) if expected[path] != produced[path]]
    if differing:
        lines.append(file_diff(differing[0], expected[differing[0]], produced[differing[0]]))
        lines += [f"also differs: {path}" for path in differing[1:]]
    return "\n".join(lines)


def file_diff(path: str, expected: bytes, produced: bytes) -> str:
    """Return a unified diff of a text file, or the hashes of a binary one."""
    try:
        old, new = expected.decode("utf-8"), produced.decode("utf-8")
    except UnicodeDecodeError:
        return (f"{path} differs: expected sha256 {hashlib.sha256(expected).hexdigest()}, "
                f"got {hashlib.sha256(produced).hexdigest()}")
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"expected/{path}", f"produced/{path}"))


def pick(table: dict, keys: tuple[str, ...]) -> dict:
    return {key: table[key] for key in keys if key in table}
