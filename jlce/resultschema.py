"""Reading a results.json that may come from anywhere: bounded parsing, then the documented schema.

Every command that reads a run (`show run`, `compare`, `verify`, `report`, `leaderboard build`)
goes through `load_results_file`: a file of the wrong shape is refused with one line naming the
file, the field and the problem, before any code relies on that shape.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jlce import jsonfile
from jlce.errors import UserError

MAX_RESULTS_BYTES = 200_000_000
SUPPORTED_MAJOR = "1"


def schema_path(name: str) -> Path:
    """A bundled JSON schema (`docs/<name>` in a checkout, `jlce/schemas/<name>` once installed)."""
    from importlib import resources

    try:
        candidate = resources.files("jlce.schemas") / name
        if candidate.is_file():
            return Path(str(candidate))
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[1] / "docs" / name


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schema = jsonfile.load(schema_path("results.schema.json"))
    profiling = jsonfile.load(schema_path("profiling.schema.json"))
    base = schema["$id"].rsplit("/", 1)[0]
    registry = Registry().with_resource(f"{base}/profiling.schema.json", DRAFT202012.create_resource(profiling))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _where(error: Any) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "the top level"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_results(data: Any, file: str | Path) -> dict[str, Any]:
    """`data` when it is a results document of a supported schema; else a UserError naming the field."""
    if not isinstance(data, dict):
        raise UserError(f"{file}: not a JLCE results file (a JSON object is expected, not {type(data).__name__})")
    version = data.get("schema_version")
    if version is None:
        raise UserError(f"{file}: not a JLCE results file (no 'schema_version')")
    if str(version).split(".")[0] != SUPPORTED_MAJOR:
        raise UserError(f"{file}: results schema {_short(version, 40)} is not supported (need {SUPPORTED_MAJOR}.x)")
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        raise UserError(f"{file}: not a valid JLCE results file: at {_short(_where(error), 80)}: {_short(error.message)} "
                        "(see docs/results.schema.json)")
    return data


def load_results_file(file: str | Path) -> dict[str, Any]:
    """Parse and validate one results.json (bounded: size, nesting, numbers)."""
    path = Path(file)
    try:
        size = path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            raise UserError(f"{path}: {size:,} bytes is too large for a results file (limit {MAX_RESULTS_BYTES:,})")
        data = jsonfile.load(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no results.json here (is this a run directory?)") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a results file") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: results file is damaged (not UTF-8 at byte {error.start})") from None
    except ValueError as error:
        raise UserError(f"{path}: results file is damaged ({jsonfile.describe(error)})") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from None
    return validate_results(data, path)
