"""`promot-bench sweep`: every cell validated first, finished cells skipped."""

import subprocess
import sys

import pytest
from helpers.runs import options

from promot_bench.errors import UsageError
from promot_bench.run import pipeline, sweep


def test_cells_cover_the_product_and_bad_names_fail_before_anything_runs(tiny_llama_dir, tmp_path):
    base = options(tiny_llama_dir, tmp_path)
    cells = sweep.plans(base, ["ft", "pt"], ["nli", "en-fr"], [0, 1])
    assert len(cells) == 8 and {
        (c.options.tuner, c.options.train, c.options.seed) for c in cells
    } == {(t, d, s) for t in ("ft", "pt") for d in ("nli", "en-fr") for s in (0, 1)}
    with pytest.raises(UsageError, match="unknown tuner 'bogus'"):
        sweep.plans(base, ["ft", "bogus"], ["nli"], [0])
    for text in ("", "ft,,pt", "ft,ft"):
        with pytest.raises(UsageError):
            sweep.split_list(text, "--tuners")
    with pytest.raises(UsageError, match="integers"):
        sweep.parse_seeds("0,x")


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_finished_cells_are_skipped(tiny_llama_dir, tmp_path, private_cache, capsys, monkeypatch):
    cells = sweep.plans(options(tiny_llama_dir, tmp_path), ["pt"], ["nli"], [0, 1])
    sweep.execute(cells[:1], progress=False)
    ran = []
    real = pipeline.fit
    monkeypatch.setattr(pipeline, "fit", lambda *a, **k: ran.append(1) or real(*a, **k))
    results = sweep.execute(cells, progress=False)
    assert len(ran) == 1 and [r["seed"] for r in results] == [0, 1]
    assert "finished earlier" in capsys.readouterr().err  # progress: stderr
    assert (
        results[1]["command"].startswith("promot-bench run --tuner pt --train nli")
        and "--seed 1" in results[1]["command"]
    )
    # A data-parallel helper process (rank 1 of a launch) reports nothing: the main one does.
    monkeypatch.setenv("RANK", "1")
    assert sweep.execute(cells, progress=False) == [] and capsys.readouterr().out == ""


def test_cli_refuses_a_bad_seed_list(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "promot_bench.cli",
            "sweep",
            "--tuners",
            "ft",
            "--train",
            "nli",
            "--seeds",
            "0,a",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--seeds" in done.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_a_small_sweep_feeds_the_leaderboard(tiny_llama_dir, tmp_path, private_cache):
    from promot_bench.report import leaderboard, tables

    sweep.execute(
        sweep.plans(options(tiny_llama_dir, tmp_path), ["ft", "pt"], ["nli"], [0]), progress=False
    )
    (table,) = tables.build_tables(tables.load_results(tmp_path))
    rows = {row.label: row for row in table.rows}
    assert set(rows) == {"pretrained", "ft → nli", "pt → nli"}
    assert rows["ft → nli"].versus_ft is None
    pt = rows["pt → nli"]
    # pt leaves the weights alone, so its in-context scores are the pretrained ones exactly
    assert pt.tasks == rows["pretrained"].tasks and pt.delta_mean[0] == 0.0
    assert pt.versus_ft is not None
    leaderboard.build(tmp_path)
    assert "pt → nli" in (tmp_path / "LEADERBOARD.md").read_text()
