"""AdamW's fused kernel (`optimizer: adamw-fused`) makes the default AdamW's update to float
tolerance: a soft prompt at a high rate and the weights at a low one, in one optimizer, as
`joint` trains them."""

import torch

from promot_bench.config import TrainConfig
from promot_bench.models import specs
from promot_bench.train.optimizer import make_optimizer


def trained(folder, optimizer: str, steps: int = 5) -> list[torch.Tensor]:
    loaded = specs.load_from_path(folder)
    model = loaded.model
    prompt = torch.nn.Parameter(
        torch.randn(4, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    )
    trainable = {"prompt": (prompt, 0.3)} | {n: (p, 5e-5) for n, p in model.named_parameters()}
    opt = make_optimizer(TrainConfig(optimizer=optimizer), trainable)
    assert bool(opt.defaults.get("fused")) == (optimizer == "adamw-fused")
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    for _ in range(steps):
        embeds = torch.cat([prompt[None], model.get_input_embeddings()(ids)], dim=1)
        loss = model(inputs_embeds=embeds).logits[:, -1].logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [prompt.detach(), *(p.detach() for p in model.parameters())]


def test_the_fused_kernel_makes_the_default_update_to_float_tolerance(tiny_llama_dir):
    default, fused = trained(tiny_llama_dir, "adamw"), trained(tiny_llama_dir, "adamw-fused")
    start = specs.load_from_path(tiny_llama_dir).model.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(default[1:], start))  # the weights moved
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-5) for a, b in zip(default, fused))
