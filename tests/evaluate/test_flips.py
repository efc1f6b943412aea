"""Per-item flips on hand-made pairs of sample lists: exact counts for right/wrong probes, the
items' own scores for graded and corpus-metric probes, examples lost-first, and the leaderboard's
column re-derived from a samples file."""

import json

import pytest
from helpers.results import complete

from promot_bench.evaluate import flips
from promot_bench.report import page, tables


def item(doc_id, score, output="x", gold="g", prompt="Q: q? A:"):
    return {"doc_id": doc_id, "prompt": prompt, "output": output, "gold": gold, "score": score}


def test_right_wrong_probe_counts_each_kind_of_flip():
    before = [item(0, 100.0, " Paris"), item(1, 100.0), item(2, 0.0), item(3, 0.0), item(4, 100.0)]
    after = [
        item(4, 100.0),
        item(3, 0.0),
        item(2, 100.0),
        item(1, 0.0, " France"),
        item(0, 0.0, " France"),
    ]
    entry = flips.task_flips(before, after)
    assert entry["kind"] == "right/wrong"
    assert (
        entry["n"],
        entry["lost"],
        entry["gained"],
        entry["unchanged"],
        entry["right_both"],
    ) == (5, 2, 1, 2, 1)
    # lost ones first (doc order among equal changes), then the gained one
    assert [e["doc_id"] for e in entry["examples"]] == [0, 1, 2]
    assert entry["examples"][0] == {
        "doc_id": 0,
        "prompt_end": "Q: q? A:",
        "gold": "g",
        "before": " Paris",
        "after": " France",
        "score_before": 100.0,
        "score_after": 0.0,
    }


def test_accuracy_on_the_zero_one_scale_is_right_wrong_too():
    entry = flips.task_flips([item(0, 1.0), item(1, 0.0)], [item(0, 0.0), item(1, 0.0)])
    assert entry["kind"] == "right/wrong" and (
        entry["lost"],
        entry["gained"],
        entry["right_both"],
    ) == (1, 0, 0)


def test_graded_probe_ranks_the_largest_falls_first_and_caps_examples():
    before = [item(i, 50.0) for i in range(8)]
    after = [
        item(0, 10.0),
        item(1, 40.0),
        item(2, 49.0),
        item(3, 0.0),
        item(4, 60.0),
        item(5, 50.0),
        item(6, 45.0),
        item(7, 20.0),
    ]
    entry = flips.task_flips(before, after)
    assert entry["kind"] == "item score" and "right_both" not in entry
    assert (entry["lost"], entry["gained"], entry["unchanged"]) == (6, 1, 1)
    assert [e["doc_id"] for e in entry["examples"]] == [3, 0, 7, 1, 6]  # falls of 50, 40, 30, 10, 5
    assert len(entry["examples"]) == flips.EXAMPLES


def test_corpus_metric_items_are_scored_by_the_metrics_own_sentence_score():
    import sacrebleu

    def pair(doc_id, prediction, reference="le chat est sur la table"):
        return {
            "doc_id": doc_id,
            "prompt": "p",
            "output": prediction,
            "gold": reference,
            "score": None,
            "pair": [prediction, reference],
        }

    before = [pair(0, "le chat est sur la table"), pair(1, "un chien")]
    after = [pair(0, "the cat is on the table"), pair(1, "un chien")]
    entry = flips.task_flips(before, after, "chrf_aggregation")
    assert entry["kind"] == "item score" and (
        entry["lost"],
        entry["gained"],
        entry["unchanged"],
    ) == (1, 0, 1)
    fell = entry["examples"][0]
    assert fell["score_before"] == pytest.approx(100.0)
    expected = (
        sacrebleu.metrics.CHRF()
        .sentence_score("the cat is on the table", ["le chat est sur la table"])
        .score
    )
    assert fell["score_after"] == pytest.approx(expected) and expected < 100.0


def test_items_on_one_side_only_are_left_out_and_totals_add_up():
    before = {"a": {"samples": [item(0, 100.0), item(1, 0.0)]}, "b": {"samples": [item(0, 0.0)]}}
    after = {"a": {"samples": [item(0, 0.0)]}, "b": {"samples": [item(0, 100.0)]}}
    found = flips.flips(before, after)
    assert found["a"]["n"] == 1 and found["total"] == {
        "n": 2,
        "lost": 1,
        "gained": 1,
        "unchanged": 0,
    }


def test_a_samples_file_gives_the_same_flips_and_the_leaderboard_column(tmp_path):
    before = {
        "promot_mini_qa_capitals": {
            "score": 50.0,
            "aggregation": "mean",
            "samples": [item(0, 100.0), item(1, 0.0)],
        }
    }
    after = {"promot_mini_qa_capitals": {"score": 50.0, "samples": [item(0, 0.0), item(1, 100.0)]}}
    lines = [
        {"phase": phase, "task": task, **s}
        for phase, scores in (("before", before), ("after", after))
        for task, entry in scores.items()
        for s in entry["samples"]
    ]
    folder = tmp_path / "runs/tiny/mini/nli/ft"
    folder.mkdir(parents=True)
    (folder / "seed0.samples.jsonl").write_text(
        "\n".join(json.dumps(line) for line in lines) + "\n"
    )
    assert flips.from_samples_file(
        str(folder / "seed0.samples.jsonl"), {"promot_mini_qa_capitals": "mean"}
    ) == flips.flips(before, after)
    result = {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": 0,
        "tuner": "ft",
        "train": "nli",
        "target_task": "promot_mini_v2_nli",
        "samples": "seed0.samples.jsonl",
        "before": {t: {"score": 50.0} for t in before},
        "after": {t: {"score": 50.0} for t in after},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": 90.0}},
        "mean": {"before": 50.0, "after": 50.0, "delta": 0.0},
        "delta_ci": {"mean": {"delta": 0.0, "low": -1.0, "high": 1.0, "significant": False}},
    }
    (folder / "seed0.json").write_text(json.dumps(complete(result)))
    (table,) = tables.build_tables(tables.load_results(tmp_path))
    row = table.rows[1]
    assert row.flips == (1.0, 1.0, 2.0) and row.flips_tasks == {
        "promot_mini_qa_capitals": (1.0, 1.0)
    }
    assert tables.row_cells(table, row)[-1] == "−1 / +1"
    assert tables.row_cells(table, table.rows[0])[-1] == "–"  # the pretrained row has none
    view = page.flips(row)  # what the page shows per probe: counts and the examples
    assert (view["label"], view["seed"]) == ("ft → nli", 0)
    examples = [ex for probe in view["probes"] for ex in probe["examples"]]
    assert len(examples) == 2 and any("Q: q? A:" in text for ex in examples for text in ex)
