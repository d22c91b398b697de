"""The user docs stay navigable: the README is short (it starts where users start and links to docs/ for the rest),
and every relative link in the README and docs/*.md reaches a file that exists and, with a #fragment, a heading
that exists in it, so a page or heading renamed without its links fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """The text without code: fenced blocks, indented blocks (four spaces or more) and inline code spans."""
    text = _FENCE.sub("", text)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("    "))
    return _INLINE_CODE.sub("", text)


def links(text: str) -> list[str]:
    """Targets of the Markdown links and images in a page's prose."""
    return _LINK.findall(prose(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, code marks and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a page, repeats numbered as GitHub numbers them (`x`, `x-1`, ...)."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    for line in _FENCE.sub("", text).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` that points nowhere, with why."""
    wrong = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: not a file of this repository
            continue
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            wrong.append(f"{page.name}: {target}: {dest} does not exist")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text(encoding="utf-8")):
            wrong.append(f"{page.name}: {target}: no heading #{fragment} in {dest.name}")
    return wrong


def test_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/ (at most " \
                                           f"{README_MAX_LINES})"


def test_the_docs_pages_exist_and_the_readme_links_each():
    readme = set(links((ROOT / "README.md").read_text(encoding="utf-8")))
    names = {p.name for p in PAGES[1:]}
    assert {"run.md", "service.md", "mqtt.md", "models.md", "train.md", "bench.md", "coral.md", "troubleshooting.md",
            "development.md"} <= names
    assert not {f"docs/{n}" for n in names} - readme, "a docs/ page the README does not link to"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    wrong = broken_links(page)
    assert not wrong, "\n".join(wrong)


def test_the_link_check_finds_a_broken_link_and_a_missing_heading(tmp_path):
    """The check itself can fail: a missing file, a missing heading, and a link inside code that is not a link."""
    (tmp_path / "other.md").write_text("# Other page\n\n## `--show` says it needs a display\n## Twice\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md) [ok](other.md#--show-says-it-needs-a-display) [ok](#page)\n"
                    "[ok](other.md#twice-1) [web](https://example.org/x) ![img](other.md)\n"
                    "`[code](nowhere.md)`\n\n    [indented](nowhere.md)\n```\n[fenced](nowhere.md)\n```\n")
    assert broken_links(page) == []
    page.write_text("[gone](missing.md) [no heading](other.md#nope) [self](#nope)\n")
    wrong = broken_links(page)
    assert len(wrong) == 3 and "missing.md" in wrong[0] and "#nope" in wrong[1] and "#nope" in wrong[2], wrong
