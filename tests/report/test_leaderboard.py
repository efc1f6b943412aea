"""The leaderboard from fixture result files: seed means and stderr, Δ vs pretrained,
significance marks, all outputs written, idempotent, and a damaged file refused."""

import json

import pytest
from helpers.results import HASH, complete, heldout, paired
from scipy import stats

from promot_bench.errors import RunError
from promot_bench.report import leaderboard, tables

TASKS = ["promot_mini_nli3", "promot_mini_qa_capitals"]


def fake_result(tuner, train, seed, after, target, significant):
    before = {"promot_mini_nli3": 40.0, "promot_mini_qa_capitals": 20.0}
    delta = sum(after[t] - before[t] for t in TASKS) / 2
    ci = (
        {"delta": delta, "low": delta - 1, "high": delta + 1, "significant": significant}
        if significant
        else {"delta": delta, "low": -1.0, "high": 1.0, "significant": False}
    )
    return {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini",
        "shots": 1,
        "seed": seed,
        "tuner": tuner,
        "train": train,
        "target_task": f"promot_mini_{train}",
        "before": {t: {"score": before[t]} for t in TASKS},
        "after": {t: {"score": after[t]} for t in TASKS},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": target}},
        "mean": {"before": 30.0, "after": sum(after.values()) / 2, "delta": delta},
        "delta_ci": {"mean": ci},
    }


@pytest.fixture
def results_dir(tmp_path):
    runs = [
        fake_result(
            "ft", "nli", 0, {"promot_mini_nli3": 60.0, "promot_mini_qa_capitals": -10.0}, 90.0, True
        ),
        fake_result(
            "ft", "nli", 1, {"promot_mini_nli3": 50.0, "promot_mini_qa_capitals": 2.0}, 94.0, True
        ),
        fake_result(
            "promot",
            "nli",
            0,
            {"promot_mini_nli3": 45.0, "promot_mini_qa_capitals": 19.0},
            92.0,
            False,
        ),
    ]
    for r in runs:
        path = tmp_path / "runs/tiny/mini-v1" / r["train"] / r["tuner"] / f"seed{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(r)))
    return tmp_path


def test_a_loaded_result_is_its_file_exactly_with_its_samples_beside_it(results_dir):
    """The reader adds no keys: what it found beside a result (its samples file, its data
    version) are attributes, so a table can never mistake them for what the run wrote."""
    path = results_dir / "runs/tiny/mini-v1/nli/ft/seed0.json"
    written = {**json.loads(path.read_text()), "samples": "seed0.samples.jsonl"}
    path.write_text(json.dumps(complete(written)))
    (path.parent / "seed0.samples.jsonl.gz").write_bytes(b"")
    loaded = {(r["tuner"], r["seed"]): r for r in tables.load_results(results_dir)}
    assert dict(loaded["ft", 0]) == written
    assert loaded["ft", 0].samples_file == path.parent / "seed0.samples.jsonl.gz"
    assert loaded["ft", 1].samples_file is None and loaded["ft", 0].data_version is None


def test_tables_hold_seed_means_and_deltas(results_dir):
    (table,) = tables.build_tables(tables.load_results(results_dir))
    labels = [row.label for row in table.rows]
    assert labels == ["pretrained", "ft → nli", "promot → nli"]
    pretrained, ft, promot = table.rows
    assert pretrained.tasks["promot_mini_nli3"] == (40.0, 0.0) and pretrained.mean == (30.0, 0.0)
    assert ft.tasks["promot_mini_nli3"] == (55.0, pytest.approx(5.0))  # mean of 60 and 50, stderr 5
    assert ft.target[:2] == ("promot_mini_nli", 92.0)
    assert ft.delta_mean == (pytest.approx(-4.5), pytest.approx(0.5))
    # each seed's item-level interval excludes 0, but two seeds are one degree of freedom: the
    # seed-level t test (-5, -4: t = 9) has p = 0.07, so no star
    assert ft.delta_test.p == pytest.approx(stats.ttest_1samp([-5.0, -4.0], 0.0).pvalue)
    assert ft.significant == ""
    assert promot.delta_mean == (pytest.approx(2.0), None) and promot.significant == ""


def test_build_writes_every_output_idempotently(results_dir):
    written = leaderboard.build(results_dir)
    names = {p.name for p in written}
    assert {
        "LEADERBOARD.md",
        "LEADERBOARD.csv",
        "LEADERBOARD.html",
        "heatmap-tiny-promot_mini.png",
        "delta-mean-tiny-promot_mini.png",
    } <= names
    first = {p: p.read_bytes() for p in written}
    leaderboard.build(results_dir)
    assert {p: p.read_bytes() for p in written} == first
    text = (results_dir / "LEADERBOARD.md").read_text()
    assert "| ft → nli | 2 | nli 92.0 ± 2.0 | 55.0 ± 5.0 |" in text
    assert "src='plots/heatmap-" in (results_dir / "LEADERBOARD.html").read_text()
    assert (results_dir / "LEADERBOARD.csv").read_text().count("\n") == 1 + 3 * 2


def test_a_damaged_result_is_refused_with_its_name(results_dir):
    bad = results_dir / "runs/tiny/mini-v1/nli/ft/seed1.json"
    bad.write_text("{truncated")
    with pytest.raises(RunError, match="seed1.json is damaged"):
        leaderboard.build(results_dir)


def test_a_lower_is_better_task_is_marked(results_dir):
    path = results_dir / "runs/tiny/mini-v1/nli/ft/seed0.json"
    result = json.loads(path.read_text())
    result["before"]["promot_mini_qa_capitals"]["higher_is_better"] = False
    path.write_text(json.dumps(complete(result)))
    leaderboard.build(results_dir)
    header = next(
        line
        for line in (results_dir / "LEADERBOARD.md").read_text().splitlines()
        if line.startswith("| model")
    )
    assert "qa_capitals ↓" in header and "nli3 ↓" not in header


def test_results_without_mde_or_collapse_show_a_dash_and_no_collapse_heatmap(results_dir):
    written = leaderboard.build(results_dir)
    assert not any(p.name.startswith("collapse-") for p in written)
    text = (results_dir / "LEADERBOARD.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    assert header.endswith(
        "| mean | Δ mean | mde | vs ft | collapse Δ | breakdown Δ | KL | held-out CE Δ "
        "| flips −/+ |"
    )
    ft = next(line for line in text.splitlines() if line.startswith("| ft → nli"))
    # Δ mean, its seed-level mde (two seeds, SE 0.5: 16.3 SE), vs ft (ft itself), format Δ,
    # breakdown Δ, KL, held-out CE Δ and flips (no samples file)
    assert ft.endswith("| -4.5 ± 0.5 | 8.2 | – | – | – | – | – | – |")


def test_the_forgetting_measures_are_seed_means_where_every_run_has_them(results_dir):
    """KL and held-out CE Δ: seed mean ± stderr, three decimals, unmarked; a cell where one
    run lacks them (a result from before them) shows a dash."""
    for seed, (kl, held) in enumerate([(0.10, 0.02), (0.20, 0.04)]):
        path = results_dir / f"runs/tiny/mini-v1/nli/ft/seed{seed}.json"
        result = json.loads(path.read_text())
        result["kl"] = {"mean": paired(0.0, kl)}
        result["heldout_ce"] = heldout(held)
        path.write_text(json.dumps(complete(result)))
    leaderboard.build(results_dir)
    text = (results_dir / "LEADERBOARD.md").read_text()
    ft = next(line for line in text.splitlines() if line.startswith("| ft → nli"))
    assert ft.endswith("| – | – | 0.150 ± 0.050 | +0.030 ± 0.010 | – |")
    csv = (results_dir / "LEADERBOARD.csv").read_text().splitlines()
    columns = csv[0].split(",")
    row = next(line.split(",") for line in csv[1:] if ",ft," in line)
    assert float(row[columns.index("kl_mean")]) == pytest.approx(0.15)
    assert float(row[columns.index("heldout_ce_delta_stderr")]) == pytest.approx(0.01)
    # their correlation with Δ mean: a section on both pages (two results: too few for an r)
    section = text.split("## Forgetting measures against in-context retention", 1)[1]
    assert "| KL (pretrained ‖ tuned), probe mean | 2 | – | – | – |" in section
    assert "Forgetting measures against" in (results_dir / "LEADERBOARD.html").read_text()


def with_mde_and_collapse(results_dir, cell, mde, collapse_delta, items):
    """Give a cell's runs an mde, a collapse rate and a samples file
    (items: seed -> (before, after))."""
    for seed, (before, after) in items.items():
        path = results_dir / f"runs/tiny/mini-v1/nli/{cell}/seed{seed}.json"
        result = json.loads(path.read_text())
        result["mde"] = mde
        result["collapse"] = {
            t: {
                "before": 0.0,
                "after": collapse_delta,
                "delta": collapse_delta,
                "ci": {"low": collapse_delta - 1, "high": collapse_delta + 1, "significant": True},
            }
            for t in [*TASKS, "mean"]
        }
        result["samples"] = f"seed{seed}.samples.jsonl"
        lines = [
            json.dumps({"phase": phase, "task": t, "doc_id": i, "score": v})
            for phase, values in (("before", before), ("after", after))
            for t in TASKS
            for i, v in enumerate(values)
        ]
        path.with_name(result["samples"]).write_text("\n".join(lines) + "\n")
        path.write_text(json.dumps(complete(result)))


def test_mde_is_the_runs_own_for_one_seed_and_the_seed_levels_for_several(results_dir):
    from promot_bench.evaluate import seed_statistics

    items = {
        0: ([100, 0, 100, 0, 100, 0], [0, 0, 100, 0, 0, 0]),
        1: ([100, 100, 0, 0, 100, 0], [100, 0, 0, 0, 0, 0]),
    }
    with_mde_and_collapse(results_dir, "ft", 9.9, 40.0, items)
    with_mde_and_collapse(results_dir, "promot", 3.25, 10.0, {0: items[0]})
    (table,) = tables.build_tables(tables.load_results(results_dir))
    _, ft, promot = table.rows
    assert promot.mde == 3.25  # one seed: the run's own
    # several: the seed-level mde of the seeds' Δ means (-5, -4), 80% power at one df
    assert ft.mde == pytest.approx(seed_statistics.mde(0.5, 2)) == ft.delta_test.mde
    assert ft.collapse_delta == (40.0, 0.0) and ft.collapse_significant == "*"
    assert ft.collapse_tasks == {t: 40.0 for t in TASKS}
    written = leaderboard.build(results_dir)
    assert (results_dir / "plots/collapse-tiny-promot_mini.png") in written
    promot_line = next(
        line
        for line in (results_dir / "LEADERBOARD.md").read_text().splitlines()
        if line.startswith("| promot → nli")
    )
    # Δ mean, mde, vs ft (the result's means: 32 against 25; its items are ft's, so its item-level
    # mde is 0), format Δ (one seed: its item-level interval excludes 0, †), breakdown Δ (from the
    # samples, which record no output here: every item empty before and after alike), flips:
    # items 0 and 4 of each of the two tasks went right -> wrong
    assert promot_line.endswith(
        "| +2.0 | 3.2 | +7.0 (mde 0.0) | +10.0 † | +0.0 | – | – | −4 / +0 |"
    )
    assert "collapse Δ" in (results_dir / "LEADERBOARD.html").read_text()


def _card():
    row = {
        "kind": "qa",
        "n": 150,
        "pretrained": 16.7,
        "stderr": 3.0,
        "best_trivial": 4.0,
        "best_trivial_name": "most frequent answer",
        "headroom": 12.7,
        "headroom_se": 4.23,
        "empty_rate": 0.0,
        "off_format_rate": 0.02,
        "passes": True,
        "notes": [],
    }
    return {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini",
        "shots": 1,
        "limit": None,
        "command": "promot-bench probes --shots 1 --out results --suite mini",
        "gate": {"max_bad_rate": 0.1, "min_headroom_se": 3.0},
        "probes": {"promot_mini_qa_capitals": row},
        "summary": {
            "probes": 1,
            "passing": 1,
            "all_pass": True,
            "headroom_mean": 12.7,
            "failing": [],
        },
    }


def test_the_leaderboard_shows_the_probe_cards(results_dir):
    card = results_dir / "probes" / "tiny" / "mini-1shot.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps(_card()))
    leaderboard.build(results_dir)
    text = (results_dir / "LEADERBOARD.md").read_text()
    assert "### Probe card: tiny, promot_mini, 1-shot" in text
    assert (
        "From [probes/tiny/mini-1shot.json](probes/tiny/mini-1shot.json): `promot-bench probes"
        in text
    )
    assert (
        "| promot_mini_qa_capitals | qa | 150 | 16.7 | 3.0 | 4.0 (most frequent answer) | 12.7 | "
        "4.2 | 0% | 2% "
        "| yes |"
    ) in text
    assert "headroom_mean 12.70; 1 of 1 probes pass." in text
    card.write_text("{damaged")
    with pytest.raises(RunError, match="probe card .*mini-1shot.json is damaged"):
        leaderboard.build(results_dir)


def test_v1_and_v2_results_never_share_a_table(results_dir):
    """The same model, tuner, target and shots, on promot_mini and promot_mini v2: two tables."""
    v2 = fake_result(
        "ft", "nli", 0, {"promot_mini_nli3": 41.0, "promot_mini_qa_capitals": 18.0}, 80.0, False
    )
    v2["eval_group"], v2["target_task"] = "promot_mini_v2", "promot_mini_v2_nli"
    path = results_dir / "runs/tiny/mini/nli/ft/seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(complete(v2)))
    built = tables.build_tables(tables.load_results(results_dir))
    assert sorted(t.group for t in built) == ["promot_mini", "promot_mini_v2"]
    (new,) = [t for t in built if t.group == "promot_mini_v2"]
    assert [row.label for row in new.rows] == ["pretrained", "ft → nli"] and new.rows[1].target[
        1
    ] == 80.0
    # the target named without its suite's prefix, version and all
    assert tables.target_cell(new.rows[1]) == "nli 80.0"


def test_two_data_versions_of_one_group_never_share_a_table(results_dir):
    """One more ft cell on other data than the fixture's (another test-item count of the same
    group) gets its own table, titled with its data version; so do the fixture's."""
    other = fake_result(
        "ft", "nli", 0, {"promot_mini_nli3": 41.0, "promot_mini_qa_capitals": 18.0}, 80.0, False
    )
    other["data_hash"] = "abcdef0123456789"
    path = results_dir / "runs/tiny/mini-v1-other/nli/ft/seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(complete(other)))
    built = tables.build_tables(tables.load_results(results_dir))
    assert sorted(t.group for t in built) == [
        f"promot_mini@data-{HASH[:8]}",
        "promot_mini@data-abcdef01",
    ]
    (new,) = [t for t in built if t.group.endswith("abcdef01")]
    assert [row.label for row in new.rows] == ["pretrained", "ft → nli"]
    assert "promot_mini@data-abcdef01" in new.title and len({t.slug for t in built}) == 2
    # one data version: the group's own name, as before
    path.unlink()
    assert [t.group for t in tables.build_tables(tables.load_results(results_dir))] == [
        "promot_mini"
    ]


def test_a_cell_trained_on_two_targets_shows_each_targets_own_score(results_dir):
    """A multi-task cell's `target.tuned` is the mean of its targets' scores (an accuracy with a
    chrF); the table and the CSV show each target's own, and the pretrained row each target once."""
    for seed, (nli, en_fr) in enumerate([(70.0, 40.0), (74.0, 44.0)]):
        run = fake_result(
            "ft", "nli", seed, {"promot_mini_nli3": 41.0, "promot_mini_qa_capitals": 18.0}, 0, False
        )
        run["train"], run["target_task"] = "nli+en-fr", "promot_mini_nli+promot_mini_en_fr"
        per_target = {
            "promot_mini_nli": {"pretrained": {"score": 50.0}, "tuned": {"score": nli}},
            "promot_mini_en_fr": {"pretrained": {"score": 20.0}, "tuned": {"score": en_fr}},
        }
        run["target"] = {
            "pretrained": {"score": 35.0},
            "tuned": {"score": (nli + en_fr) / 2},
            "per_target": per_target,
        }
        path = results_dir / f"runs/tiny/mini-v1/nli+en-fr/ft/seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(run)))
    leaderboard.build(results_dir)
    text = (results_dir / "LEADERBOARD.md").read_text()
    assert "| ft → nli+en-fr | 2 | nli 72.0 ± 2.0; en_fr 42.0 ± 2.0 |" in text
    # the pretrained row: each target task once (nli's 50.0 from both kinds of cell), no mean
    assert "| pretrained | 2 | en_fr 20.0; nli 50.0 |" in text
    rows = (results_dir / "LEADERBOARD.csv").read_text().splitlines()
    header = rows[0].split(",")
    multi = [r.split(",") for r in rows if ",nli+en-fr," in r]
    assert len(multi) == 2 and all(
        r[header.index("target_scores")] == "promot_mini_nli=72.0;promot_mini_en_fr=42.0"
        and float(r[header.index("target_mean")]) == 57.0
        for r in multi
    )
    single = [r.split(",") for r in rows if ",ft,nli," in r]
    assert single and all(r[header.index("target_scores")] == "" for r in single)


def test_vs_ft_is_a_seed_level_test_with_its_own_mde(results_dir):
    """vs ft over several seeds: the seed-level test of the per-seed differences of the mean
    in-context score (same seed, same items), its mde at n − 1 degrees of freedom; one seed: the
    paired interval over that seed's items, marked † when it excludes 0."""
    from promot_bench.evaluate import seed_statistics, statistics

    before = [100, 0, 100, 0, 100, 0]
    ft_after = {0: [0, 0, 100, 0, 0, 0], 1: [100, 0, 0, 0, 0, 0]}
    ours_after = {0: [100, 100, 100, 0, 100, 0], 1: [100, 0, 100, 0, 0, 100]}
    seed1 = json.loads((results_dir / "runs/tiny/mini-v1/nli/promot/seed0.json").read_text())
    seed1["seed"] = 1
    (results_dir / "runs/tiny/mini-v1/nli/promot/seed1.json").write_text(
        json.dumps(complete(seed1))
    )
    for cell, afters in (("ft", ft_after), ("promot", ours_after)):
        with_mde_and_collapse(
            results_dir, cell, 9.9, 0.0, {s: (before, a) for s, a in afters.items()}
        )
        for seed, after in afters.items():  # the results' scores, as the samples give them
            path = results_dir / f"runs/tiny/mini-v1/nli/{cell}/seed{seed}.json"
            result = json.loads(path.read_text())
            result["mean"]["after"] = sum(after) / len(after)
            path.write_text(json.dumps(complete(result)))
    (table,) = tables.build_tables(tables.load_results(results_dir))
    promot = table.rows[-1]
    differences = [300 / 6, 200 / 6]  # seed by seed: 50, 33.3
    assert promot.versus_ft[0] == pytest.approx(sum(differences) / 2)
    test = seed_statistics.seed_test(differences)
    assert promot.versus_ft_test.p == pytest.approx(test.p)
    assert promot.versus_ft_mde == pytest.approx(test.mde)
    # one seed: the paired interval's own SE for that seed
    (results_dir / "runs/tiny/mini-v1/nli/promot/seed1.json").unlink()
    (table,) = tables.build_tables(tables.load_results(results_dir))
    paired = {t: ("mean", ft_after[0], ours_after[0]) for t in TASKS}
    se = statistics.paired_interval(paired)["mean"]["se"]
    assert table.rows[-1].versus_ft_mde == statistics.mde(se) > 0
    assert table.rows[-1].versus_ft_test is None
    leaderboard.build(results_dir)
    text = (results_dir / "LEADERBOARD.md").read_text()
    assert f"| +50.0 † (mde {statistics.mde(se):.1f}) |" in text
    header = (results_dir / "LEADERBOARD.csv").read_text().splitlines()[0].split(",")
    assert "versus_ft_mde" in header


def test_a_prompt_method_shows_its_delta_with_the_prompt_attached(results_dir):
    """pt's Δ mean stays the weights alone; beside it, the seed mean of its Δ with the prompt
    attached to every probe (as PEFT's comparison scores it), in the Markdown and the CSV."""
    unchanged = {"promot_mini_nli3": 40.0, "promot_mini_qa_capitals": 20.0}
    for seed, attached in enumerate([-3.0, -5.0]):
        run = fake_result("pt", "nli", seed, unchanged, 70.0, False)
        run["after_attached"] = {
            "scores": {t: {"score": v["score"] + attached} for t, v in run["before"].items()},
            "mean": run["mean"]["before"] + attached,
            "delta_ci": {"delta": attached, "low": attached - 1, "high": attached + 1},
        }
        path = results_dir / f"runs/tiny/mini-v1/nli/pt/seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(run)))
    leaderboard.build(results_dir)
    text = (results_dir / "LEADERBOARD.md").read_text()
    pt = next(line for line in text.splitlines() if line.startswith("| pt → nli"))
    assert "| +0.0 ± 0.0 (attached -4.0 ± 1.0) |" in pt
    ft = next(line for line in text.splitlines() if line.startswith("| ft → nli"))
    assert "attached" not in ft
    csv = (results_dir / "LEADERBOARD.csv").read_text().splitlines()
    columns = csv[0].split(",")
    rows = {line.split(",")[columns.index("tuner")]: line.split(",") for line in csv[1:]}
    assert float(rows["pt"][columns.index("after_attached_delta_mean")]) == pytest.approx(-4.0)
    assert float(rows["pt"][columns.index("after_attached_delta_stderr")]) == pytest.approx(1.0)
    assert rows["ft"][columns.index("after_attached_delta_mean")] == ""
