"""A corpus of hostile and malformed inputs, generated from tables (issue 19).

Every case runs the real `jlce` command in-process (click's CliRunner) on real files and asserts:
a non-zero exit status (2 for a user's mistake), exactly one line on stderr naming the file,
field or problem, no traceback, and that no file anywhere under the case's folder (task files,
data directory, a "secret" outside, earlier runs) was created, changed or removed.

Categories: paths a task file names (`path`, `filename`, `fixture`, `include`, symbolic links),
YAML bombs and nesting (task files, claims files, leaderboard definitions), bounded templates
(recursion, loops, numbers, text), labels and data values, claim checks, and results.json files
of the wrong shape given to `show run`, `compare`, `verify` and `leaderboard build`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard_runs import write_run

from jlce.cli.main import app

DATA_ROWS = [
    {"q": "空の色は？", "a": "青", "b": "緑", "label": 0},
    {"q": "雪の色は？", "a": "黒", "b": "白", "label": 1},
]
SECRET = '{"q": "TOP-SECRET-CANARY", "a": "x", "b": "y", "label": 0}\n'


def jsonl(rows: list) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def task_yaml(*, files: str | None = None, extra_dataset: str = "", prompt: str = '"{{ q }}："',
              choices: str = '["{{ a }}", "{{ b }}"]', gold: str = '"{{ label }}"', head: str = "", tail: str = "",
              data: str | None = None) -> str:
    data = data if data is not None else jsonl(DATA_ROWS)
    files = files if files is not None else f"      - path: data.jsonl\n        sha256: {sha(data)}\n"
    return (f"{head}task: bad\nversion: \"1\"\nlicense: CC0-1.0\ndataset:\n  format: jsonl\n  files:\n    test:\n{files}"
            f"{extra_dataset}eval_split: test\noutput_type: multiple_choice\nprompt: {prompt}\nchoices: {choices}\n"
            f"gold: {gold}\nmetrics:\n  - name: acc\n{tail}")


@dataclass
class Case:
    id: str
    expected: list[str]  # substrings of the one-line message
    files: dict[str, str | bytes] = field(default_factory=dict)  # relative to the case folder
    args: list[str] = field(default_factory=lambda: ["show", "task", "bad", "--include-path", "{tasks}"])
    links: dict[str, str] = field(default_factory=dict)  # link -> target (relative to the case folder)
    code: int = 2
    setup: Callable[[Path], None] | None = None


CASES: list[Case] = []


def add(case: Case) -> None:
    assert case.id not in {c.id for c in CASES}, case.id
    CASES.append(case)


def task_case(id: str, expected: list[str], yaml: str | bytes, **kwargs) -> None:
    files = {"tasks/data.jsonl": jsonl(DATA_ROWS), **kwargs.pop("files", {}), "tasks/bad.yaml": yaml}
    add(Case(id, expected, files=files, **kwargs))


# ---- 1. paths a task file names ---------------------------------------------------------------------

BAD_PATHS = {  # the path -> words the refusal must contain
    "dotdot": ("../outside/secret.jsonl", "'..'"),
    "dotdot-deep": ("../../../../../../etc/passwd", "'..'"),
    "dotdot-middle": ("sub/../../outside/secret.jsonl", "'..'"),
    "absolute": ("/etc/passwd", "absolute"),
    "absolute-secret": ("{root}/outside/secret.jsonl", "absolute"),
    "home": ("~/secret.jsonl", "absolute"),
    "drive": ("C:/secret.jsonl", "absolute"),
    "backslash": ("..\\outside\\secret.jsonl", "backslash"),
    "nul": ("data\x00.jsonl", "NUL"),
    "empty": ("", "empty"),
}


def _path_field_yaml(kind: str, path: str) -> str:
    quoted = json.dumps(path)  # a YAML double-quoted scalar (escapes kept)
    data = jsonl(DATA_ROWS)
    if kind == "path":
        return task_yaml(files=f"      - path: {quoted}\n        sha256: {sha(data)}\n")
    if kind == "fixture":
        return task_yaml(extra_dataset=f"  fixture:\n    test: [{quoted}]\n")
    if kind == "filename":
        return task_yaml(files=f"      - url: https://example.org/data.jsonl\n        filename: {quoted}\n        sha256: {sha(data)}\n")
    assert kind == "include"
    return f"include: {quoted}\ntask: bad\n"


for _kind in ("path", "fixture", "filename", "include"):
    for _name, (_path, _why) in BAD_PATHS.items():
        if _kind == "include" and _name == "nul":
            continue
        _args = ["show", "task", "bad", "--include-path", "{tasks}"] + (["--data", "fixture"] if _kind == "fixture" else [])
        task_case(f"path-{_kind}-{_name}", ["bad.yaml", _why], _path_field_yaml(_kind, _path), args=_args)
    # the same through `jlce data add`, which stores files under their `filename`
    if _kind == "filename":
        for _name in ("dotdot", "absolute", "dotdot-deep"):
            task_case(f"data-add-filename-{_name}", ["bad.yaml", "filename"], _path_field_yaml("filename", BAD_PATHS[_name][0]),
                      args=["data", "add", "bad", "{tasks}/data.jsonl", "--include-path", "{tasks}"])

# A URL whose last segment would be the stored name: '..' or empty.
for _i, _url in enumerate(["https://example.org/a/..", "https://example.org/..", "https://example.org/a/%00/.."]):
    task_case(f"path-url-name-{_i}", ["bad.yaml", "refused"],
              task_yaml(files=f"      - url: {_url}\n        sha256: {sha(jsonl(DATA_ROWS))}\n"))

# Symbolic links beside the task file that lead out of its directory.
for _kind in ("path", "fixture", "include"):
    for _target in ("outside/secret.jsonl", "outside"):
        _link = "tasks/link.jsonl" if _target.endswith(".jsonl") else "tasks/linkdir"
        _rel = "link.jsonl" if _target.endswith(".jsonl") else "linkdir/secret.jsonl"
        _yaml = {"path": task_yaml(files=f"      - path: {_rel}\n        sha256: {sha(SECRET)}\n"),
                 "fixture": task_yaml(extra_dataset=f"  fixture:\n    test: [{_rel}]\n"),
                 "include": f"include: {_rel}\ntask: bad\n"}[_kind]
        task_case(f"symlink-{_kind}-{'file' if _rel == 'link.jsonl' else 'dir'}", ["bad.yaml", "symbolic link leads out"], _yaml,
                  links={_link: _target},
                  args=["show", "task", "bad", "--include-path", "{tasks}"] + (["--data", "fixture"] if _kind == "fixture" else []))

# Hub ids that are local folders.
for _i, _hub in enumerate(["/etc", "../outside", "outside", "./outside", "a/b/c", "~/x/y"]):
    task_case(f"hub-local-{_i}", ["bad.yaml", "dataset id"],
              task_yaml(files="").replace("  files:\n    test:\n", f"  hub: {{path: {json.dumps(_hub)}, revision: main}}\n"))


# ---- 2. edited data is never used under the original checksum ------------------------------------------

def _edit_data(root: Path) -> None:
    (root / "tasks" / "data.jsonl").write_text(jsonl(DATA_ROWS).replace("青", "赤"), encoding="utf-8")


task_case("checksum-edited-packaged", ["checksum mismatch", "data.jsonl"], task_yaml(), setup=_edit_data)
task_case("checksum-appended", ["checksum mismatch"], task_yaml(), files={"tasks/data.jsonl": jsonl(DATA_ROWS) + "\n"})


# ---- 3. YAML bombs and nesting, in every YAML file JLCE reads ---------------------------------------

def laughs(levels: int, width: int = 10) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


YAML_BOMBS = {
    **{f"laughs-{n}": (laughs(n), "alias") for n in (6, 7, 8, 9)},
    "laughs-wide": (laughs(4, 40), "alias"),
    "recursive-alias": ("loop: &a [*a]\n", "recursive"),
    "recursive-map": ("loop: &a {self: *a}\n", "recursive"),
    **{f"flow-list-{n}": ("deep: " + "[" * n + "]" * n + "\n", "nested") for n in (65, 500, 5000, 50000)},
    **{f"flow-map-{n}": ("deep: " + "{a: " * n + "1" + "}" * n + "\n", "nested") for n in (65, 3000)},
    **{f"block-map-{n}": ("".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "x\n", "nested") for n in (70, 600)},
    **{f"block-list-{n}": ("deep:\n" + "".join("  " * i + "-\n" for i in range(1, n)) + "  " * n + "- x\n", "nested")
       for n in (70, 400)},
    "alias-depth": ("a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n", "nested"),
}

for _name, (_bomb, _why) in YAML_BOMBS.items():
    task_case(f"yaml-task-{_name}", ["bad.yaml", _why], task_yaml(tail=_bomb))
    add(Case(f"yaml-claims-{_name}", ["claims.yaml", _why],
             files={"claims.yaml": _bomb + "claims:\n  - {id: c, statement: s, check: acc(A, qa) >= 0.5}\n"},
             args=["verify", "{root}/claims.yaml", "--runs", "A={runs}/a"]))
    add(Case(f"yaml-board-{_name}", ["board.yaml", _why], files={"board.yaml": _bomb + "name: x\n"},
             args=["leaderboard", "build", "{runs}/a", "-o", "{root}/out", "--definition", "{root}/board.yaml"]))
    add(Case(f"yaml-group-{_name}", ["grp.yaml", _why],
             files={"tasks/data.jsonl": jsonl(DATA_ROWS), "tasks/bad.yaml": task_yaml(), "tasks/grp.yaml": f"group: grp\n{_bomb}tasks: [bad]\n"},
             args=["run", "--model", "none", "--tasks", "grp", "--include-path", "{tasks}"]))

YAML_MISC = {  # other hostile YAML, in a task file
    "python-object": ("version: !!python/object/apply:os.system ['echo pwned']\n", "not allowed"),
    "python-name": ("extra: !!python/name:os.system\n", "not allowed"),
    "python-module": ("extra: !!python/module:os\n", "not allowed"),
    "nul-byte": ("extra: \x00\n", "bad.yaml"),
    "invalid-utf8": (b"extra: \xff\xfe\n", "UTF-8"),
    "duplicate-key": ("task: other\n", "duplicate key"),
}
for _name, (_text, _why) in YAML_MISC.items():
    if isinstance(_text, bytes):
        _body: str | bytes = _text + task_yaml().encode()
    else:
        _body = _text + (task_yaml().replace('version: "1"\n', "") if _name == "python-object" else task_yaml())
    task_case(f"yaml-misc-{_name}", ["bad.yaml", _why], _body)


# ---- 4. templates: bounded work -------------------------------------------------------------------

TEMPLATES = {  # Jinja source -> words of the refusal
    "recursive-macro": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recurses"),
    "mutual-macros": ("{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses"),
    "recursive-loop": ("{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}", "recurses"),
    "nested-range": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops"),
    "triple-range": ("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}", "loops"),
    "range-huge": ("{{ range(10**9)|list|length }}", "limit"),
    "range-literal": ("{% for i in range(999999999) %}{% endfor %}", "limit"),
    "pow-huge": ("{{ 10 ** 100000 }}", "bits"),
    "pow-chain": ("{{ (9 ** 99) ** 99 }}", "bits"),
    "pow-loop": ("{% set n = 7 %}{{ n ** 999999 }}", "bits"),
    "mul-int": ("{% set x = 10 ** 1000 %}{{ x * x * x * x * x }}", "bits"),
    "mul-str": ("{{ 'a' * 10000000000 }}", "limit"),
    "mul-list": ("{{ ([1] * 100000) * 100000 }}", "limit"),
    "concat-doubling": ("{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}"
                        "{{ d('xx', 64) }}", "limit"),
    "plus-doubling": ("{% macro d(s, n) %}{% if n %}{{ d(s + s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}"
                      "{{ d('xx', 64) }}", "limit"),
    "list-doubling": ("{% macro d(s, n) %}{% if n %}{{ d(s + s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}"
                      "{{ d([1, 2], 64) }}", "limit"),
    "center": ("{{ 'a'|center(1000000000) }}", "numeric argument"),
    "indent": ("{{ 'a\nb'|indent(1000000000) }}", "numeric argument"),
    "truncate": ("{{ 'a'|truncate(10**18) }}", "numeric argument"),
    "method-center": ("{{ 'a'.center(1000000000) }}", "numeric argument"),
    "method-zfill": ("{{ 'a'.zfill(10**10) }}", "numeric argument"),
    "method-ljust": ("{{ q.ljust(999999999) }}", "numeric argument"),
    "format-percent": ("{{ '%0999999999d' % 1 }}", "format string"),
    "format-method": ("{{ '{:>999999999}'.format(1) }}", "format string"),
    "format-filter": ("{{ '%0999999999d'|format(1) }}", "format string"),
    "format-nested-width": ("{{ '{:>{w}}'.format(1, w=10**9) }}", "numeric argument"),
    "replace-blowup": ("{{ ('a' * 100000).replace('', 'b' * 100000) }}", "replace"),
    "output-flood": ("{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}", "characters"),
    "big-literal": ("{{ " + "9" * 5000 + " }}", "digits"),
    "deep-parens": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nest"),
    "deep-lists": ("{{ " + "[" * 3000 + "]" * 3000 + " }}", "nest"),
    "float-overflow": ("{{ 10.0 ** 400 }}", "OverflowError"),
    "int-to-float": ("{{ (10 ** 400)|float }}", "OverflowError"),
    "div-zero": ("{{ 1 // 0 }}", "ZeroDivisionError"),
    "sandbox-mro": ("{{ q.__class__.__mro__ }}", "sandbox"),
    "sandbox-globals": ("{{ self._TemplateReference__context }}", "sandbox"),
    "sandbox-format-attr": ("{{ '{0.__class__}'.format(q) }}", "sandbox"),
    "include": ("{% include '/etc/passwd' %}", "template"),
    "import": ("{% import '/etc/passwd' as x %}", "template"),
    "extends": ("{% extends '/etc/passwd' %}", "template"),
}
for _name, (_source, _why) in TEMPLATES.items():
    for _key in ("prompt", "choices", "instruction"):
        _q = json.dumps(_source)
        if _key == "prompt":
            _yaml = task_yaml(prompt=_q)
        elif _key == "choices":
            _yaml = task_yaml(choices=f'["{{{{ a }}}}", {_q}]')
        else:
            _yaml = task_yaml(head=f"instruction: {_q}\n")
        task_case(f"template-{_key}-{_name}", ["bad.yaml", _key if _key != "choices" else "choices.1", _why], _yaml)


# ---- 5. labels and data values ---------------------------------------------------------------------

LABELS = {  # the first item's raw JSON label -> words of the refusal
    "infinity": ("Infinity", "gold"), "minus-infinity": ("-Infinity", "gold"), "nan": ("NaN", "gold"),
    "exp-overflow": ("1e999", "gold"), "huge-int": ("9" * 401, "gold"), "too-many-digits": ("9" * 5000, "damaged"),
    "text-infinity": ('"Infinity"', "gold"), "text-inf": ('"inf"', "gold"), "fraction": ("0.5", "gold"),
    "negative": ("-1", "gold"), "out-of-range": ("7", "gold"), "null": ("null", "gold"), "list": ("[0]", "gold"),
    "object": ('{"i": 0}', "gold"), "bool": ("true", "gold"), "text": ('"abc"', "gold"),
    "huge-text-int": ('"' + "9" * 5000 + '"', "gold"),
}
for _name, (_raw, _why) in LABELS.items():
    _data = '{"q": "空の色は？", "a": "青", "b": "緑", "label": ' + _raw + '}\n' + jsonl(DATA_ROWS[1:])
    task_case(f"label-{_name}", [_why], task_yaml(data=_data), files={"tasks/data.jsonl": _data})

DATA_FILES = {  # data.jsonl content -> words
    "deep-json": ('{"q": ' + "[" * 100000 + "]" * 100000 + ', "a": "x", "b": "y", "label": 0}\n', "damaged"),
    "deep-json-objects": ('{"q": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + ', "a": "x", "b": "y", "label": 0}\n', "damaged"),
    "not-json": ("this is not json\n", "damaged"),
    "not-object": ("[1, 2, 3]\n", "damaged"),
    "invalid-utf8": (b'{"q": "\xff", "a": "x", "b": "y", "label": 0}\n', "damaged"),
    "missing-field": ('{"a": "x", "b": "y", "label": 0}\n', "undefined"),
}
for _name, (_content, _why) in DATA_FILES.items():
    task_case(f"data-{_name}", [_why], task_yaml(files=f"      - path: data.jsonl\n        sha256: {sha(_content)}\n"),
              files={"tasks/data.jsonl": _content})


# ---- 6. claims files -----------------------------------------------------------------------------

CHECKS = {  # a claim's check -> words
    "div-zero": ("acc(A, qa) >= 1/0", "division by zero"),
    "div-zero-expr": ("acc(A, qa) / (1 - 1) >= 1", "division by zero"),
    "digits-401": ("acc(A, qa) >= " + "9" * 401, "too large"),
    "exp-overflow": ("acc(A, qa) >= 1e999", "too large"),
    "product-overflow": ("acc(A, qa) >= 1e300 * 1e300", "finite"),
    "long": ("acc(A, qa) >= " + "1" * 2000, "longer than"),
    "import": ("__import__('os').system('id') >= 1", "calls"),
    "attribute": ("acc(A, qa).real >= 1", "not allowed"),
    "subscript": ("acc(A, qa)[0] >= 1", "not allowed"),
    "lambda": ("(lambda: 1)() >= 1", "calls"),
    "power": ("acc(A, qa) ** 99999999 >= 1", "not allowed"),
    "equality": ("acc(A, qa) == 1", "not allowed"),
    "and": ("acc(A, qa) >= 0.1 and acc(A, qa) <= 1", "not allowed"),
    "string": ("acc(A, qa) >= 'x'", "only numbers"),
    "bare-name": ("A >= 1", "not a number"),
    "no-quantity": ("1 >= 0", "measures nothing"),
    "unknown-label": ("acc(Z, qa) >= 1", "unknown run label"),
    "unknown-quantity": ("secret_file(A) >= 1", "secret_file"),
    "empty": ("", "empty"),
    "syntax": ("acc(A, qa) >=", "not a valid expression"),
    "keyword": ("acc(A, qa, task=x) >= 1", "without keywords"),
    "starred": ("acc(*A, qa) >= 1", "without keywords"),
    "deep": ("acc(A, qa) >= " + "-" * 45 + "1", "nested"),
    "comparison-inside": ("(acc(A, qa) >= 1) >= 1", "comparison"),
}
for _name, (_check, _why) in CHECKS.items():
    add(Case(f"claims-check-{_name}", ["claims.yaml", "check", _why],
             files={"claims.yaml": "runs:\n  A: {model: '*'}\nclaims:\n  - id: c\n    statement: s\n    check: " + json.dumps(_check) + "\n"},
             args=["verify", "{root}/claims.yaml", "--runs", "{runs}/a"]))

CLAIMS_FIELDS = {  # a claims-file line -> words
    "confidence-401": ("confidence: " + "9" * 401, "confidence"),
    "confidence-inf": ("confidence: .inf", "confidence"),
    "confidence-nan": ("confidence: .nan", "confidence"),
    "draws-huge": ("draws: " + "9" * 30, "draws"),
    "seed-401": ("seed: " + "9" * 401, "seed"),
    "version-2": ("version: 2", "version"),
    "label-bad": ("runs: {'A B': {model: x}}", "label"),
    "unknown-key": ("clams: []", "unknown key"),
    "selector-empty": ("runs: {A: {}}", "selector"),
}
for _name, (_line, _why) in CLAIMS_FIELDS.items():
    _text = f"{_line}\nclaims:\n  - {{id: c, statement: s, check: 'acc(A, qa) >= 0.5'}}\n"
    add(Case(f"claims-field-{_name}", ["claims.yaml", _why], files={"claims.yaml": _text},
             args=["verify", "{root}/claims.yaml", "--runs", "A={runs}/a"]))


# ---- 7. leaderboard definitions --------------------------------------------------------------------

BOARD_OK = "name: b\nversion: '1'\ntitle: B\ncategories:\n  semantic: {weight: 1}\ntasks:\n  qa: {category: semantic, metric: acc}\n"
BOARDS = {
    "weight-inf": (BOARD_OK.replace("{weight: 1}", "{weight: .inf}"), "weight"),
    "weight-401": (BOARD_OK.replace("{weight: 1}", "{weight: " + "9" * 401 + "}"), "weight"),
    "weight-negative": (BOARD_OK.replace("{weight: 1}", "{weight: -1}"), "weight"),
    "range-reversed": (BOARD_OK.replace("metric: acc}", "metric: acc, range: [1, 0]}"), "range"),
    "range-nan": (BOARD_OK.replace("metric: acc}", "metric: acc, range: [.nan, 1]}"), "range"),
    "unknown-category": (BOARD_OK.replace("category: semantic", "category: semantik"), "unknown category"),
    "level-1": (BOARD_OK + "level: 1\n", "level"),
    "python-tag": (BOARD_OK.replace("title: B", "title: !!python/object/apply:os.system [id]"), "not allowed"),
    "not-mapping": ("- a\n- b\n", "mapping"),
    "invalid-utf8": (BOARD_OK.encode() + b"description: \xff\n", "UTF-8"),
    "duplicate-key": (BOARD_OK + "title: C\n", "duplicate key"),
}
for _name, (_text, _why) in BOARDS.items():
    add(Case(f"board-{_name}", ["board.yaml", _why], files={"board.yaml": _text},
             args=["leaderboard", "build", "{runs}/a", "-o", "{root}/out", "--definition", "{root}/board.yaml"]))


# ---- 8. results.json of the wrong shape, to every command that reads runs ----------------------------

RESULTS = {  # results.json text (or a function of the valid one) -> words
    "not-json": ("{", "damaged"),
    "empty": ("", "damaged"),
    "list": ("[]", "JSON object"),
    "string": ('"results"', "JSON object"),
    "empty-object": ("{}", "schema_version"),
    "schema-2": ('{"schema_version": "2.0"}', "not supported"),
    "nan": ('{"schema_version": NaN}', "NaN"),
    "infinity": (lambda r: r.replace('"hits": 0', '"hits": Infinity'), "Infinity"),
    "digits-401": (lambda r: r.replace('"hits": 0', '"hits": ' + "9" * 401), "digits"),
    "deep": ('{"schema_version": "1.0", "x": ' + "[" * 100000 + "]" * 100000 + "}", "nested"),
    "deep-shallow-limit": ('{"schema_version": "1.0", "x": ' + "[" * 70 + "]" * 70 + "}", "nested"),
    "tasks-list": (lambda r: _set(r, ["tasks"], []), "tasks"),
    "task-string": (lambda r: _set(r, ["tasks", "qa"], "x"), "tasks.qa"),
    "no-version": (lambda r: _drop(r, ["tasks", "qa", "version"]), "version"),
    "metric-text": (lambda r: _set(r, ["tasks", "qa", "metrics", "acc", "value"], "high"), "value"),
    "metrics-list": (lambda r: _set(r, ["tasks", "qa", "metrics"], [1]), "metrics"),
    "model-string": (lambda r: _set(r, ["model"], "m"), "model"),
    "fingerprint-bad": (lambda r: _set(r, ["model", "fingerprint_hash"], "../../x"), "fingerprint_hash"),
    "samples-absolute": (lambda r: _set(r, ["tasks", "qa", "samples_file"], "/etc/passwd"), "samples_file"),
    "samples-dotdot": (lambda r: _set(r, ["tasks", "qa", "samples_file"], "../../outside/secret.jsonl"), "samples_file"),
    "invalid-utf8": (b'{"schema_version": "1.0", "x": "\xff"}', "UTF-8"),
}


def _set(text: str, keys: list[str], value) -> str:
    data = json.loads(text)
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return json.dumps(data)


def _drop(text: str, keys: list[str]) -> str:
    data = json.loads(text)
    node = data
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return json.dumps(data)


RESULTS_COMMANDS = {
    "show-run": ["show", "run", "{runs}/bad"],
    "compare-b": ["compare", "{runs}/a", "{runs}/bad"],
    "compare-a": ["compare", "{runs}/bad", "{runs}/a"],
    "verify": ["verify", "{root}/claims.yaml", "--runs", "A={runs}/a", "B={runs}/bad"],
    "leaderboard": ["leaderboard", "build", "{runs}/a", "{runs}/bad", "-o", "{root}/out", "--definition", "{root}/board.yaml"],
}
CLAIMS_AB = "claims:\n  - {id: c, statement: s, check: 'acc(B, qa) >= acc(A, qa)'}\n"
for _name, (_content, _why) in RESULTS.items():
    for _command, _args in RESULTS_COMMANDS.items():
        if _name.startswith("samples-") and _command != "leaderboard":
            continue  # samples_file is read by the leaderboard; the others read samples by task name
        add(Case(f"results-{_command}-{_name}", ["results.json", _why], args=list(_args),
                 files={"claims.yaml": CLAIMS_AB, "board.yaml": BOARD_OK, "runs/bad/results.json": _content}))


# ---- running a case ----------------------------------------------------------------------------------

def _snapshot(root: Path, ignore: tuple[Path, ...]) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        if any(base == p or p in base.parents for p in ignore):
            continue
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            if path.is_symlink():
                out[str(path.relative_to(root))] = ("link", os.readlink(path))
            else:
                out[str(path.relative_to(root))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _prepare(case: Case, root: Path) -> dict[str, str]:
    (root / "outside").mkdir(parents=True)
    (root / "outside" / "secret.jsonl").write_text(SECRET, encoding="utf-8")
    (root / "tasks").mkdir()
    write_run(root / "runs", "model-a", {"qa": {"metric": "acc", "values": [1, 0, 1, 1]}}, dirname="a")
    if any(name.startswith("runs/bad/") for name in case.files):
        (root / "runs" / "bad" / "samples").mkdir(parents=True)
        (root / "runs" / "bad" / "samples" / "qa.jsonl").write_text(jsonl([{"doc_id": 0, "metrics": {"acc": 1}}]))
        valid = (root / "runs" / "a" / "results.json").read_text(encoding="utf-8")
    for name, content in case.files.items():
        if callable(content):
            content = content(valid)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.replace("{root}", str(root))
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    for link, target in case.links.items():
        (root / link).symlink_to(root / target)
    if case.setup:
        case.setup(root)
    return {"{root}": str(root), "{tasks}": str(root / "tasks"), "{runs}": str(root / "runs")}


def test_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 250, len(CASES)
    prefixes = {case.id.split("-")[0] for case in CASES}
    assert {"path", "symlink", "checksum", "yaml", "template", "label", "data", "claims", "board", "results", "hub"} <= prefixes


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_refused_cleanly_and_nothing_changed(case: Case, tmp_path, monkeypatch):
    root = tmp_path / "w"
    subs = _prepare(case, root)
    cache, data = tmp_path / "cache", root / "data"  # the data directory is inside the watched folder
    before = _snapshot(root, ignore=())
    args = []
    for arg in case.args:
        for key, value in subs.items():
            arg = arg.replace(key, value)
        args.append(arg)
    env = {"JLCE_CACHE_DIR": str(cache), "JLCE_DATA_DIR": str(data), "JLCE_OFFLINE": "1", "JLCE_DEBUG": None}
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    stderr = result.stderr
    assert result.exit_code == case.code, (result.exit_code, stderr[-1500:], result.stdout[-500:])
    assert "Traceback" not in stderr + result.stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("jlce: error: "), stderr[-1500:]
    message = lines[0]
    assert len(message) < 1500, message
    for words in case.expected:
        assert words in message, (words, message)
    assert "TOP-SECRET-CANARY" not in result.stdout + stderr
    assert _snapshot(root, ignore=()) == before, "files changed"
