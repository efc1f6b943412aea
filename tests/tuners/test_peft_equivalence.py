"""Our prompt tuning equals PEFT's PromptTuning: same init, data and optimizer -> same losses."""

import pytest
import torch
from helpers.runs import EXAMPLES

from promot_bench.models import specs
from promot_bench.train.loss import compute_loss
from promot_bench.train.soft_prompt import SoftPrompt
from promot_bench.train.train_data import batch_indices, collate, encode


@pytest.mark.parametrize(
    "fixture,task_type", [("tiny_llama_dir", "CAUSAL_LM"), ("tiny_t5_dir", "SEQ_2_SEQ_LM")]
)
def test_prompt_tuning_matches_peft(fixture, task_type, request):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    folder = request.getfixturevalue(fixture)
    ours_model = specs.load(specs.resolve(str(folder)))
    theirs_model = specs.load(specs.resolve(str(folder)))
    tokenizer = ours_model.tokenizer
    for param in ours_model.model.parameters():
        param.requires_grad_(False)
    prompt = SoftPrompt.from_vocab(ours_model.model, 5, seed=3)
    peft_model = get_peft_model(
        theirs_model.model,
        PromptTuningConfig(
            task_type=getattr(TaskType, task_type),
            num_virtual_tokens=5,
            num_transformer_submodules=1,
        ),
    )  # the encoder only, as the study and we do for T5
    their_prompt = peft_model.prompt_encoder["default"].embedding.weight
    with torch.no_grad():
        their_prompt.copy_(prompt.weight)

    ours_opt = torch.optim.AdamW([prompt.weight], lr=0.05)
    theirs_opt = torch.optim.AdamW([their_prompt], lr=0.05)
    encoded = [encode(tokenizer, ex, ours_model.is_encoder_decoder, 64) for ex in EXAMPLES]
    for step in range(4):
        batch = collate(
            [encoded[i] for i in batch_indices(len(encoded), 4, 0, step)], tokenizer.pad_token_id
        )
        ours = compute_loss(ours_model.model, batch, prompt)
        theirs = peft_model(**batch).loss
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5, abs=1e-6), step
        for loss, opt in ((ours, ours_opt), (theirs, theirs_opt)):
            loss.backward()
            opt.step()
            opt.zero_grad()
    assert torch.allclose(prompt.weight, their_prompt, atol=1e-5)
