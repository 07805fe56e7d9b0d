"""One options pipeline: `RunOptions` defines `jlce run`'s options, validates them for the command
line and `jlce.evaluate` alike, builds `BackendConfig`, and `--backend-arg` text is parsed once by
the backend's own options model (issue 15)."""

from __future__ import annotations

import json
import pickle

import pytest

import jlce
from e2e_helpers import jlce as run_jlce
from e2e_helpers import jlce_env
from jlce.errors import UserError
from jlce.runconfig import RunOptions, cli_of


def _cli_error(tmp_path, *args: str) -> str:
    """The one-line error `jlce run ...` prints (exit status 2, no traceback)."""
    result = run_jlce("run", "--model", "m", "--backend", "dummy", "--tasks", "jcommonsenseqa", "--data", "fixture",
                      "-o", str(tmp_path / "out"), *args, env=jlce_env(tmp_path / "cache"), timeout=300)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # refused before any work
    line = result.stderr.strip()
    assert line.startswith("jlce: error: ") and "\n" not in line, line
    return line.removeprefix("jlce: error: ")


def test_jlce_run_help_lists_the_flag_of_every_run_option(tmp_path):
    result = run_jlce("run", "--help", env=jlce_env(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    shown = result.stdout
    without_flag = set()
    for name in RunOptions.model_fields:
        cli = cli_of(name)
        if cli is None:
            without_flag.add(name)
            continue
        for flag in (part for decl in cli.flags for part in decl.split("/")):
            assert f"{flag} " in shown or f"{flag}," in shown or f"{flag}\n" in shown, (name, flag)
    assert without_flag == {"results_root"}  # Python API only
    for flag in ("--log", "--log-arg", "--help"):  # the command's own options, after the run options
        assert flag in shown
    flat = " ".join(shown.split())
    assert "[default: transformers]" in flat and "[default: 16]" in flat and "[1<=x<=1024]" in flat


CASES = [  # (command-line arguments, the same value through jlce.evaluate)
    (["--limit", "0"], {"limit": 0}),
    (["--data", "everything"], {"data": "everything"}),
    (["--batch-size", "0"], {"batch_size": 0}),
    (["--temperature", "hot"], {"temperature": "hot"}),
    (["--profile-interval", "0"], {"profile_options": {"interval": 0}}),
    (["--include-path", "/no/such/dir"], {"include_paths": ["/no/such/dir"]}),
]


@pytest.mark.parametrize("args,api", CASES, ids=[case[0][0] for case in CASES])
def test_a_bad_value_gets_the_same_message_from_the_cli_and_the_api(tmp_path, args, api):
    printed = _cli_error(tmp_path, *args)
    with pytest.raises(UserError) as raised:
        jlce.evaluate(model="m", tasks="jcommonsenseqa", backend="dummy", **{"data": "fixture", "output_dir": tmp_path / "api", **api})
    assert str(raised.value) == printed
    assert printed.startswith(f"{args[0]} (")  # names the flag and the Python name


def test_an_unknown_api_option_is_named_with_the_closest():
    with pytest.raises(UserError, match=r"unknown option 'limt' \(did you mean 'limit'\?\)"):
        jlce.evaluate(model="m", tasks="jcommonsenseqa", backend="dummy", limt=3)


BACKEND_ERRORS = [  # (backend, --backend-arg, what the error says)
    ("transformers", "max_batch_sise=8", "backend 'transformers': unknown --backend-arg 'max_batch_sise' (did you mean "
                                         "'max_batch_size'?); known: add_bos_token, attn_implementation, device_map, "
                                         "max_batch_size, tokenizer"),
    ("transformers", "add_bos_token=maybe", "backend 'transformers': --backend-arg add_bos_token=maybe: Input should be a "
                                            "valid boolean"),
    ("vllm", "tensor_paralel_size=2", "backend 'vllm': unknown --backend-arg 'tensor_paralel_size' (did you mean "
                                      "'tensor_parallel_size'?); known: add_bos_token, cpu_kvcache_space, "),
    ("vllm", "gpu_memory_utilization=1.5", "backend 'vllm': --backend-arg gpu_memory_utilization=1.5: Input should be less "
                                           "than or equal to 1 (gpu_memory_utilization: fraction of GPU memory vLLM may take)"),
    ("openai", "concurency=8", "backend 'openai': unknown --backend-arg 'concurency' (did you mean 'concurrency'?); known: "),
    ("openai", "concurrency=many", "backend 'openai': --backend-arg concurrency=many: Input should be a valid integer"),
    ("dummy", "rpely=x", "backend 'dummy': unknown --backend-arg 'rpely' (did you mean 'reply'?); known: reply"),
]


@pytest.mark.parametrize("backend,pair,expected", BACKEND_ERRORS, ids=[f"{b}-{p.split('=')[0]}" for b, p, _ in BACKEND_ERRORS])
def test_backend_args_are_checked_by_the_backends_model_before_any_work(tmp_path, backend, pair, expected):
    printed = _cli_error(tmp_path, "--backend", backend, "--backend-arg", pair)
    assert printed.startswith(expected), printed


def test_backend_args_are_parsed_once_typed_and_recorded_typed():
    from jlce.backendargs import backend_options, parse_for_spec
    from jlce.backends.vllm.options import VLLMOptions
    from jlce.registry import get_registry

    backends = get_registry().backends
    options = RunOptions(model="m", tasks="t", backend="vllm",
                         backend_options={"max_num_seqs": "8", "enforce_eager": "true", "quantization": "fp8"})
    config = options.backend_config(backends["vllm"])
    assert isinstance(config.options, VLLMOptions)
    assert (config.options.max_num_seqs, config.options.enforce_eager, config.options.quantization) == (8, True, "fp8")
    assert backend_options(VLLMOptions, config.options, "vllm") is config.options  # the backend does not parse again
    assert pickle.loads(pickle.dumps(config)) == config  # as it travels to Ray replicas (jlce.replicas)
    assert options.public(config.options)["backend_options"] == {"max_num_seqs": 8, "enforce_eager": True, "quantization": "fp8"}
    # text stays text: `tokenizer=none` (text-only prompts) no longer turns into None on the way
    assert parse_for_spec(backends["openai"], {"tokenizer": "none", "concurrency": "2"}).tokenizer == "none"
    # the Python API may give typed values
    assert parse_for_spec(backends["openai"], {"concurrency": 2, "timeout": 5}).timeout == 5.0
    typed = parse_for_spec(backends["transformers"], {"add_bos_token": "false", "max_batch_size": "8"})
    assert (typed.add_bos_token, typed.max_batch_size) == (False, 8)


def test_a_backend_without_an_options_model_gets_the_text_pairs():
    from jlce.backendargs import parse_for_spec
    from jlce.specs import BackendSpec

    spec = BackendSpec("plain", factory=lambda config: None)
    assert parse_for_spec(spec, {"fail_after": "3"}) == {"fail_after": "3"}


def test_an_options_model_that_cannot_be_imported_is_the_plugins_error():
    from jlce.backendargs import parse_for_spec
    from jlce.errors import PluginError
    from jlce.specs import BackendSpec

    with pytest.raises(PluginError, match="backend 'broken' \\(plugin 'someone'\\): cannot import its options model"):
        parse_for_spec(BackendSpec("broken", "x:y", plugin="someone", options="no_such_module_x:Options"), {})
    with pytest.raises(PluginError, match="must be a pydantic BaseModel class"):
        parse_for_spec(BackendSpec("broken", "x:y", plugin="someone", options=dict), {})


def test_backend_config_comes_from_the_fields_marked_to_backend():
    from jlce.presets import DEEPSEEK_R1
    from jlce.runconfig import _check_backend_fields

    _check_backend_fields()  # every ToBackend option is a BackendConfig field and the reverse
    options = RunOptions(model="m", tasks="t", dtype="float16", seed=7, batch_size="auto", adapter="a", max_length=64)
    config = options.backend_config()
    assert (config.model, config.dtype, config.seed, config.batch_size, config.adapter, config.max_length) == \
        ("m", "float16", 7, "auto", "a", 64)
    assert config.chat_template is None and options.backend_config(preset=DEEPSEEK_R1).chat_template is True
    assert RunOptions(model="m", tasks="t", chat_template=False).backend_config(preset=DEEPSEEK_R1).chat_template is False


def test_the_command_line_passes_only_what_was_given():
    from jlce.cli.main import run
    from jlce.cli.run_options import run_option_values
    from jlce.runconfig import make_run_options

    def given(*args: str) -> dict:
        context = run.make_context("run", ["-m", "m", "-t", "t", *args])
        return run_option_values(context, dict(context.params))

    assert given() == {"model": "m", "tasks": "t"}  # the defaults live in RunOptions only
    values = given("--no-cache", "-q", "--no-chat-template", "--profile-interval", "0.5", "--profile", "timing, memory",
                   "--backend-arg", "a=1", "--backend-arg", "b = x=y", "--batch-size", "auto")
    assert values == {"model": "m", "tasks": "t", "use_cache": False, "show_progress": False, "chat_template": False,
                      "profile_options": {"interval": "0.5"}, "profile": "timing, memory",
                      "backend_options": {"a": "1", "b": "x=y"}, "batch_size": "auto"}
    options = make_run_options(**values)
    assert (options.profile_options, options.profile, options.batch_size) == ({"interval": 0.5}, ("timing", "memory"), "auto")
    for name in RunOptions.model_fields:  # every KEY=VALUE option names its own flag when a pair is malformed
        cli = cli_of(name)
        if cli is not None and cli.multiple and cli.metavar == "KEY=VALUE":
            with pytest.raises(UserError, match=f"^{cli.flags[0]} expects KEY=VALUE, got 'oops'$"):
                given(cli.flags[0], "oops")


def test_a_cli_run_records_the_backend_args_as_the_backend_read_them(tmp_path):
    result = run_jlce("run", "--model", "toy", "--backend", "dummy", "--backend-arg", "reply=123", "--tasks", "jcommonsenseqa",
                      "--data", "fixture", "--limit", "2", "--no-cache", "-q", "-o", str(tmp_path / "run"),
                      env=jlce_env(tmp_path / "cache"), timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["config"]["backend_options"] == {"reply": "123"}  # text, as the dummy backend declares it
    assert results["model"]["fingerprint"]["reply"] == "123"
    shown = run_jlce("show", "backend", "vllm", env=jlce_env(tmp_path / "cache"))
    assert shown.returncode == 0 and "tensor_parallel_size" in shown.stdout and "GPUs per model replica" in shown.stdout
