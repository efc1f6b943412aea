"""`promot-bench calibrate`: validation curves over a learning-rate grid from the target alone —
each rate from the pretrained weights, no retention probe ever scored."""

import json

import pytest

from promot_bench.run import calibrate
from promot_bench.run.options import RunOptions


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_each_rate_gets_its_validation_curve_and_no_probe_is_scored(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    base = RunOptions(
        tuner="promot",
        train="nli",
        model=str(tiny_llama_dir),
        steps=2,
        out=tmp_path,
        suite="v1",
        overrides={"batch_size": "2", "prompt_length": "3"},
    )
    path = calibrate.execute(base, [1e-4, 1e-3], every=1, progress=False)
    result = json.loads(path.read_text())
    assert (
        path
        == tmp_path / "calibration" / path.parent.parent.name / "nli/promot-cpu-small-steps2.json"
    )
    assert [c["lr"] for c in result["curves"]] == [1e-4, 1e-3]
    for c in result["curves"]:  # both stages, every step, scored on the validation split
        assert [(p["stage"], p["step"]) for p in c["validation"]] == [
            ("prompt", 1),
            ("prompt", 2),
            ("model", 1),
            ("model", 2),
        ]
        assert all(0 <= p["score"] <= 100 for p in c["validation"])
        assert set(c["losses"]) == {"prompt", "model"}
    # the same first prompt-stage point at both rates: each rate starts from the pretrained model
    # (ProMoT's prompt stage trains at prompt_lr, which --lr leaves alone)
    first = [c["validation"][0]["score"] for c in result["curves"]]
    assert first[0] == first[1]
    evaluated = {t for call in counted_evaluations for t in call}
    assert evaluated and all("validation" in t or t.endswith("_nli") for t in evaluated)
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
