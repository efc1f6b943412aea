"""The gold answer's mean per-token log-prob (gold_logprob.py): equal to a direct computation
with the model under the prompt written out here, 0-shot and 1-shot. (A run's result carries
it: tests/run/test_runner.py, test_a_run_writes_a_complete_result.)"""

import pytest
import torch

from promot_bench.evaluate import evaluation
from promot_bench.evaluate.gold_logprob import summary
from promot_bench.train import task_data

TASK = "promot_mini_qa_capitals"  # generative, few-shot demonstrations: the first training rows
LIMIT = 3


@pytest.fixture(scope="module")
def manager():
    return evaluation.task_manager()


@pytest.fixture(scope="module")
def task(manager):
    return task_data.load_task(TASK, manager)


def written_prompt(task, doc, shots: int) -> str:
    """The few-shot prompt as the task's YAML describes it (sampler first_n: the first rows)."""
    c = task.config
    demos = list(task.training_docs())[:shots]
    return "".join(
        f"{task.doc_to_text(d)}{c.target_delimiter}{task_data.gold_text(task, d)}"
        f"{c.fewshot_delimiter}"
        for d in demos
    ) + task.doc_to_text(doc)


@torch.no_grad()
def manual_mean_logprob(loaded, context: str, continuation: str) -> float:
    """Sum of log-softmax of the continuation's tokens given the context's, over their count."""
    tok = loaded.tokenizer
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    n_ctx = len(tok(context, add_special_tokens=False)["input_ids"])
    logprobs = loaded.model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
    gold = torch.tensor(whole[n_ctx:])
    picked = logprobs[n_ctx - 1 : len(whole) - 1].gather(1, gold[:, None])
    return float(picked.sum()) / len(gold)


@pytest.fixture(scope="module")
def gold_values(llama, manager) -> dict:
    """shots -> doc_id -> (lm-eval's logged sample, its gold log-prob)."""
    values = {}
    for shots in (0, 1):
        out = evaluation.run_lm_eval(
            llama.model,
            llama.tokenizer,
            [TASK],
            evaluation.EvalOptions(
                num_fewshot=shots, limit=LIMIT, manager=manager, gold_logprob=True
            ),
        )
        values[shots] = {
            s["doc_id"]: (s, out["gold_logprob"][TASK][s["doc_id"]]) for s in out["samples"][TASK]
        }
    return values


@pytest.mark.parametrize("shots", [0, 1])
def test_each_item_equals_a_manual_log_prob_under_the_written_prompt(
    llama, gold_values, task, shots
):
    values = gold_values[shots]
    docs = list(task.test_docs())
    assert sorted(values) == list(range(LIMIT))
    for doc_id, (sample, value) in values.items():
        doc = docs[doc_id]
        context = written_prompt(task, doc, shots)
        assert sample["arguments"][0][0] == context  # the prompt the item generated from
        expected = manual_mean_logprob(llama, context, " " + task_data.gold_text(task, doc))
        assert value == pytest.approx(expected, abs=1e-5)


def test_the_demonstration_is_in_the_scored_context(llama, gold_values, task):
    """Would fail were the gold scored 0-shot under a 1-shot probe: the demonstration matters."""
    one_shot, zero_shot = gold_values[1], gold_values[0]
    docs = list(task.test_docs())
    for doc_id, (_, value) in one_shot.items():
        gold = " " + task_data.gold_text(task, docs[doc_id])
        without = manual_mean_logprob(llama, written_prompt(task, docs[doc_id], 0), gold)
        assert abs(value - without) > 1e-3 and zero_shot[doc_id][1] == pytest.approx(
            without, abs=1e-5
        )


def test_summary_pairs_items_and_skips_probes_without_values():
    def side(values):
        return {"samples": [{"doc_id": i, "gold_logprob": v} for i, v in enumerate(values)]}

    before = {"a": side([-2.0, -3.0]), "b": side([-1.0, -1.0]), "mc": side([None, None])}
    after = {"a": side([-1.0, -2.0]), "b": side([-1.0, -1.0]), "mc": side([None, None])}
    out = summary(before, after, seed=0)
    assert set(out) == {"a", "b", "mean"}  # "mc" (no per-item values) is left out
    assert out["a"] == {
        "before": -2.5,
        "after": -1.5,
        "delta": 1.0,
        "ci": {"low": 1.0, "high": 1.0, "significant": True},
    }
    assert out["mean"]["delta"] == pytest.approx(0.5)
    assert summary({"mc": side([None])}, {"mc": side([None])}, seed=0) is None


@pytest.mark.parametrize("with_prompt", [False, True])
def test_the_shared_prefix_path_agrees_with_lm_evals_loglikelihood(
    llama, manager, monkeypatch, with_prompt
):
    """The cached pass (a copy of the demonstrations' keys/values, then each item's own tokens
    and gold) gives HFLM's loglikelihood values; the soft prompt is in both contexts."""
    from functools import partial

    from promot_bench.evaluate.prompt_lm import PromptLM
    from promot_bench.train.soft_prompt import SoftPrompt

    prompt = SoftPrompt.from_vocab(llama.model, 5, seed=0) if with_prompt else None
    shown = dict(num_fewshot=1, limit=6, manager=manager, gold_logprob=True, batch_size=4)
    stock = evaluation.run_lm_eval(
        llama.model,
        llama.tokenizer,
        [TASK],
        evaluation.EvalOptions(
            **shown, lm_class=partial(PromptLM, soft_prompt=prompt, reuse_prefix=False)
        ),
    )
    with monkeypatch.context() as patched:  # the cached path must not fall back to HFLM's
        patched.setattr(
            PromptLM, "loglikelihood", lambda *a, **k: pytest.fail("fell back to loglikelihood")
        )
        cached = evaluation.run_lm_eval(
            llama.model,
            llama.tokenizer,
            [TASK],
            evaluation.EvalOptions(soft_prompt=prompt, **shown),
        )
    assert sorted(cached["gold_logprob"][TASK]) == list(range(6))
    for doc_id, value in stock["gold_logprob"][TASK].items():
        assert cached["gold_logprob"][TASK][doc_id] == pytest.approx(value, abs=1e-5)


@torch.no_grad()
def manual_kl(reference, tuned, tokenizer, context: str, continuation: str) -> float:
    """Mean over the continuation's positions of KL(reference || tuned), each model's next-token
    distribution computed in one plain forward pass over the whole text."""
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    n_ctx = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    at = slice(n_ctx - 1, len(whole) - 1)
    p = reference(torch.tensor([whole])).logits[0, at].float().log_softmax(-1)
    q = tuned(torch.tensor([whole])).logits[0, at].float().log_softmax(-1)
    return float((p.exp() * (p - q)).sum(-1).mean())


def kl_pass(model, reference, tokenizer, manager) -> dict:
    out = evaluation.run_lm_eval(
        model,
        tokenizer,
        [TASK],
        evaluation.EvalOptions(
            num_fewshot=1, limit=LIMIT, manager=manager, gold_logprob=True, kl_reference=reference
        ),
    )
    return {s["doc_id"]: (s, out["kl"][TASK][s["doc_id"]]) for s in out["samples"][TASK]}


def test_the_kl_from_the_pretrained_model_is_zero_for_itself_and_manual_after_a_step(
    llama, manager, task
):
    """The reference's rows go through its own shared-prefix cache: 0 against an identical
    copy; against weights moved by one optimizer step, each item equals a plain computation."""
    import copy

    reference = copy.deepcopy(llama.model)
    same = kl_pass(llama.model, reference, llama.tokenizer, manager)
    assert sorted(same) == list(range(LIMIT))
    assert all(abs(kl) < 1e-6 for _, kl in same.values())
    tuned = copy.deepcopy(llama.model)
    optimizer = torch.optim.SGD(tuned.parameters(), lr=0.5)
    ids = llama.tokenizer("Q: What is the capital of France? A: Paris", return_tensors="pt")
    tuned(**ids, labels=ids["input_ids"]).loss.backward()
    optimizer.step()
    moved = kl_pass(tuned, reference, llama.tokenizer, manager)
    docs = list(task.test_docs())
    for doc_id, (sample, kl) in moved.items():
        context = sample["arguments"][0][0]
        continuation = " " + task_data.gold_text(task, docs[doc_id])
        expected = manual_kl(reference, tuned, llama.tokenizer, context, continuation)
        assert kl > 1e-4 and kl == pytest.approx(expected, rel=1e-4, abs=1e-6)
