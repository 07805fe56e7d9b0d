"""Comments and docstrings in the installed code state facts; they do not point at documents outside
the repository (a design note, a team brief, an issue tracker) that a reader of the package lacks."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared|\bshared/DESIGN|\bnotes/|\bBRIEF\.md|\bissue #?\d+", re.IGNORECASE)


def _comments_and_docstrings(path: Path):
    source = path.read_text(encoding="utf-8")
    previous = tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
        elif token.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            yield token.start[0], token.string  # a string standing alone: a docstring
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type


def test_no_comment_points_outside_the_repository():
    found = [f"{path.relative_to(REPO)}:{line}: {OUTSIDE.search(text).group(0)}"
             for folder in ("jlce", "backends", "plugins") for path in sorted((REPO / folder).rglob("*.py"))
             for line, text in _comments_and_docstrings(path) if OUTSIDE.search(text)]
    assert not found, "comments pointing outside the repository:\n" + "\n".join(found)


def test_the_scan_sees_comments_and_docstrings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""See DESIGN.md."""\n\nx = "notes/ in a value is data"\n\n\ndef f():\n    """issue 15"""\n'
                      "    return 1  # ../shared/data\n", encoding="utf-8")
    hits = [line for line, text in _comments_and_docstrings(sample) if OUTSIDE.search(text)]
    assert hits == [1, 7, 8]
