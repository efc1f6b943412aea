import os

import pytest
from helpers.tiny_models import (
    build_tiny_gemma3,
    build_tiny_llama,
    build_tiny_t5,
    livened,
    tiny_gpt2,
)

from promot_bench.models import specs


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory):
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, so no test sees another's entries."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PROMOT_BENCH_CACHE", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # The build machines have no model hub; fail fast instead of waiting on the network.
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))


# "Livened" tiny models: unit-scale weights, so that a wrong position or mask shows in the
# logits (exactness tests). Module scope: each test module gets its own copies.
@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    return livened(specs.load_from_path(tiny_llama_dir))


@pytest.fixture(scope="module")
def t5(tiny_t5_dir):
    return livened(specs.load_from_path(tiny_t5_dir))


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory):
    """A tiny Gemma 3 whose local layers see 40 tokens: some prompts fit, some do not."""
    folder = build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"), sliding_window=40)
    return livened(specs.load_from_path(folder))


@pytest.fixture(scope="module")
def gpt2():
    return tiny_gpt2()


@pytest.fixture
def counted_evaluations(monkeypatch):
    """The task lists `evaluation.evaluate` was asked for, in order (it still runs)."""
    from promot_bench.evaluate import evaluation

    calls = []
    real = evaluation.evaluate

    def counting(model, tokenizer, tasks, *options):
        calls.append([t if isinstance(t, str) else t.config.task for t in tasks])
        return real(model, tokenizer, tasks, *options)

    monkeypatch.setattr(evaluation, "evaluate", counting)
    return calls
