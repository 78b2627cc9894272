"""FSDP units in one process (gloo, world size 1). Mixed precision that trains: ``BackboneFSDPStrategy`` keeps
float32 master weights (FSDP shards float32
parameters, ``MixedPrecision.param_dtype`` bf16 computes) even when the paper configs load bf16 weights, so an
AdamW step at the paper learning rate (2e-6) changes every weight that has a gradient; updating bf16 weights
directly loses nearly all of them (8-bit significand). And norm clipping through the shared
``configure_gradient_clipping`` equals torch's clipping of the unwrapped model."""

import pytest
import torch
import torch.distributed as dist
from lightning.pytorch.plugins.precision import FSDPPrecision

from lit_agents.backbone import BackboneConfig, TinySpec
from lit_agents.strategies import BackboneFSDPStrategy, keep_fp32_master_weights

PAPER_LR = 2e-6


class _Holder(torch.nn.Module):
    """What Lightning wraps: a module holding the backbone."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids, labels=ids).loss


def _bf16_model():
    torch.manual_seed(0)
    model, tok = BackboneConfig(tiny=TinySpec(arch="llama", d_model=32, n_layers=2, n_heads=4, d_ff=64),
                                dtype="bfloat16").build("causal")
    return model, tok(["the quick brown fox jumps over the lazy dog"], return_tensors="pt")["input_ids"]


def _changed_fraction(before: dict, after: dict, grads: dict) -> float:
    """Of the weight elements with a non-zero gradient, the fraction whose value changed."""
    hit = total = 0
    for k, g in grads.items():
        mask = g != 0
        hit += int((after[k] != before[k])[mask].sum())
        total += int(mask.sum())
    assert total > 1000
    return hit / total


def test_a_paper_lr_step_on_bf16_weights_is_mostly_lost():
    model, ids = _bf16_model()
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    model(input_ids=ids, labels=ids).loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    torch.optim.AdamW(model.parameters(), lr=PAPER_LR).step()
    assert _changed_fraction(before, dict(model.named_parameters()), grads) < 0.2


def test_keep_fp32_master_weights_casts_half_parameters_only():
    model, _ = _bf16_model()
    n = sum(1 for p in model.parameters())
    assert keep_fp32_master_weights(model) == n and all(p.dtype == torch.float32 for p in model.parameters())
    assert keep_fp32_master_weights(model) == 0


@pytest.fixture(scope="module")
def process_group(tmp_path_factory):
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path_factory.mktemp('pg') / 'store'}", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def test_norm_clipping_under_fsdp_clips_the_global_norm(process_group):
    import copy
    from types import SimpleNamespace

    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    from lit_agents.training.clipping import GradientClippingMixin

    model, ids = _bf16_model()
    keep_fp32_master_weights(model)
    reference = _Holder(copy.deepcopy(model))
    strategy = BackboneFSDPStrategy(parallel_devices=[torch.device("cpu")], activation_checkpointing_blocks=False)
    wrapped = strategy._setup_model(_Holder(model))
    wrapped(ids).backward()
    reference(ids).backward()
    module = GradientClippingMixin()
    module.trainer = SimpleNamespace(strategy=SimpleNamespace(model=wrapped))
    module.configure_gradient_clipping(None, 0.05, "norm")
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
    assert norm > 0.5  # the clip is active
    with FSDP.summon_full_params(wrapped, writeback=False, with_grads=True):
        clipped = {k: p.grad.clone() for k, p in wrapped.named_parameters()}
    for k, p in reference.named_parameters():
        torch.testing.assert_close(clipped[k], p.grad, rtol=1e-4, atol=1e-7, msg=k)


def test_fsdp_bf16_mixed_shards_fp32_weights_and_a_paper_lr_step_moves_them(process_group):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    model, ids = _bf16_model()
    strategy = BackboneFSDPStrategy(parallel_devices=[torch.device("cpu")],
                                    precision_plugin=FSDPPrecision("bf16-mixed"),
                                    activation_checkpointing_blocks=False)
    assert strategy.mixed_precision_config.param_dtype == torch.bfloat16  # compute in bf16
    wrapped = strategy._setup_model(_Holder(model))
    assert all(p.dtype == torch.float32 for p in wrapped.parameters())  # the master copy
    with FSDP.summon_full_params(wrapped, writeback=False):
        before = {k: p.detach().clone() for k, p in wrapped.named_parameters()}
    opt = torch.optim.AdamW(wrapped.parameters(), lr=PAPER_LR)
    wrapped(ids).backward()
    with FSDP.summon_full_params(wrapped, writeback=False, with_grads=True):
        grads = {k: p.grad.detach().clone() for k, p in wrapped.named_parameters()}
    opt.step()
    with FSDP.summon_full_params(wrapped, writeback=False):
        after = {k: p.detach().clone() for k, p in wrapped.named_parameters()}
    assert _changed_fraction(before, after, grads) > 0.99
