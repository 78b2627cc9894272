"""EMA of weights as in Janner's trainer: copy before start_step, then average every update_every steps."""

import torch

from lit_agents.planning.ema import EMAConfig, EMAWeights


def test_ema_copy_then_average():
    live = torch.nn.Linear(3, 2)
    ema = EMAWeights(live, EMAConfig(decay=0.9, start_step=2, update_every=2))
    assert not any(p.requires_grad for p in ema.model.parameters())
    with torch.no_grad():
        live.weight.fill_(1.0)
    ema.update(live, step=1)                       # before start_step: a copy
    assert torch.equal(ema.model.weight, live.weight)
    with torch.no_grad():
        live.weight.fill_(3.0)
    ema.update(live, step=3)                       # not a multiple of update_every: unchanged
    assert torch.equal(ema.model.weight, torch.ones_like(live.weight))
    ema.update(live, step=4)                       # 0.9 * 1 + 0.1 * 3
    assert torch.allclose(ema.model.weight, torch.full_like(live.weight, 1.2))
    assert "model.weight" in ema.state_dict()      # saved with the module's checkpoint
