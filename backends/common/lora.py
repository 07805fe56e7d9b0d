"""LoRA adapters (peft format): identity for fingerprints, a shape check against the base model,
and loading onto a transformers model (optionally merged).

An adapter directory holds `adapter_config.json` and `adapter_model.safetensors` (or `.bin`).
Its identity (path, sha256 of weights and config, rank, alpha, target modules, base model) goes
into the model fingerprint, so a cached answer is never reused across adapters. Before any model
loads, the adapter's tensor shapes are compared with the base model's weights (safetensors headers
only, nothing is read into memory): an adapter trained for another model fails with a `UserError`
naming the first module that does not fit.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jlce.errors import UserError

log = logging.getLogger(__name__)

CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# peft key: base_model.model.<module path>.lora_A.weight (the adapter name is stripped on save)
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>A|B)(?:\.[^.]+)?\.weight$")


@dataclass(frozen=True)
class AdapterIdentity:
    """What identifies an adapter's effect on answers."""

    path: str
    weights_sha256: str
    config_sha256: str
    peft_type: str
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    base_model: str | None
    use_rslora: bool = False
    use_dora: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


def resolve_adapter_dir(name: str) -> Path:
    """A local adapter directory, or a hub id fetched through the Hugging Face cache."""
    text = (name or "").strip()
    if not text:
        raise UserError("--adapter is empty; give the adapter directory")
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise UserError(f"adapter '{name}' is a file; give the adapter directory (with {CONFIG_FILE})")
    if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise UserError(f"adapter directory '{name}' does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(text, allow_patterns=[CONFIG_FILE, *WEIGHT_FILES]))
    except Exception as error:  # offline, unknown repo, no permission
        raise UserError(f"cannot fetch adapter '{name}' from the hub: {str(error).splitlines()[0]}") from error


def _read_config(directory: Path) -> dict[str, Any]:
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"'{directory}' is not a peft adapter: {CONFIG_FILE} is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"unreadable {config_path}: {error}") from error
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is not a JSON object")
    return config


def adapter_weight_file(directory: Path) -> Path:
    for name in WEIGHT_FILES:
        if (directory / name).is_file():
            return directory / name
    raise UserError(f"adapter '{directory}' has no weights ({' or '.join(WEIGHT_FILES)})")


def adapter_identity(path: str | Path) -> AdapterIdentity:
    """Read and hash a LoRA adapter. Raises `UserError` for anything that is not a peft LoRA adapter."""
    from jlce.backends.common.fingerprint import file_sha256

    directory = resolve_adapter_dir(str(path))
    config = _read_config(directory)
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise UserError(f"adapter '{path}' is of type '{peft_type or 'unknown'}'; only LoRA adapters are supported")
    weights = adapter_weight_file(directory)
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # peft allows a regular expression
        targets = [targets]
    rank, alpha = config.get("r"), config.get("lora_alpha")
    if not isinstance(rank, int) or rank < 1:
        raise UserError(f"adapter '{path}': {CONFIG_FILE} has no valid rank 'r' ({rank!r})")
    return AdapterIdentity(
        path=str(directory),
        weights_sha256=file_sha256(weights),
        config_sha256=file_sha256(directory / CONFIG_FILE),
        peft_type=peft_type,
        rank=rank,
        alpha=float(alpha if alpha is not None else rank),
        target_modules=tuple(sorted(str(t) for t in targets)),
        base_model=config.get("base_model_name_or_path"),
        use_rslora=bool(config.get("use_rslora", False)),
        use_dora=bool(config.get("use_dora", False)),
    )


def _safetensors_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from safetensors headers (no tensor data is read)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        with safe_open(str(file), framework="numpy") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a dict
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def _expected_modules(adapter_shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, int]]:
    """Module path -> (out_features, in_features) implied by each lora_A/lora_B pair."""
    parts: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in adapter_shapes.items():
        match = _LORA_KEY.match(key)
        if match and len(shape) == 2:
            parts.setdefault(match["module"], {})[match["part"]] = shape
    return {module: (p["B"][0], p["A"][1]) for module, p in parts.items() if "A" in p and "B" in p}


def check_adapter_fits(identity: AdapterIdentity, model_dir: Path | None, model_name: str) -> None:
    """Raise `UserError` when the adapter's LoRA matrices do not fit the base model's weights.

    Checks every adapted linear module: the module must exist in the base checkpoint with weight
    shape (out_features, in_features) equal to (rows of lora_B, columns of lora_A). Needs
    safetensors files on both sides; otherwise the check is left to the loader.
    """
    from jlce.backends.common.fingerprint import weight_files

    adapter_file = adapter_weight_file(Path(identity.path))
    if model_dir is None or adapter_file.suffix != ".safetensors":
        return
    base_files = [f for f in weight_files(model_dir) if f.suffix == ".safetensors"]
    if not base_files:
        return
    expected = _expected_modules(_safetensors_shapes([adapter_file]))
    base = _safetensors_shapes(base_files)
    trained_on = f" (it was trained on '{identity.base_model}')" if identity.base_model else ""
    if not expected:
        raise UserError(f"adapter '{identity.path}' holds no LoRA weight pairs (lora_A/lora_B)")
    for module, (out_features, in_features) in sorted(expected.items()):
        shape = base.get(f"{module}.weight")
        if shape is None:
            raise UserError(f"adapter '{identity.path}' does not fit model '{model_name}': the model has no "
                            f"module '{module}'{trained_on}")
        if tuple(shape) != (out_features, in_features):
            raise UserError(
                f"adapter '{identity.path}' does not fit model '{model_name}': '{module}' is "
                f"{shape[0]}x{shape[1]} in the model but {out_features}x{in_features} in the adapter{trained_on}"
            )
    if identity.base_model and Path(identity.base_model).name != Path(model_name.rstrip("/")).name:
        log.warning("adapter %s names base model '%s'; evaluating it on '%s' (shapes fit)",
                    identity.path, identity.base_model, model_name)


def load_adapter(model, adapter_path: str | Path, merge: bool):
    """The transformers `model` with the LoRA adapter applied: a `PeftModel`, or with `merge=True`
    the plain model with the adapter merged into its weights. Bad adapters raise `UserError`."""
    try:
        from peft import PeftModel
    except ImportError as error:
        raise UserError("--adapter needs peft: pip install 'jlce[lora]'") from error
    directory = resolve_adapter_dir(str(adapter_path))
    try:
        wrapped = PeftModel.from_pretrained(model, str(directory), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as error:  # size mismatch, missing target modules
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"adapter '{adapter_path}' does not fit the model: {first}") from error
    result = wrapped.merge_and_unload() if merge else wrapped
    result.eval()
    return result
