"""Shared CLI helpers: clean errors, KEY=VALUE parsing."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from jlce.errors import JLCEError, UserError


MAX_MESSAGE = 1000


def error_exit(message: str, code: int) -> None:
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())  # one line, always
    if len(one_line) > MAX_MESSAGE:  # a hostile value echoed in a message: keep where and why, cut the middle
        cut = len(one_line) - MAX_MESSAGE
        one_line = f"{one_line[:MAX_MESSAGE * 3 // 5]} [... {cut:,} characters cut ...] {one_line[-MAX_MESSAGE * 2 // 5:]}"
    sys.stderr.write(f"jlce: error: {one_line}\n")
    raise click.exceptions.Exit(code)


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """User mistakes and known failures become one line on stderr and an exit status, not a traceback."""
    if os.environ.get("JLCE_DEBUG"):
        yield
        return
    try:
        yield
    except UserError as error:
        error_exit(str(error), error.exit_code)
    except JLCEError as error:
        error_exit(str(error), 1)
    except ModuleNotFoundError as error:  # an optional dependency: name the extra that installs it
        from jlce.extras import missing_extra

        extra = missing_extra(error)
        if extra is None:
            raise
        error_exit(str(extra), extra.exit_code)
    except RecursionError:  # a safety net: readers bound nesting themselves, with located messages
        error_exit("the input nests too deeply to be processed (lists or mappings inside each other thousands of "
                   "levels deep)", 2)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            error_exit(f"no space left on device while writing {error.filename or 'output'}; "
                       "earlier results are untouched (writes are atomic); free space and run the same command again", 1)
        raise


def parse_key_values(items: list[str], flag: str) -> dict[str, str]:
    """`parse_text_pairs`: values stay text. (It once turned "8" into 8 and "none" into None, so a
    backend's options model could not tell `tokenizer=none` from no tokenizer; the receiver parses.)"""
    return parse_text_pairs(items, flag)


def parse_text_pairs(items: tuple[str, ...] | list[str], flag: str) -> dict[str, str]:
    """`["a=1", "b=x"]` -> `{"a": "1", "b": "x"}`: values stay text (the receiver validates them)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out
