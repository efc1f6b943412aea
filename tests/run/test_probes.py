"""`promot-bench probes`: trivial baselines, headroom and the gate on hand-made outputs (exact
values), the card on the tiny model end to end, and bad input refused in one line."""

import json
import string
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from promot_bench.cli import main
from promot_bench.evaluate import evaluation, probes
from promot_bench.models import specs
from promot_bench.run import baseline, probe_card, runner
from promot_bench.run.options import RunOptions
from promot_bench.run.probe_card import ProbeOptions
from promot_bench.store import card_schema
from promot_bench.train import task_data

# --- the arithmetic, on hand-made values --------------------------------------------------------


def test_label_sets_are_small_repeating_one_word_answers():
    assert probes.label_set(["True", "False", "True", "False"]) == ("False", "True")
    assert probes.label_set(["Paris", "Rome"]) is None  # every answer different: not a label set
    assert probes.label_set(["yes", "no", "no way", "yes"]) is None  # a two-word answer
    assert probes.label_set([str(i % 11) for i in range(110)]) is None  # 11 labels > MAX_LABELS
    assert probes.label_set([]) is None


def test_kinds_come_from_output_type_metrics_and_golds():
    assert probes.kind_of("multiple_choice", ["acc"], ["no", "yes"]) == "classification"
    assert probes.kind_of("generate_until", ["exact_match"], ["yes", "no"] * 5) == "classification"
    assert probes.kind_of("generate_until", ["exact_match"], ["Paris", "Rome", "Oslo"]) == "qa"
    assert (
        probes.kind_of(
            "generate_until", ["chrf", "score"], ["Englisch", "Katalanisch"], corpus_level=True
        )
        == "translation"
    )
    assert probes.kind_of("generate_until", ["bleu"], ["Ein Haus.", "Ein Baum."]) == "translation"
    assert (
        probes.kind_of("generate_until", ["rouge2", "score"], ["Returns a value.", "Opens it."])
        == "summarization"
    )
    assert probes.kind_of("generate_until", ["my_metric"], ["a b", "c d"]) is None
    assert probes.kind_of("loglikelihood", ["perplexity"], ["x"]) is None


def test_trivial_outputs_per_kind():
    assert probes.trivial_outputs(
        "classification", ["True", "False", "True"], ("False", "True")
    ) == {"constant False": ["False"] * 3, "constant True": ["True"] * 3}
    assert probes.trivial_outputs("qa", ["Rome", "Paris", "Paris", "Rome", "Oslo"]) == {
        "most frequent answer": ["Rome"] * 5
    }  # a tie goes to the answer seen first
    assert probes.trivial_outputs("translation", ["Englisch"], sources=["English"]) == {
        "copy source": ["English"]
    }
    assert probes.trivial_outputs(
        "summarization",
        ["x", "y"],
        sources=["Opens a file. Then reads it.", "One line\nand another. Yes."],
    ) == {"first sentence": ["Opens a file.", "One line"]}
    assert probes.trivial_outputs(None, ["x"]) == {}
    assert probes.trivial_outputs("translation", ["x"], sources=None) == {}  # no source found: none


def test_source_field_is_the_prompted_field_including_nested_ones():
    doc = {"source": "Mathematical notation", "target": "Mathematische Notation", "id": "en-de/1"}
    assert (
        probes.source_field(
            doc, "Translate English to German: Mathematical notation", "Mathematische Notation"
        )
        == "source"
    )
    wmt = {"translation": {"en": "A house.", "de": "Ein Haus."}}
    assert (
        probes.source_field(wmt, "Translate English to German: A house.", "Ein Haus.")
        == "translation.en"
    )
    assert probes.text_fields(wmt) == {"translation.en": "A house.", "translation.de": "Ein Haus."}
    assert probes.source_field({"q": "elsewhere"}, "Q: what? A:", "x") is None


def test_headroom_headroom_se_and_the_gate():
    assert probes.headroom(62.5, 50.0) == 12.5
    assert (
        probes.headroom(20.0, 30.0, higher_is_better=False) == 10.0
    )  # lower is better: trivial 30, model 20
    assert probes.headroom(40.0, None) is None
    assert probes.headroom_se(12.5, 2.5) == 5.0
    assert probes.headroom_se(-6.0, 2.0) == -3.0
    assert probes.headroom_se(5.0, 0.0) is None and probes.headroom_se(5.0, None) is None
    assert probes.passes(0.07, 0.03, 3.0) is True  # exactly on both boundaries
    assert probes.passes(0.06, 0.05, 9.0) is False  # 11% bad outputs
    assert probes.passes(0.0, 0.0, 2.99) is False
    assert probes.passes(0.0, 0.0, None) is False
    assert probes.best_of({"constant True": 51.0, "constant False": 49.0}) == (
        "constant True",
        51.0,
    )
    assert probes.best_of({"a": 3.0, "b": 1.0}, higher_is_better=False) == ("b", 1.0)
    assert probes.best_of({}) is None


def test_empty_and_off_format_rates():
    outputs = [" True", "", "  ", "Paris", "false.", "Neither", None, "True, because"]
    assert probes.rates(outputs, "classification", ("False", "True")) == (
        3 / 8,
        2 / 8,
    )  # Paris, Neither
    # free text: more than 2 x the gold's words + 3 is a continuation, not an answer
    golds = ["Paris", "Paris", ["Rome", "Roma, the Eternal City"], "Oslo"]
    free = ["Paris is the capital city", "Paris is the capital of France", "Rome " * 11, ""]
    assert probes.rates(free, "qa", golds=golds) == (1 / 4, 1 / 4)  # 6 words > 5; 11 <= 2 x 4 + 3
    assert probes.rates([], "qa") == (0.0, 0.0)
    assert probes.rates(["anything at all here"], None) == (
        0.0,
        0.0,
    )  # unknown kind: no format to leave


def test_score_scale_puts_fractions_on_0_100():
    assert probes.score_scale("score", "mean", [100.0, 0.0]) == 1.0
    assert probes.score_scale("acc", "mean", [1.0, 0.0, 1.0]) == 100.0
    assert probes.score_scale("rouge2", "mean", [12.5, 3.0]) == 1.0
    assert probes.score_scale("bleu", "bleu", [("a", "b")]) == 1.0


def test_summary_and_markdown():
    rows = {
        "a": {"headroom": 30.0, "passes": True},
        "b": {"headroom": 10.0, "passes": False},
        "c": {"headroom": None, "passes": False},
    }
    assert probes.summary(rows) == {
        "probes": 3,
        "passing": 1,
        "all_pass": False,
        "headroom_mean": 20.0,
        "failing": ["b", "c"],
    }
    assert probes.summary({"a": {"headroom": 5.0, "passes": True}})["all_pass"] is True
    row = {
        "kind": "qa",
        "n": 10,
        "pretrained": 80.0,
        "stderr": 4.0,
        "best_trivial": 40.0,
        "best_trivial_name": "most frequent answer",
        "headroom": 40.0,
        "headroom_se": 10.0,
        "empty_rate": 0.1,
        "off_format_rate": 0.0,
        "passes": True,
        "notes": ["a note"],
    }
    card = {
        "model": {"name": "m"},
        "eval_group": "g",
        "shots": 1,
        "limit": None,
        "gate": {"max_bad_rate": 0.1, "min_headroom_se": 3.0},
        "probes": {"p": row},
        "summary": probes.summary({"p": row}),
    }
    text = probes.markdown(card)
    assert (
        "| p | qa | 10 | 80.0 | 4.0 | 40.0 (most frequent answer) | 40.0 | 10.0 | 10% | 0% | yes |"
        in text
    )
    assert "headroom_mean 40.00; 1 of 1 probes pass." in text and "- p: a note" in text


# --- probe rows from a task's own scoring, on hand-made outputs ----------------------------------

UTILS = """
from promot_bench.tasks.metrics import (chrf_aggregation, classification_scores, qa_scores,
                                        summary_scores, translation_pair)


def label_results(doc, results):
    return classification_scores(results[0], ("yes", "no"), doc["label"])


def qa_results(doc, results):
    return qa_scores(results[0], doc["answers"])


def custom_results(doc, results):
    return {"my_match": float(results[0].strip() == doc["answers"][0])}


def translation_results(doc, results):
    return translation_pair(results[0], doc["target"], ("chrf", "score"))


def summary_results(doc, results):
    return summary_scores(results[0], doc["summary"])
"""

TEMPLATE = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    train: {folder}/{data}_train.jsonl
    test: {folder}/{data}_test.jsonl
output_type: generate_until
test_split: test
fewshot_split: train
doc_to_text: "{text}"
doc_to_target: "{target}"
process_results: !function utils.{results}
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
  do_sample: false
metric_list:
{metrics}
{extra}
"""

MEAN = "  - metric: {0}\n    aggregation: mean\n    higher_is_better: true\n"
CHRF = (
    "  - metric: {0}\n    aggregation: !function utils.chrf_aggregation\n"
    "    higher_is_better: true\n"
)

MC = """\
task: p_mc
dataset_path: json
dataset_kwargs:
  data_files:
    train: {folder}/mc_train.jsonl
    test: {folder}/mc_test.jsonl
output_type: multiple_choice
test_split: test
doc_to_text: "Q: Is {{{{n}}}} even? A:"
doc_to_target: label
doc_to_choice: ["no", "yes"]
metric_list:
  - metric: acc
"""

# "Paris" 4 times among 7 distinct answers: too many to be a label set, so a QA probe
QA_ANSWERS = [
    ["Paris"],
    ["Paris", "Paris, France"],
    ["Rome"],
    ["Paris"],
    ["Lima"],
    ["Oslo"],
    ["Paris"],
    ["Riga"],
    ["Kyiv"],
    ["Bern"],
]
SOURCES = ["English", "German", "Catalan", "Mathematical notation"]
TRANSLATIONS = ["Englisch", "Deutsch", "Katalanisch", "Mathematische Notation"]
ARTICLES = [
    "Cats sleep a lot. They also eat.",
    "Opens the file for reading. Closes it after.",
    "Dogs bark at night. Owls hoot.",
    "Returns nothing. Ever.",
]
SUMMARIES = [
    "Cats sleep a lot.",
    "Opens the file for reading.",
    "Reads a stream of bytes.",
    "Counts the rows.",
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def probe_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my_probes")
    (folder / "utils.py").write_text(UTILS)
    data = {
        "label": [{"n": i, "label": "yes" if i < 7 else "no"} for i in range(10)],
        "qa": [{"question": f"q{i}?", "answers": a} for i, a in enumerate(QA_ANSWERS)],
        "tr": [{"source": s, "target": t} for s, t in zip(SOURCES, TRANSLATIONS)],
        "sum": [{"article": a, "summary": s} for a, s in zip(ARTICLES, SUMMARIES)],
        "mc": [{"n": i, "label": int(i < 7)} for i in range(10)],
    }
    for name, rows in data.items():
        write_jsonl(folder / f"{name}_test.jsonl", rows)
        write_jsonl(folder / f"{name}_train.jsonl", rows[:2])
    specs = {
        "p_label": (
            "label",
            "Is {{n}} even? A:",
            "{{label}}",
            "label_results",
            MEAN.format("acc") + MEAN.format("score"),
            "",
        ),
        "p_qa": (
            "qa",
            "Q: {{question}} A:",
            "{{answers[0]}}",
            "qa_results",
            MEAN.format("exact_match") + MEAN.format("score"),
            "",
        ),
        "p_custom": (
            "qa",
            "Q: {{question}} A:",
            "{{answers[0]}}",
            "custom_results",
            MEAN.format("my_match"),
            "",
        ),
        "p_declared": (
            "qa",
            "Q: {{question}} A:",
            "{{answers[0]}}",
            "custom_results",
            MEAN.format("my_match"),
            "metadata:\n  probe: {kind: qa}\n",
        ),
        "p_tr": (
            "tr",
            "Translate English to German: {{source}}",
            "{{target}}",
            "translation_results",
            CHRF.format("chrf") + CHRF.format("score"),
            "",
        ),
        "p_sum": (
            "sum",
            "Article: {{article}} One sentence summary:",
            "{{summary}}",
            "summary_results",
            MEAN.format("rouge2") + MEAN.format("score"),
            "",
        ),
    }
    for name, (data_name, text, target, results, metrics, extra) in specs.items():
        (folder / f"{name}.yaml").write_text(
            TEMPLATE.format(
                name=name,
                folder=folder,
                data=data_name,
                text=text,
                target=target,
                results=results,
                metrics=metrics,
                extra=extra,
            )
        )
    (folder / "p_mc.yaml").write_text(MC.format(folder=folder))
    return folder


@pytest.fixture(scope="module")
def load(probe_folder):
    manager = evaluation.task_manager([probe_folder])
    return lambda name: task_data.load_task(name, manager)


def scores(outputs, values, score, stderr, metric="score", aggregation="mean"):
    """A cached evaluation's entry (baseline.scores_to_json) with hand-made outputs."""
    samples = [
        {
            "doc_id": i,
            "prompt": "",
            "output": o,
            "gold": None,
            **({"score": None, "pair": list(v)} if isinstance(v, tuple) else {"score": v}),
        }
        for i, (o, v) in enumerate(zip(outputs, values))
    ]
    return {
        "metric": metric,
        "score": score,
        "stderr": stderr,
        "n": len(samples),
        "aggregation": aggregation,
        "higher_is_better": True,
        "samples": samples,
    }


def test_classification_row_scores_every_constant_label(load):
    outputs = ["yes"] * 6 + ["no", "", "Paris", "no"]  # 1 empty, 1 off-format
    values = [100.0] * 6 + [0.0, 0.0, 0.0, 100.0]
    row = probe_card.probe_row(load("p_label"), scores(outputs, values, 70.0, 4.0))
    assert row["kind"] == "classification" and row["labels"] == ["no", "yes"]
    assert row["baselines"] == {
        "constant no": 30.0,
        "constant yes": 70.0,
    }  # 7 of 10 golds are "yes"
    assert (row["best_trivial"], row["best_trivial_name"]) == (70.0, "constant yes")
    assert row["headroom"] == 0.0 and row["headroom_se"] == 0.0
    assert (row["empty_rate"], row["off_format_rate"]) == (0.1, 0.1)
    assert row["passes"] is False and row["stderr_from"] == "lm-eval"


def test_qa_row_passes_the_gate_with_headroom(load):
    outputs = ["Paris", "Paris", "Rome", "Paris", "Lima", "Oslo", "Paris", "Riga", "", "Bern"]
    row = probe_card.probe_row(load("p_qa"), scores(outputs, [100.0] * 8 + [0.0] * 2, 80.0, 4.0))
    assert row["kind"] == "qa"
    assert row["baselines"] == {"most frequent answer": 40.0}  # "Paris": 4 of the 10 items
    assert row["headroom"] == 40.0 and row["headroom_se"] == 10.0
    assert (row["empty_rate"], row["off_format_rate"]) == (0.1, 0.0)
    assert row["passes"] is True


def test_translation_row_copies_the_source_and_bootstraps_chrf(load):
    pairs = [
        ("Englisch", "Englisch"),
        ("Deutsche", "Deutsch"),
        ("", "Katalanisch"),
        ("Mathematische Notation", "Mathematische Notation"),
    ]
    chrf = sacrebleu.corpus_chrf([p for p, _ in pairs], [[r for _, r in pairs]]).score
    row = probe_card.probe_row(
        load("p_tr"),
        scores([p for p, _ in pairs], pairs, chrf, None, aggregation="chrf_aggregation"),
    )
    assert row["kind"] == "translation"
    copied = sacrebleu.corpus_chrf(SOURCES, [TRANSLATIONS]).score
    assert row["baselines"] == {"copy source": pytest.approx(copied)}
    assert row["headroom"] == pytest.approx(chrf - copied)
    assert row["stderr_from"] == "bootstrap (10000)" and row["stderr"] > 0
    assert row["headroom_se"] == pytest.approx((chrf - copied) / row["stderr"])
    assert (row["empty_rate"], row["off_format_rate"]) == (0.25, 0.0)
    assert "source text: field 'source'" in row["notes"]


def test_summarization_row_scores_the_first_sentence(load):
    outputs = [
        "Cats sleep a lot.",
        "Opens the file for reading.",
        "Reads a stream of bytes.",
        "Counts the rows.",
    ]
    row = probe_card.probe_row(load("p_sum"), scores(outputs, [100.0] * 4, 100.0, 0.0))
    assert row["kind"] == "summarization"
    # the first two articles' first sentences are their summaries (ROUGE-2 100), the others share no
    # bigram
    assert row["baselines"] == {"first sentence": 50.0}
    assert (
        row["headroom"] == 50.0 and row["headroom_se"] is None and row["passes"] is False
    )  # stderr 0


def test_multiple_choice_row_uses_the_tasks_choices_on_the_0_100_scale(load):
    values = [1.0] * 9 + [0.0]
    row = probe_card.probe_row(load("p_mc"), scores([-1.5] * 10, values, 0.9, 0.1, metric="acc"))
    assert row["kind"] == "classification" and row["scale"] == 100.0
    assert row["baselines"] == {
        "constant no": pytest.approx(30.0),
        "constant yes": pytest.approx(70.0),
    }
    assert row["pretrained"] == pytest.approx(90.0) and row["stderr"] == pytest.approx(10.0)
    assert row["headroom"] == pytest.approx(20.0) and row["headroom_se"] == pytest.approx(2.0)
    assert row["passes"] is False
    assert (row["empty_rate"], row["off_format_rate"]) == (0.0, 0.0)


def test_unknown_kind_gets_no_baseline_and_a_note_unless_declared(load):
    outputs = ["Paris"] * 10
    values = [1.0 if a[0] == "Paris" else 0.0 for a in QA_ANSWERS]
    row = probe_card.probe_row(
        load("p_custom"), scores(outputs, values, 0.4, 0.15, metric="my_match")
    )
    assert row["kind"] is None and row["baselines"] == {} and row["best_trivial"] is None
    assert row["headroom"] is None and row["passes"] is False and "kind unknown" in row["notes"][0]
    declared = probe_card.probe_row(
        load("p_declared"), scores(outputs, values, 0.4, 0.15, metric="my_match")
    )
    assert declared["kind"] == "qa" and declared["baselines"] == {
        "most frequent answer": pytest.approx(40.0)
    }
    assert declared["pretrained"] == pytest.approx(40.0) and declared["headroom"] == pytest.approx(
        0.0
    )


# --- the card end to end on the tiny model
# ---------------------------------------------------------


def test_the_default_card_is_v2s(tiny_llama_dir, tmp_path):
    for shots, group in ((1, "promot_mini_v2"), (4, "promot_mini_v2_4shot")):
        plan = probe_card.plan(ProbeOptions(model=str(tiny_llama_dir), shots=shots, out=tmp_path))
        assert plan.group == group and probe_card.card_path(plan).name == f"mini-{shots}shot.json"


def test_card_on_the_tiny_model_end_to_end(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    # v1: its probes span every kind (v2's are all QA-shaped)
    plan = probe_card.plan(
        ProbeOptions(model=str(tiny_llama_dir), suite="v1", limit=5, out=tmp_path / "out")
    )
    card = probe_card.execute(plan)
    path = tmp_path / "out" / "probes" / plan.spec.name / "mini-v1-1shot.json"
    assert probe_card.card_path(plan) == path and json.loads(path.read_text()) == card
    assert card_schema.problem(card) is None  # what a card holds is what its schema says
    assert counted_evaluations == [["promot_mini"]]  # one evaluation pass
    cached = [
        json.loads(f.read_text()) for f in (private_cache / "baselines").glob("*/scores.json")
    ]
    assert (
        len(cached) == 1
        and cached[0]["key"]["tasks"] == "promot_mini"
        and cached[0]["key"]["limit"] == 5
    )
    entries = cached[0]["scores"]
    assert set(card["probes"]) == set(entries) and len(entries) >= 8
    assert {row["kind"] for row in card["probes"].values()} == set(probes.KINDS)
    for name, row in card["probes"].items():
        s = entries[name]
        assert row["n"] == 5 == len(s["samples"]) and row["pretrained"] == s["score"]
        assert row["headroom"] == pytest.approx(row["pretrained"] - row["best_trivial"])
        golds = [r["gold"] for r in s["samples"]]
        outputs = [r["output"] for r in s["samples"]]
        assert row["empty_rate"] == sum(not o.strip() for o in outputs) / 5
        if row["kind"] == "classification":
            for label in row["labels"]:
                assert row["baselines"][f"constant {label}"] == 100.0 * golds.count(label) / 5
            firsts = [
                o.split()[0].strip(string.punctuation).casefold() for o in outputs if o.strip()
            ]
            labels = {label.casefold() for label in row["labels"]}
            assert row["off_format_rate"] == sum(first not in labels for first in firsts) / 5
        elif row["kind"] == "qa":
            most = max(golds.count(g) for g in golds)
            assert row["baselines"]["most frequent answer"] >= 100.0 * most / 5
        elif row["kind"] == "translation":
            assert (
                row["stderr_from"] == "bootstrap (10000)"
                and row["stderr"] > 0
                and s["stderr"] is None
            )
        assert row["passes"] == (
            row["empty_rate"] + row["off_format_rate"] <= 0.1
            and row["headroom_se"] is not None
            and row["headroom_se"] >= 3
        )
    headrooms = [row["headroom"] for row in card["probes"].values()]
    assert card["summary"]["headroom_mean"] == pytest.approx(sum(headrooms) / len(headrooms))
    assert card["summary"]["all_pass"] is False  # an untrained tiny model sees nothing
    assert card["command"].startswith("promot-bench probes --shots 1") and card["limit"] == 5
    table = path.with_suffix(".md").read_text()
    assert all(f"| {name} |" in table for name in card["probes"]) and "headroom_mean" in table

    # A second card reads the cached evaluation, and a run with the same options shares its entry.
    again = probe_card.execute(plan)
    assert counted_evaluations == [["promot_mini"]] and again["probes"] == card["probes"]
    run_plan = runner.plan(
        RunOptions(
            tuner="ft",
            train="nli",
            suite="v1",
            model=str(tiny_llama_dir),
            limit=5,
            out=tmp_path / "runs",
        )
    )
    loaded = specs.load(plan.spec)
    assert baseline.baseline_key(run_plan, loaded) == baseline.baseline_key(plan, loaded)
    assert run_plan.group == plan.group


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_cli_card_for_your_own_probe_set(tiny_llama_dir, tmp_path, probe_folder, private_cache):
    out = tmp_path / "out"
    done = run_cli(
        "probes",
        "--model",
        tiny_llama_dir,
        "--eval-tasks",
        "p_mc,p_qa",
        "--include-path",
        probe_folder,
        "--shots",
        0,
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    path = out / "probes" / specs.resolve(str(tiny_llama_dir)).name / "tasks-p_mc+p_qa-0shot.json"
    card = json.loads(path.read_text())
    assert card_schema.problem(card) is None
    assert card["shots"] == 0 and card["suite"] is None and card["eval_group"] == "p_mc,p_qa"
    assert card["probes"]["p_mc"]["baselines"] == {
        "constant no": pytest.approx(30.0),
        "constant yes": pytest.approx(70.0),
    }
    assert card["probes"]["p_qa"]["baselines"] == {"most frequent answer": 40.0}
    assert card["probes"]["p_mc"]["n"] == card["probes"]["p_qa"]["n"] == 10
    assert "| p_mc | classification | 10 |" in done.stdout and f"card: {path}" in done.stdout
    assert path.with_suffix(".md").read_text() in done.stdout


BAD_INPUT = [
    (["--suite", "huge"], ["--suite", "'v2', 'v1', 'study'"]),
    (["--shots", "3"], ["--shots 3", "1, 4"]),
    (["--eval-tasks", "p_qa", "--shots", "33"], ["--shots", "0 and 32"]),
    (["--model", "not a model"], ["unknown model", "smollm2-135m"]),
    (["--model", "./missing/model"], ["no such file"]),
    pytest.param(  # lm-eval indexes every task it has: 6 s
        ["--eval-tasks", "promot_nope"],
        ["promot_nope", "is not an lm-eval task"],
        marks=pytest.mark.slow,
    ),
    (["--limit", "0"], ["--limit", "positive"]),
]


def one_line_error(capsys, argv) -> str:
    """Runs the CLI in this process; asserts exit 2 and one line on stderr, returns that line."""
    code = main(["probes", *map(str, argv)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("promot-bench: error: "), err
    return lines[0]


@pytest.mark.parametrize("argv,needles", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_nothing_written(
    argv, needles, tmp_path, probe_folder, private_cache, capsys
):
    out = tmp_path / "out"
    line = one_line_error(capsys, [*argv, "--include-path", probe_folder, "--out", out])
    assert all(needle in line for needle in needles), line
    assert not out.exists() and not (private_cache / "baselines").exists()


def test_unwritable_out_is_refused(tmp_path, private_cache, capsys):
    plain = tmp_path / "a-file"
    plain.write_text("x")
    assert f"--out {plain} is a file" in one_line_error(capsys, ["--out", plain])
    assert "not writable" in one_line_error(capsys, ["--out", plain / "sub"])
    assert plain.read_text() == "x" and not (private_cache / "baselines").exists()
