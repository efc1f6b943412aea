"""The samples and the result say how every output was made: a script that imports only
transformers (no promot-bench) re-decodes a saved model's outputs from the recorded prompts and
settings alone, and matches every one."""

import json
import subprocess
import sys

import pytest

from promot_bench.run import runner
from promot_bench.run.options import RunOptions

REDECODE = r"""
import gzip, json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

result_path, model_dir = sys.argv[1], sys.argv[2]
result = json.load(open(result_path))
model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
tok = AutoTokenizer.from_pretrained(model_dir)
samples = result_path.replace(".json", ".samples.jsonl.gz")


def read(path):
    return [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8") if line.strip()]


rows = read(samples)
if rows[0].get("packed") == 2:  # docs/samples.schema.json: shared phases, column blocks
    import os

    lines, rows, befores = rows[1:], [], {}  # befores: the shared phases' items
    for line in lines:
        if "from" in line:
            shared = read(os.path.join(os.path.dirname(samples), line["from"]))
            befores.update({(b["task"], b["doc_id"]): b for b in shared})
            continue
        columns = line["columns"]
        for n, doc_id in enumerate(columns["doc_id"]):
            row = {"phase": line["phase"], "task": line["task"]}
            for key in line["keys"]:  # a key without a column repeats its shared item's
                own = columns.get(key)
                row[key] = own[n] if own else befores[(line["task"], doc_id)][key]
            rows.append(row)
matched = total = 0
for row in rows:
    if row["phase"] != "after":
        continue
    how = result["after"][row["task"]]["decoding"]
    if how["output_type"] != "generate_until" or how["chat_template"] or how["soft_prompt_tokens"]:
        raise SystemExit(f"cannot redo {row['task']}: {how}")
    ids = tok(row["prompt"], add_special_tokens=False)["input_ids"]
    if how["bos_prepended"]:
        ids = [tok.bos_token_id] + ids
    ids = ids[-(how["max_length"] - how["max_gen_toks"]):]
    new = []
    with torch.no_grad():
        for _ in range(how["max_gen_toks"]):
            logits = model(torch.tensor([ids + new])).logits[0, -1]
            token = int(logits.argmax())
            if token == tok.eos_token_id:
                break
            new.append(token)
            if any(u in tok.decode(new, skip_special_tokens=True) for u in how["until"]):
                break
    text = tok.decode(new, skip_special_tokens=True)
    for u in how["until"]:
        text = text.split(u)[0]
    total += 1
    matched += text == row["output"]
print(json.dumps({"matched": matched, "total": total}))
"""


@pytest.mark.slow  # over 8 s here: the fast lane's rule
def test_outputs_re_decode_from_the_recorded_settings_with_transformers_alone(
    tiny_llama_dir, tmp_path, private_cache
):

    plan = runner.plan(
        RunOptions(
            tuner="ft",
            train="nli",
            model=str(tiny_llama_dir),
            steps=2,
            limit=3,
            out=tmp_path,
            suite="v1",
            save_model=True,
            overrides={"batch_size": "2", "checkpoint_every": "1", "keep_best": "false"},
        )
    )
    result = runner.execute(plan, progress=False)
    how = next(iter(result["after"].values()))["decoding"]
    assert how["chat_template"] is False and how["max_gen_toks"] and "bos_prepended" in how
    script = tmp_path / "redecode.py"
    script.write_text(REDECODE)
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            str(script),
            str(plan.result_path),
            str(plan.folder / "seed0.model"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["total"] >= 8 * 3 and counts["matched"] == counts["total"]
