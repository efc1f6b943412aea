"""A run's samples file: one item per line, with its `phase` — before, after,
target_pretrained, target_tuned — and its `task`; gzip-compressed (`seed<k>.samples.jsonl.gz`)
since the committed results outgrew a lean repository (a tenth of the size), plain in results
written before. Readers take both: a result names its file, and where that plain file is gone
its compressed one (`<name>.gz`, what `compress_tree` leaves) is read in its place.

Packed (`pack`): the pretrained model's items (phase "before") are the same for every run that
shares its baseline — every seed, tuner and target of a model and suite — so they are kept once,
in a shared file named by their content (`<model>/<suite>/baselines/<sha>.samples.jsonl.gz`),
which the run's file names in its first line (`{"before_from": ...}`); and an "after" item whose
prompt is its "before" item's carries no prompt of its own. Readers put both back: every reader
sees every phase and every prompt, as in a file written whole.

The leaderboard needs each file several times (mde over seeds, versus ft, flips of older
results): it is parsed once per path and content (modification time and size), and callers
share the parsed items read-only."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
from pathlib import Path

SUFFIX = ".gz"


def locate(path) -> Path | None:
    """The samples file a result names, or its compressed copy; None where neither is."""
    path = Path(path)
    for candidate in (path, path.with_name(path.name + SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def by_phase(path) -> dict:
    """phase -> task -> the items, in file order."""
    found = locate(path)
    if found is None:
        raise FileNotFoundError(path)
    stat = os.stat(found)
    return _parsed(os.fspath(found), stat.st_mtime_ns, stat.st_size)


def items(path) -> list[dict]:
    """Every item of a samples file, in file order (a packed file's shared "before" items
    first, and each "after" item with its prompt)."""
    found = locate(path)
    if found is None:
        raise FileNotFoundError(path)
    with opened(found) as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    if lines and "before_from" in lines[0]:
        before = items(found.parent / lines[0]["before_from"])
        prompts = {(b["task"], b["doc_id"]): b.get("prompt") for b in before}
        rest = [
            {**item, "prompt": prompts.get((item["task"], item["doc_id"]))}
            if item["phase"] == "after" and "prompt" not in item
            else item
            for item in lines[1:]
        ]
        return before + rest
    return lines


def pack(lines: list[dict], folder: Path, shared: Path) -> str:
    """A run's samples (every phase, in order) as its packed file's text, to be written in
    `folder`: the "before" items go to a file under `shared` named by their content (written
    once, whole or absent), "after" items drop a prompt equal to their "before" item's."""
    from promot_bench.store.atomic import atomic_write_bytes
    from promot_bench.store.cache import locked
    from promot_bench.store.locks import lock_path

    before = [item for item in lines if item["phase"] == "before"]
    if not before:
        return dump(lines)
    text = dump(before)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    target = shared / f"{digest}.samples.jsonl.gz"
    with locked(lock_path(target)):  # runs of other cells share the file
        if not target.is_file():
            # under the lock, a temporary of this file is a killed writer's
            for stale in shared.glob(f".{target.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            atomic_write_bytes(target, compressed(text))
    prompts = {(b["task"], b["doc_id"]): b.get("prompt") for b in before}
    rest = [
        {k: v for k, v in item.items() if k != "prompt"}
        if item["phase"] == "after"
        and "prompt" in item
        and prompts.get((item["task"], item["doc_id"])) == item["prompt"]
        else item
        for item in lines
        if item["phase"] != "before"
    ]
    relative = os.path.relpath(target, folder)
    return dump([{"before_from": Path(relative).as_posix()}, *rest])


def dump(lines: list[dict]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in lines)


def opened(path: Path):
    if path.name.endswith(SUFFIX):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


@functools.lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    phases: dict = {}
    for item in items(path):
        phases.setdefault(item["phase"], {}).setdefault(item["task"], []).append(item)
    return phases


def compressed(text: str) -> bytes:
    """gzip with no name and no time in its header: the same text, the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def shared_folder(path: Path) -> Path:
    """Where a run's shared "before" items go: beside its model and suite's cells
    (`runs/<model>/<suite>/baselines/`)."""
    runs = next(p for p in path.parents if p.name == "runs")
    model, suite = path.relative_to(runs).parts[:2]
    return runs / model / suite / "baselines"


def compress_tree(out: Path) -> list[tuple[Path, int, int]]:
    """Every samples file under out/runs packed and compressed (whole or absent: written beside
    it, then the old one removed); (path, bytes before, after) for each one changed."""
    from promot_bench.store.atomic import atomic_write_bytes

    done = []
    found = [*Path(out, "runs").glob("**/*.samples.jsonl"), *Path(out, "runs").glob("**/*.gz")]
    for path in sorted(found):
        if any(part.endswith(".work") for part in path.parts) or "baselines" in path.parts:
            continue
        with opened(path) as handle:
            first = handle.readline()
        if first.strip() and "before_from" in json.loads(first):
            continue  # packed already
        size = path.stat().st_size
        target = path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)
        data = compressed(pack(items(path), target.parent, shared_folder(target)))
        atomic_write_bytes(target, data)
        if target != path:
            path.unlink()
        done.append((target, size, len(data)))
    return done


if __name__ == "__main__":  # python -m promot_bench.evaluate.samples RESULTS_FOLDER
    import sys

    total = [0, 0]
    for path, before, after in compress_tree(Path(sys.argv[1] if len(sys.argv) > 1 else "results")):
        total[0], total[1] = total[0] + before, total[1] + after
        print(f"{path}: {before:,} -> {after:,} bytes")
    print(f"{total[0]:,} -> {total[1]:,} bytes in all", file=sys.stderr)
