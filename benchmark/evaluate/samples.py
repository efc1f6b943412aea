"""A run's samples file: every item the run scored, with its `phase` — before, after,
target_pretrained, target_tuned — and its `task`; gzip-compressed (`seed<k>.samples.jsonl.gz`).
Readers (`items`, `by_phase`) give back every item whole, whichever of three layouts the file has:

- plain: one item per line (results written before packing; `<name>` or `<name>.gz`);
- packed, first format (first line `{"before_from": ...}`): the "before" items in a shared file,
  then one "after", target item per line, an "after" item's prompt dropped where it was its
  "before" item's;
- packed, format 2 (`pack`; first line `{"packed": 2}`), what runs write and `compress_tree`
  leaves: a phase that is the same for every run sharing its inputs — "before" (every seed, tuner
  and target of a model and suite) and "target_pretrained" (every seed and tuner of a target) —
  is a line naming a shared file (`<model>/<suite>/baselines/<sha>.samples.jsonl.gz`, named by
  its content, written once); the other phases are blocks, one per run of items of one phase,
  task and set of keys, with a column per key (gzip finds a column's repeats where it missed an
  item's: a cell's file is half the size), and a column that repeats the reference phase's value
  for every item (an "after" item's prompt and gold answer, its "before" item's) is left out.
  The lines' pydantic models and their published schema: store/samples_schema.py.

The leaderboard needs each file several times (mde over seeds, versus ft, flips of older
results): it is parsed once per path and content (modification time and size), and callers
share the parsed items read-only."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import itertools
import json
import os
from pathlib import Path

SUFFIX = ".gz"
FORMAT = 2
SHARED = ("before", "target_pretrained")  # phases the same for every run that shares their inputs
# whose prompts a phase has (a prompt attached as embeddings leaves the text as it was)
REFERENCE = {"after": "before", "target_tuned": "target_pretrained", "after_attached": "before"}
REPEATED = ("prompt", "gold")  # keys left out of a block where each equals its reference item's


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
    """Every item of a samples file, whole (its prompt and gold answer back where packing left
    them out), in the order the run wrote them."""
    found = locate(path)
    if found is None:
        raise FileNotFoundError(path)
    with opened(found) as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    if lines and "packed" in lines[0]:
        return _unpacked(found, lines[1:])
    if lines and "before_from" in lines[0]:
        return _unpacked_first_format(found, lines)
    return lines


def _unpacked(found: Path, blocks: list[dict]) -> list[dict]:
    def whole(block: dict, references: dict) -> list[dict]:
        if "from" in block:
            return items(found.parent / block["from"])
        return _rows(block, references)

    # the phases others refer to first (they leave nothing out), then the rest from them
    ready = {n: whole(b, {}) for n, b in enumerate(blocks) if b["phase"] not in REFERENCE}
    references = index([i for run in ready.values() for i in run])
    return [
        i for n, b in enumerate(blocks) for i in (ready[n] if n in ready else whole(b, references))
    ]


def index(items_: list[dict]) -> dict:
    """phase -> (task, doc_id) -> item."""
    found: dict = {}
    for item in items_:
        found.setdefault(item["phase"], {})[(item["task"], item["doc_id"])] = item
    return found


def _rows(block: dict, references: dict) -> list[dict]:
    columns, task = block["columns"], block["task"]
    reference = references.get(REFERENCE.get(block["phase"]), {})
    rows = []
    for number in range(len(columns["doc_id"])):
        doc_id = columns["doc_id"][number]
        row = {"phase": block["phase"], "task": task}
        for key in block["keys"]:
            row[key] = columns[key][number] if key in columns else reference[(task, doc_id)][key]
        rows.append(row)
    return rows


def _unpacked_first_format(found: Path, lines: list[dict]) -> list[dict]:
    before = items(found.parent / lines[0]["before_from"])
    prompts = {(b["task"], b["doc_id"]): b.get("prompt") for b in before}
    rest = [
        {**item, "prompt": prompts.get((item["task"], item["doc_id"]))}
        if item["phase"] == "after" and "prompt" not in item
        else item
        for item in lines[1:]
    ]
    return before + rest


def pack(lines: list[dict], folder: Path, shared: Path) -> str:
    """A run's samples (every phase, in order) as its packed file's text (format 2), to be
    written in `folder`; the shared phases' items go to files under `shared`."""
    runs = [list(run) for _, run in itertools.groupby(lines, key=lambda i: i["phase"])]
    once = {phase for phase in SHARED if sum(run[0]["phase"] == phase for run in runs) == 1}
    references = index([i for i in lines if i["phase"] in REFERENCE.values()])
    out: list[dict] = [{"packed": FORMAT}]
    for run in runs:
        phase = run[0]["phase"]
        if phase in once:
            relative = os.path.relpath(_shared_file(run, shared), folder)
            out.append({"phase": phase, "from": Path(relative).as_posix()})
            continue
        reference = references.get(REFERENCE.get(phase), {})
        for _, block in itertools.groupby(run, key=lambda i: (i["task"], tuple(i))):
            out.append(_block(list(block), reference))
    return dump(out)


def _block(block: list[dict], reference: dict) -> dict:
    keys = [k for k in block[0] if k not in ("phase", "task")]

    def repeated(key: str) -> bool:
        found = [reference.get((i["task"], i["doc_id"])) for i in block]
        return all(r is not None and key in r and r[key] == i[key] for r, i in zip(found, block))

    kept = [k for k in keys if k not in REPEATED or not repeated(k)]
    return {
        "phase": block[0]["phase"],
        "task": block[0]["task"],
        "keys": keys,
        "columns": {k: [i[k] for i in block] for k in kept},
    }


def _shared_file(run: list[dict], shared: Path) -> Path:
    """The shared file holding `run` (named by its content; written once, whole or absent)."""
    from promot_bench.store.atomic import atomic_write_bytes
    from promot_bench.store.cache import locked
    from promot_bench.store.locks import lock_path

    text = dump(run)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    target = shared / f"{digest}.samples.jsonl.gz"
    with locked(lock_path(target)):  # runs of other cells share the file
        if not target.is_file():
            # under the lock, a temporary of this file is a killed writer's
            for stale in shared.glob(f".{target.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            atomic_write_bytes(target, compressed(text))
    return target


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
    """Every samples file under out/runs packed (format 2) and compressed (whole or absent:
    written beside it, then the old one removed); (path, bytes before, after) for each one
    changed. A file in the first packed format is repacked; its shared file stays (others may
    name it)."""
    from promot_bench.store.atomic import atomic_write_bytes

    done = []
    found = [*Path(out, "runs").glob("**/*.samples.jsonl"), *Path(out, "runs").glob("**/*.gz")]
    for path in sorted(found):
        if any(part.endswith(".work") for part in path.parts) or "baselines" in path.parts:
            continue
        with opened(path) as handle:
            first = handle.readline()
        if first.strip() and json.loads(first).get("packed") == FORMAT:
            continue  # packed already
        size = path.stat().st_size
        target = path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)
        data = compressed(pack(items(path), target.parent, shared_folder(target)))
        atomic_write_bytes(target, data)
        if target != path:
            path.unlink()
        done.append((target, size, len(data)))
    return done
