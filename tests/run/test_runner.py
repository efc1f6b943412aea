"""`promot-bench run` on a tiny model: a run, a cache hit, a resumed run, and bad input."""

import json
import subprocess
import sys

import pytest
from helpers.runs import options

from promot_bench.errors import UsageError
from promot_bench.evaluate import samples
from promot_bench.report import leaderboard
from promot_bench.run import fitting, printing, resume, runner
from promot_bench.run.options import RunOptions
from promot_bench.tasks.metrics import first_word_label


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_a_run_writes_a_complete_result(tiny_llama_dir, tmp_path, private_cache):
    plan = runner.plan(options(tiny_llama_dir, tmp_path / "results", keep_best=True))
    result = runner.execute(plan, progress=False)
    # --budget 2 with keep-best: a budget other than the preset's own, in its own folder
    assert (
        plan.result_path
        == tmp_path / "results/runs" / plan.spec.name / "mini-v1/nli/promot/steps2-best/seed0.json"
    )
    saved = json.loads(plan.result_path.read_text())
    assert saved == result
    assert (
        saved["schema_version"] == 3
        and saved["options"] == plan.options.to_record()
        and saved["tuner"] == "promot"
        and saved["target_task"] == "promot_mini_nli"
    )
    assert (
        set(saved["before"]) == set(saved["after"]) == set(saved["delta"])
        and len(saved["before"]) == 8
    )
    assert (
        saved["data_hash"]
        and saved["versions"]["torch"]
        and saved["command"].startswith("promot-bench")
    )
    assert [s["name"] for s in saved["stages"]] == ["prompt", "model"]
    assert all(
        s["best_step"] in (1, 2) for s in saved["stages"]
    )  # keep-best on the validation split
    assert saved["target"]["attached"]["soft_prompt"] and saved["soft_prompt_sha256"]
    # the budget: per stage steps, examples (batch 2) and epochs of the 400-item nli training split
    budget = saved["budget"]
    assert budget["label"] == "steps2-best" and budget["keep_best"] and budget["batch"] == 2
    assert (
        budget["train_examples"] == {"promot_mini_nli": 400} and budget["examples_per_stage"] == 4
    )
    assert [(s["name"], s["steps"], s["examples"], s["epochs"]) for s in budget["stages"]] == [
        ("prompt", 2, 4, {"promot_mini_nli": 0.01}),
        ("model", 2, 4, {"promot_mini_nli": 0.01}),
    ]
    assert [s["kept_step"] for s in budget["stages"]] == [s["best_step"] for s in saved["stages"]]
    lines = samples.items(plan.samples_path)
    assert {line["phase"] for line in lines} == {
        "before",
        "after",
        "target_pretrained",
        "target_tuned",
    }
    assert sum(line["phase"] == "before" for line in lines) == 8 * 2  # --limit 2 per task
    assert not plan.work.exists()
    # the minimum detectable effect: 2.8 SEs of the bootstrapped Δ mean, on the scores' scale
    assert (
        saved["mde"] == pytest.approx(2.8 * saved["delta_ci"]["mean"]["se"]) and saved["mde"] >= 0
    )
    # the collapse rate: per probe, % of outputs whose first word is a label of the nli target
    assert saved["collapse_format"]["labels"] == ["False", "True"]
    assert set(saved["collapse"]) == set(saved["before"]) | {"mean"}
    for task, entry in saved["collapse"].items():
        if task != "mean":
            outputs = [
                line["output"]
                for line in lines
                if line["phase"] == "after" and line["task"] == task
            ]
            labelled = [first_word_label(o or "", ["False", "True"]) is not None for o in outputs]
            assert entry["after"] == 100 * sum(labelled) / len(outputs)
        assert entry["delta"] == pytest.approx(entry["after"] - entry["before"])
        assert entry["ci"]["low"] <= entry["delta"] <= entry["ci"]["high"]
    # the gold answer's mean per-token log-prob: every mini probe is generative
    assert set(saved["gold_logprob"]) == set(saved["before"]) | {"mean"}
    for task, entry in saved["gold_logprob"].items():
        assert entry["before"] < 0 and entry["after"] < 0
        assert entry["delta"] == pytest.approx(entry["after"] - entry["before"])
        assert entry["ci"]["low"] <= entry["delta"] <= entry["ci"]["high"]
        if task != "mean":
            items = [
                line["gold_logprob"]
                for line in lines
                if line["phase"] == "after" and line["task"] == task
            ]
            assert (
                entry["after"]
                == pytest.approx(sum(items) / len(items))
                == saved["after"][task]["gold_logprob"]
            )
    # the KL from the pretrained model at the gold's positions: per probe, items' mean, from 0
    assert set(saved["kl"]) == set(saved["before"]) | {"mean"}
    for task, entry in saved["kl"].items():
        assert entry["before"] == 0 and entry["after"] > 0 and entry["delta"] == entry["after"]
        if task != "mean":
            items = [
                line["kl"] for line in lines if line["phase"] == "after" and line["task"] == task
            ]
            assert entry["after"] == pytest.approx(sum(items) / 2) == saved["after"][task]["kl"]
    # the held-out text's cross-entropy: the first --limit documents, before and after, paired
    held = saved["heldout_ce"]
    assert len(held["per_document"]["before"]) == len(held["per_document"]["after"]) == 2
    for side in ("before", "after"):
        assert held[side] == pytest.approx(sum(held["per_document"][side]) / 2) and held[side] > 0
    assert held["delta"] == pytest.approx(held["after"] - held["before"]) and held["delta"] != 0
    assert held["ci"]["low"] <= held["delta"] <= held["ci"]["high"]
    assert held["tokens"] > 2 and "heldout" in saved["timings"]
    # per-item flips: every probe's items counted once, lost/gained as the samples show
    for task in saved["before"]:
        scores = {
            phase: {
                line["doc_id"]: line["score"]
                for line in lines
                if line["phase"] == phase and line["task"] == task
            }
            for phase in ("before", "after")
        }
        entry = saved["flips"][task]
        assert entry["n"] == entry["lost"] + entry["gained"] + entry["unchanged"] == 2
        if entry["kind"] == "right/wrong":
            assert entry["lost"] == sum(
                scores["before"][i] > scores["after"][i] for i in scores["before"]
            )
    assert saved["flips"]["total"]["n"] == 8 * 2
    row = printing.format_row(saved)
    assert "items flipped (all probes)" in row
    assert "promot_mini_nli3" in row and f"mde (Δ mean, 80% power): {saved['mde']:.2f}" in row
    assert "collapse: % of outputs in the target's format (first word in {False, True})" in row
    assert "gold log-prob per token" in row


def test_prompt_tuning_leaves_the_suite_scores_untouched(tiny_llama_dir, tmp_path, private_cache):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="pt"))
    result = runner.execute(plan, progress=False)
    # stripping the prompt gives back the pretrained weights, so their evaluation is the baseline's
    assert result["before"] == result["after"] and result["after_is_baseline"]
    # and the held-out text's: the base model's with nothing attached, on both sides
    held = result["heldout_ce"]
    assert held["per_document"]["before"] == held["per_document"]["after"] and held["delta"] == 0
    assert all(entry["after"] == 0 for entry in result["kl"].values())  # KL to itself
    # and, as PEFT's comparison scores prompt methods, every probe with the prompt attached: its
    # own items in the samples file, its mean and paired interval re-derived from them
    attached = result["after_attached"]
    assert list(attached["scores"]) == list(result["before"]) and "mean" in attached["collapse"]
    phase = samples.by_phase(plan.samples_path)["after_attached"]
    assert set(phase) == set(result["before"])
    scores = attached["scores"]
    assert all(len(phase[t]) == s["n"] for t, s in scores.items())
    means = {t: s["score"] for t, s in scores.items() if s["aggregation"] == "mean"}
    assert means and all(  # a per-item metric's score is its items' mean
        sum(i["score"] for i in phase[t]) / len(phase[t]) == pytest.approx(v)
        for t, v in means.items()
    )
    assert attached["delta_ci"]["delta"] == pytest.approx(
        attached["mean"] - result["mean"]["before"]
    )
    assert "with the prompt attached to every probe" in printing.format_row(result)
    ft = runner.execute(runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft")), progress=False)
    assert ft["after_attached"] is None and "prompt attached" not in printing.format_row(ft)


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_baseline_is_cached_across_tuners(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    runner.execute(runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft")), progress=False)
    first = list(counted_evaluations)
    counted_evaluations.clear()
    runner.execute(runner.plan(options(tiny_llama_dir, tmp_path, tuner="pt")), progress=False)
    assert first.count(["promot_mini"]) == 2  # before and after ft
    # pt: before cached, after the same weights; its one pass is with its prompt attached
    assert counted_evaluations.count(["promot_mini"]) == 1
    assert ["promot_mini_nli"] in first and [
        "promot_mini_nli"
    ] in counted_evaluations  # the tuned target only
    # Cache entries keep the format earlier versions wrote ({task: scores}), so their caches stay
    # usable.
    entries = {
        e["key"]["tasks"]: e["scores"]
        for e in (
            json.loads(f.read_text()) for f in (private_cache / "baselines").glob("*/scores.json")
        )
    }
    assert list(entries["promot_mini_nli"]) == ["promot_mini_nli"]
    assert entries["promot_mini_nli"]["promot_mini_nli"]["n"] > 0


def interrupted_before_after(plan, monkeypatch) -> None:
    """Run `plan` until its "after" evaluation, and stop it there (as a kill would)."""
    real_step = resume.step

    def die_before_after(work, name, compute, timings):
        if name == "after":
            raise KeyboardInterrupt
        return real_step(work, name, compute, timings)

    with monkeypatch.context() as patched:
        patched.setattr(fitting, "step", die_before_after)
        with pytest.raises(KeyboardInterrupt):
            runner.execute(plan, progress=False)


def test_an_interrupted_run_resumes_without_redoing_finished_steps(
    tiny_llama_dir, tmp_path, private_cache, monkeypatch, counted_evaluations
):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft"))
    interrupted_before_after(plan, monkeypatch)
    assert not plan.result_path.exists() and (plan.work / "train" / "model" / "done.json").is_file()
    counted_evaluations.clear()

    from promot_bench.train import loss

    losses = []
    real_loss = loss.compute_loss
    monkeypatch.setattr(
        loss, "compute_loss", lambda *a, **k: losses.append(1) or real_loss(*a, **k)
    )
    result = runner.execute(plan, progress=False)
    assert losses == []  # the finished training stage was not redone
    assert counted_evaluations == [["promot_mini"]]  # only the missing "after" evaluation ran
    assert result["stages"][0]["steps"] == 2 and plan.result_path.is_file()


def test_a_resume_under_other_code_or_libraries_is_refused_and_changes_nothing(
    tiny_llama_dir, tmp_path, private_cache, monkeypatch
):
    from promot_bench.errors import RunError
    from promot_bench.store import provenance

    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft"))
    interrupted_before_after(plan, monkeypatch)
    recorded = json.loads((plan.work / resume.WORK_IDENTITY).read_text())
    assert recorded == resume.work_identity()  # the code that started the cell

    def tree():
        return {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    before = tree()
    real_identity = provenance.code_identity()
    monkeypatch.setattr(
        provenance, "code_identity", lambda: {**real_identity, "source_sha256": "0" * 64}
    )
    with pytest.raises(RunError, match="started by other code .* delete the folder to restart"):
        runner.execute(plan, progress=False)
    monkeypatch.setattr(provenance, "code_identity", lambda: real_identity)
    versions = provenance.package_versions()
    monkeypatch.setattr(provenance, "package_versions", lambda: {**versions, "torch": "0.0.1"})
    with pytest.raises(RunError, match="other libraries \\(torch"):
        runner.execute(plan, progress=False)
    assert tree() == before and not plan.result_path.exists()
    monkeypatch.setattr(provenance, "package_versions", lambda: versions)
    (
        plan.work / resume.WORK_IDENTITY
    ).unlink()  # as an unfinished run of a version before identities
    with pytest.raises(RunError, match="code is not recorded"):
        runner.execute(plan, progress=False)
    (plan.work / resume.WORK_IDENTITY).write_text(json.dumps(recorded))
    assert (
        runner.execute(plan, progress=False)["code"]["source_sha256"] == recorded["source_sha256"]
    )


def test_a_finished_run_is_not_recomputed(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft"))
    first = runner.execute(plan, progress=False)
    counted_evaluations.clear()
    assert runner.execute(plan, progress=False) == first and counted_evaluations == []


def test_out_that_is_a_file_or_unwritable_is_refused(tmp_path):
    plain = tmp_path / "file"
    plain.write_text("x")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "promot_bench.cli",
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--out",
            str(plain),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "is a file" in done.stderr
    # below a file: no folder can ever be made there (a check that holds for root too)
    with pytest.raises(UsageError, match="not writable"):
        runner.check_writable(plain / "results")


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_multi_task_run_scores_each_target_with_its_own_prompt(
    tiny_llama_dir, tmp_path, private_cache
):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, train="nli+en-fr"))
    assert plan.mode == "multi" and plan.targets == ["promot_mini_nli", "promot_mini_en_fr"]
    result = runner.execute(plan, progress=False)
    assert (
        plan.result_path
        == tmp_path / "runs" / plan.spec.name / "mini-v1/nli+en-fr/promot/steps2/seed0.json"
    )
    per_target = result["target"]["per_target"]
    assert set(per_target) == set(plan.targets) == set(result["soft_prompt_sha256"])
    assert (
        result["target"]["tuned"]["score"]
        == sum(t["tuned"]["score"] for t in per_target.values()) / 2
    )
    for target in plan.targets:
        assert (plan.folder / f"seed0.prompt.{target}.safetensors").is_file()
    lines = samples.items(plan.samples_path)
    assert {line["task"] for line in lines if line["phase"] == "target_tuned"} == set(plan.targets)
    assert [s["name"] for s in result["stages"]] == [
        "prompt",
        "model",
    ]  # one prompt stage trains both prompts
    # the two targets' examples are one shuffled pool: each is seen at the pool's rate
    sizes = result["budget"]["train_examples"]
    pool = sizes["promot_mini_nli"] + sizes["promot_mini_en_fr"]
    assert all(
        s["epochs"] == {t: round(4 / pool, 4) for t in plan.targets}
        for s in result["budget"]["stages"]
    )
    # the leaderboard reads the real record: each target's own score in the row, not their mean
    leaderboard.build(tmp_path)
    scores = "; ".join(
        f"{t.removeprefix('promot_mini_')} {per_target[t]['tuned']['score']:.1f}"
        for t in plan.targets
    )
    assert f"| promot → nli+en-fr | 1 | {scores} |" in (tmp_path / "LEADERBOARD.md").read_text()


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_sequential_run_trains_one_target_after_the_other(tiny_llama_dir, tmp_path, private_cache):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft", train="nli-then-en-fr"))
    assert (
        plan.mode == "sequential"
        and plan.joined_targets == "promot_mini_nli-then-promot_mini_en_fr"
    )
    result = runner.execute(plan, progress=False)
    assert [s["name"] for s in result["stages"]] == [
        "promot_mini_nli/model",
        "promot_mini_en_fr/model",
    ]
    assert (
        set(result["target"]["per_target"]) == set(plan.targets)
        and result["training"] == "sequential"
    )
    sizes = result["budget"]["train_examples"]  # each stage's epochs are of its own target's split
    assert [s["epochs"] for s in result["budget"]["stages"]] == [
        {t: round(4 / sizes[t], 4)} for t in plan.targets
    ]


@pytest.mark.parametrize(
    "train,message",
    [
        ("nli+nli", "twice"),
        ("nli+rte", "not in the v2 suite"),
        ("nli+en-fr-then-nli", "mixes"),
        ("nli+", "empty target name"),
    ],
)
def test_bad_target_combinations_are_refused(train, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        runner.plan(RunOptions(tuner="ft", train=train, out=tmp_path))
    with pytest.raises(UsageError, match="cannot train on several targets"):
        runner.plan(RunOptions(tuner="promot-1shot", train="nli+en-fr", suite="v1", out=tmp_path))
