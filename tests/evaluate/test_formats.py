"""The collapse rate on hand-made outputs: the share of outputs in the target's format (its
labels, or its language) before and after, and the paired bootstrap interval of the change."""

import pytest

from promot_bench.evaluate import formats, statistics


def samples(outputs):
    # doc ids out of order on purpose: the rate is taken in doc order, as the scores are
    return [{"doc_id": i, "output": o} for i, o in reversed(list(enumerate(outputs)))]


def test_collapse_rate_for_a_classification_target():
    fmt = formats.TargetFormat(labels=("False", "True"))
    before = {
        "qa": {"samples": samples([" Paris", " True", "", " false."])},
        "sum": {"samples": samples([" The module", " None", " x", " y"])},
    }
    after = {
        "qa": {"samples": samples([" True", " True", " False", " Berlin"])},
        "sum": {"samples": samples([" True,", " The module", " x", None])},
    }
    out = formats.collapse(before, after, fmt, seed=0)
    assert (out["qa"]["before"], out["qa"]["after"], out["qa"]["delta"]) == (50.0, 75.0, 25.0)
    assert (out["sum"]["before"], out["sum"]["after"], out["sum"]["delta"]) == (0.0, 25.0, 25.0)
    assert (out["mean"]["before"], out["mean"]["after"], out["mean"]["delta"]) == (25.0, 50.0, 25.0)
    for entry in out.values():
        assert entry["ci"]["low"] <= entry["delta"] <= entry["ci"]["high"]
    assert formats.in_format(before["qa"]["samples"], fmt) == [0.0, 100.0, 0.0, 100.0]


def test_collapse_rate_for_a_translation_target():
    fmt = formats.TargetFormat(language="fr")
    before = {"en_de": {"samples": samples([" the dog", " Paris", " le chien", " der Hund"])}}
    after = {
        "en_de": {"samples": samples([" la maison", " le chat et", " Paris", " les États-Unis"])}
    }
    out = formats.collapse(before, after, fmt, seed=0)
    assert (out["en_de"]["before"], out["en_de"]["after"], out["en_de"]["delta"]) == (
        25.0,
        75.0,
        50.0,
    )


def test_the_interval_is_computed_as_the_score_deltas_are():
    """Where a probe's scores are its in-format indicators, the collapse interval is exactly the
    score delta's interval."""
    fmt = formats.TargetFormat(labels=("False", "True"))
    b_out, a_out = [" True", " x", " x", " True", " x"], [" True", " True", " x", " False", " True"]
    out = formats.collapse(
        {"t": {"samples": samples(b_out)}}, {"t": {"samples": samples(a_out)}}, fmt, seed=3
    )
    scores = statistics.paired_interval(
        {"t": ("mean", [100.0, 0, 0, 100.0, 0], [100.0, 100.0, 0, 100.0, 100.0])}, seed=3
    )
    assert out["t"]["ci"] == {k: scores["t"][k] for k in ("low", "high", "significant")}
    assert out["t"]["delta"] == pytest.approx(40.0)


def test_no_collapse_rate_without_a_target_format():
    assert (
        formats.collapse(
            {"t": {"samples": samples(["x"])}},
            {"t": {"samples": samples(["y"])}},
            formats.TargetFormat(),
            seed=0,
        )
        is None
    )


def test_a_translation_targets_language_from_its_marked_answers():
    """Names mostly carry no marker: a tenth of marked answers that agree decide the language;
    marked answers that disagree, or too few, decide nothing."""
    from types import SimpleNamespace as Ex

    def answers(texts):
        return [
            Ex(prompt="Translate English to French: Tunisia\nFrench:", completion=t) for t in texts
        ]

    names = answers(["Tunisie"] * 8 + ["la Corée", "langues des Afars"])
    fmt = formats.target_format(names)
    assert fmt.language == "fr" and "tunisie" in fmt.catalogue.words
    assert fmt.matches(" Tunisie") and not fmt.matches(" Tunisia")
    few = answers(["Tunisie"] * 17 + ["la Corée"])
    assert formats.target_format(few) == formats.TargetFormat()  # 1 marked of 18: under a tenth
    marked = ["la Corée", "der Osten", "die Stadt", "et le nord"]
    mixed = answers(["Tunisie"] * 6 + marked)
    assert formats.target_format(mixed) == formats.TargetFormat()  # fr 2, de 2: no agreement


def test_a_broken_output_is_empty_or_echoes_the_answer_cue_unless_that_is_the_answer():
    assert formats.broken("", "Paris") and formats.broken("   ", "Paris")
    assert formats.broken(" A:", "Paris") and formats.broken(" A: A", "Paris")
    assert formats.broken("Q: What is", "Paris") and formats.broken(" A", "Paris")
    assert not formats.broken(" A", "A")  # first_letter's answer can be the cue's letter
    assert not formats.broken(" Q", ["Q", "q"])
    assert not formats.broken(" Athens", "Athens") and not formats.broken(" Asia:", "Asia")


def test_the_breakdown_rate_is_the_share_of_broken_outputs_before_and_after():
    before = {"qa": {"samples": samples([" Paris", " Rome", " Lima", " Bern"])}}
    after = {"qa": {"samples": samples(["", " A:", " Lima", " A: A"])}}
    out = formats.breakdown(before, after, seed=0)
    assert (out["qa"]["before"], out["qa"]["after"], out["qa"]["delta"]) == (0.0, 75.0, 75.0)
    assert out["mean"]["delta"] == 75.0 and out["mean"]["ci"]["low"] > 0
