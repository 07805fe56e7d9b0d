"""Keep credentials out of anything JLCE writes (results, provenance, logs).

A name is secret when it reads like a credential (`*_TOKEN`, `*_KEY`, `*_SECRET`, `*PASSWORD*`,
`*CREDENTIAL*`, `*_PASS`, `*_KEYS`, `*_CREDS`, `*_PWD`, `*_DSN`, ...); a value is secret when it looks like a key whatever its name (`hf_...`,
`sk-...`, `ghp_...`, AWS key ids, JWTs, long random-looking strings). Redacted values are
replaced by `REDACTED`, so the record still says that the variable was set.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REDACTED = "<redacted>"

# Environment variables that change speed, memory or numerics: recorded in provenance.
PERFORMANCE_ENV_PREFIXES: tuple[str, ...] = (
    "CUDA_", "CUDNN_", "CUBLAS_", "NVIDIA_", "HIP_", "HSA_", "ROCR_", "ROCM_", "RCCL_", "NCCL_",
    "MIOPEN_", "TORCH_", "PYTORCH_", "VLLM_", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "GOMP_",
    "TOKENIZERS_", "HF_", "TRANSFORMERS_", "SAFETENSORS_", "JLCE_",
    "LD_PRELOAD", "MALLOC_", "ACCELERATE_", "BNB_", "TRITON_",
)

_SECRET_NAME = re.compile(
    # whole words between underscores (or the ends): DB_PASS, API_KEYS, AWS_CREDS, SMTP_PWD, ...
    r"(^|_)(TOKEN|SECRETS?|PASSWORDS?|PASSWD|PASSPHRASE|PASS|PWD|CREDENTIALS?|CREDS?|APIKEYS?|"
    r"PRIVATE|AUTH|AUTHORIZATION|BEARER|COOKIES?|JWT|SALT|SIGNATURE|DSN|CONNECTION_STRING|WEBHOOK)($|_)"
    r"|_KEYS?$|_KEYS?_|^KEYS?_"
    # and run together: OPENAI_APIKEY, MYPASSWORD, GITHUBTOKEN, X_ACCESSKEY, ...
    r"|PASSWORD|PASSWD|CREDENTIAL|SECRET|PRIVATE_?KEY|ACCESS_?KEY|APIKEY|AUTH_?TOKEN|SESSION_?ID|COOKIE|KEY_?ID$|TOKEN$|_PAT$",
    re.IGNORECASE,
)

# Tokenizer vocabulary entries named like credentials (`eos_token` in a model config) are not secrets.
_VOCABULARY_TOKENS = frozenset(
    f"{kind}_token" for kind in ("bos", "eos", "pad", "unk", "sep", "cls", "mask", "stop", "start", "end", "image", "audio", "video")
)

# Values that are keys whatever the variable is called.
_SECRET_VALUE = re.compile(
    r"hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|sk-[A-Za-z0-9_\-]{16,}"  # OpenAI-style
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{16,}"  # GitLab
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|(A3T[A-Z0-9]|AKIA|ASIA)[A-Z0-9]{16}"  # AWS key id
    r"|AIza[0-9A-Za-z_\-]{30,}"  # Google API key
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWT
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|://[^/\s:@]+:[^/\s@]+@"  # credentials inside a URL
)
# Generated keys: a run of 16+ base64 characters (not a path: no leading "/") that mixes upper
# case, lower case and digits with near-maximal character entropy. Model names
# ("Qwen2.5-32B-Instruct"), UUIDs and hex digests (git commits, weight hashes) do not qualify.
_RANDOM_LOOKING = re.compile(r"[A-Za-z0-9+/=]{16,}")
_MIN_RELATIVE_ENTROPY = 0.8


def is_secret_name(name: str) -> bool:
    """True for names that read like credentials: `HF_TOKEN`, `OPENAI_API_KEY`, `AWS_SECRET_ACCESS_KEY`,
    `DB_PASSWORD`, `api_key`... (`TOKENIZERS_PARALLELISM` and `VLLM_MAX_TOKENS` are not)."""
    return name.lower() not in _VOCABULARY_TOKENS and bool(_SECRET_NAME.search(name))


def _looks_random(token: str) -> bool:
    if token.startswith("/") or not (any(c.isupper() for c in token) and any(c.islower() for c in token)
                                     and any(c.isdigit() for c in token)):
        return False
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return entropy >= _MIN_RELATIVE_ENTROPY * math.log2(min(len(token), 64))


def is_secret_value(value: str) -> bool:
    """True when `value` contains something shaped like a key or token."""
    if _SECRET_VALUE.search(value):
        return True
    return any(_looks_random(match.group(0)) for match in _RANDOM_LOOKING.finditer(value))


def _can_hold_secret(value: Any) -> bool:
    """Numbers, booleans and None are measurements or flags (`kv_bytes_per_token: 512`), never credentials."""
    return not (value is None or isinstance(value, (bool, int, float)))


def redact_value(name: str, value: Any) -> Any:
    """`value`, or `REDACTED` when the name reads like a credential (and the value is not a plain
    number, flag or None), or when a string value looks like a key."""
    if is_secret_name(name) and _can_hold_secret(value):
        return REDACTED
    if isinstance(value, str) and is_secret_value(value):
        return REDACTED
    return value


def redact_env(environ: Mapping[str, str], prefixes: Iterable[str] | None = PERFORMANCE_ENV_PREFIXES) -> dict[str, str]:
    """The variables whose names start with one of `prefixes` (all when None), sorted, secrets redacted."""
    chosen = tuple(prefixes) if prefixes is not None else None
    return {
        name: redact_value(name, value)
        for name, value in sorted(environ.items())
        if chosen is None or name.startswith(chosen)
    }


def redact_mapping(obj: Any) -> Any:
    """A copy of nested dicts/lists with secret-named keys and secret-looking strings redacted."""
    if isinstance(obj, Mapping):
        return {key: (REDACTED if is_secret_name(str(key)) and _can_hold_secret(value) else redact_mapping(value))
                for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_mapping(item) for item in obj]
    if isinstance(obj, str) and is_secret_value(obj):
        return REDACTED
    return obj


def redact_args(argv: Sequence[str]) -> list[str]:
    """A command line with secrets redacted: `--api-key X`, `--hf-token=X`, `api_key=X`, and key-shaped words."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, value = arg.partition("=")
        flag = name.lstrip("-").replace("-", "_")
        if eq and is_secret_name(flag):
            out.append(f"{name}={REDACTED}")
        elif name.startswith("-") and not eq and is_secret_name(flag):
            out.append(arg)
            hide_next = True
        elif is_secret_value(arg):
            out.append(REDACTED)
        else:
            out.append(arg)
    return out
