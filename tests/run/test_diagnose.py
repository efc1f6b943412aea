"""`promot-bench diagnose` on a tiny model: the specialization rate on hand-made outputs, the
language check, gradient alignment (cosine 1 when labels are not shuffled), and a full run."""

import json

import pytest

from promot_bench.evaluate import alignment, formats
from promot_bench.report import leaderboard
from promot_bench.run import diagnose, runner
from promot_bench.run.options import RunOptions
from promot_bench.train.train_data import Example

NLI = [
    Example(f"premise {i} question: claim {i}? answer:", " True" if i % 2 else " False")
    for i in range(8)
]


def test_specialization_rate_on_hand_made_outputs():
    fmt = formats.TargetFormat(labels=("False", "True"))
    outputs = [" True", "false.", " Paris", "", "True, because", " The answer is True"]
    assert formats.specialization_rate(outputs, fmt) == pytest.approx(3 / 6)
    assert formats.specialization_rate([], fmt) is None
    assert formats.specialization_rate(["x"], formats.TargetFormat()) is None
    french = formats.TargetFormat(language="fr")
    assert formats.specialization_rate(
        [" la capitale de la France", " der Hund und die Katze", " Paris"], french
    ) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "text,language",
    [
        ("la capitale de la France est Paris", "fr"),
        ("Königreich der Niederlande und", "de"),
        ("Acesta este un test și nu altceva", "ro"),
        ("the capital of the country", "en"),
        ("Paris", None),
        ("", None),
        ("dollar des États-Unis", "fr"),
    ],
)
def test_language_check(text, language):
    assert formats.language_of(text) == language


def test_target_format_is_labels_or_a_language():
    assert formats.target_format(NLI).labels == ("False", "True")
    french = [
        Example(f"Translate English to French: thing {i}", t)
        for i, t in enumerate(
            [" la République française", " le Royaume-Uni", " les États-Unis", " Allemagne"] * 3
        )
    ]
    assert formats.target_format(french).language == "fr"


def test_shuffled_labels_keep_inputs_and_permute_targets():
    shuffled = alignment.shuffled_labels(NLI, seed=0)
    assert [e.prompt for e in shuffled] == [e.prompt for e in NLI]
    assert sorted(e.completion for e in shuffled) == sorted(e.completion for e in NLI)
    assert [e.completion for e in shuffled] != [e.completion for e in NLI]


def test_cosine_is_one_for_unshuffled_labels_and_below_for_shuffled(llama):
    model, tok = llama.model, llama.tokenizer
    groups = alignment.parameter_groups(model)
    assert {"mlp", "attn_q", "attn_k", "attn_v", "all"} <= set(groups)
    last = max(
        int(n.split("layers.")[1].split(".")[0])
        for n, _ in model.named_parameters()
        if "layers." in n
    )
    assert all(
        f"layers.{last}." in n for g in ("mlp", "attn_q", "attn_k", "attn_v") for n in groups[g]
    )
    flags = [p.requires_grad for p in model.parameters()]
    same = alignment.gradients(model, tok, NLI, None, 64)
    assert [p.requires_grad for p in model.parameters()] == flags and all(
        p.grad is None for p in model.parameters()
    )
    cos = alignment.cosines(same, alignment.gradients(model, tok, NLI, None, 64), groups)
    assert all(value == pytest.approx(1.0, abs=1e-9) for value in cos.values())
    flipped = [Example(e.prompt, " False" if e.completion == " True" else " True") for e in NLI]
    cos = alignment.cosines(same, alignment.gradients(model, tok, flipped, None, 64), groups)
    assert cos["all"] < 1.0 - 1e-4


@pytest.mark.slow  # over 8 s here: the fast lane's rule
def test_a_diagnose_run_writes_json_plots_and_leaderboard_links(
    tiny_llama_dir, tmp_path, private_cache
):
    base = RunOptions(
        tuner="",
        train="nli",
        model=str(tiny_llama_dir),
        steps=2,
        out=tmp_path,
        eval_tasks="promot_mini_nli3,promot_mini_qa_capitals",
        overrides={"batch_size": "2", "prompt_length": "3"},
    )
    options = diagnose.DiagnoseOptions(
        ["ft", "promot"], "nli", every=1, eval_limit=2, probe_batch=4, base=base
    )
    result = diagnose.execute(options, progress=False)
    saved = json.loads(open(result["path"]).read())
    assert saved["schema_version"] == 1 and saved["command"].startswith("promot-bench diagnose")
    assert saved["format"]["labels"] == ["False", "True"]
    ft, promot = saved["tuners"]["ft"]["checkpoints"], saved["tuners"]["promot"]["checkpoints"]
    assert [c["step"] for c in ft] == [0, 1, 2] and [c["step"] for c in promot] == [0, 1, 2, 3, 4]
    assert [c["stage"] for c in promot] == ["start", "prompt", "prompt", "model", "model"]
    assert promot[1]["scores"] == promot[0]["scores"]  # the prompt stage leaves the weights alone
    for c in ft + promot:
        assert set(c["scores"]) == {"promot_mini_nli3", "promot_mini_qa_capitals"}
        assert all(r is None or 0.0 <= r <= 1.0 for r in c["specialization"].values())
        assert -1.0 <= c["cosine"]["all"] <= 1.0
    assert len(saved["plots"]) == 2 and all(
        open(p, "rb").read(4) == b"\x89PNG" for p in saved["plots"]
    )

    runner.execute(
        runner.plan(
            RunOptions(
                tuner="ft",
                train="nli",
                model=str(tiny_llama_dir),
                steps=1,
                limit=1,
                out=tmp_path,
                overrides={"batch_size": "2"},
            )
        ),
        progress=False,
    )
    leaderboard.build(tmp_path)
    board = (tmp_path / "LEADERBOARD.md").read_text()
    assert (
        "## Diagnostics" in board
        and "ft+promot-steps2-seed0.json" in board
        and "-cosine.png" in board
    )


def test_sequential_training_is_refused(tmp_path):
    from promot_bench.errors import UsageError

    base = RunOptions(tuner="", train="nli-then-en-fr", suite="v1", out=tmp_path)
    with pytest.raises(UsageError, match="one target"):
        diagnose.plan_all(diagnose.DiagnoseOptions(["ft"], "nli-then-en-fr", base=base))


def test_mean_specialization_leaves_out_tasks_already_in_the_format():
    checkpoints = [
        {
            "specialization": {"nli3": 1.0, "qa": 0.0, "sum": 0.1},
            "scores": {"nli3": 40, "qa": 20, "sum": 5},
        },
        {
            "specialization": {"nli3": 1.0, "qa": 0.9, "sum": 0.5},
            "scores": {"nli3": 60, "qa": 0, "sum": 1},
        },
    ]
    result = diagnose.summarize({"tuners": {"ft": {"checkpoints": checkpoints}}})
    ft = result["tuners"]["ft"]
    assert ft["excluded_from_mean_specialization"] == ["nli3"]
    assert [c["mean_specialization"] for c in ft["checkpoints"]] == pytest.approx([0.05, 0.7])
    assert ft["checkpoints"][1]["mean_score"] == pytest.approx(61 / 3)
