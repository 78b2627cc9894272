"""Multi-turn tool rollouts: a scripted first turn calls the calculator, the result comes back as an <obs>
turn, the policy continues; the loss mask excludes the observation tokens (decoder-only and encoder-decoder)."""
import pytest
import torch

from lit_agents.losses.grpo import grpo_loss
from lit_agents.sampling.group_rollout import encode_prompts, per_token_logps
from lit_agents.sampling.tool_rollout import generate_tool_rollout, render_trained_tokens
from lit_agents.tools.environment import ToolEnvironment
from tests.helpers import tiny_backbone

FIRST = ('<think> compute </think>\n<tool_call>\n{"name": "calculator", "parameters": {"expression": "6*7"}}'
         '\n</tool_call>')
OBS = '\n<obs> [{"name": "calculator", "results": 42}] </obs>\n'


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_calculator_episode_masks_the_observation(arch):
    torch.manual_seed(0)
    model, tok = tiny_backbone(arch).build()
    model.eval()  # no dropout, as GRPOModule(disable_dropout=True)
    enc_dec = arch == "t5"
    env = ToolEnvironment(functions=["lit_agents.tools.calculator.calculator"], max_turns=2)
    prompts = [[{"role": "user", "content": "what is 6*7?"}]] if not enc_dec else ["what is 6*7?"]
    rows = encode_prompts(tok, prompts, encoder_decoder=enc_dec, apply_chat_template=not enc_dec)
    ro = generate_tool_rollout(model, tok, rows, [{"id": 0}], env, encoder_decoder=enc_dec, num_generations=2,
                               max_completion_length=12, do_sample=False, first_turns=[FIRST])
    assert ro.num_turns.tolist() == [2, 2] and ro.num_tool_calls.tolist() == [1, 1]
    for i in range(2):
        text = ro.texts[i]
        assert text.startswith(FIRST + OBS) and len(text) > len(FIRST + OBS)  # the policy wrote a second turn
        rendered = render_trained_tokens(tok, ro, i)
        # trained: the first turn and the second; the observation sits outside the brackets
        assert rendered.startswith("⟦" + FIRST + "⟧" + OBS + "⟦")
        ids, m = ro.completion_ids[i], ro.completion_mask[i].bool()
        n_first = len(tok(FIRST, add_special_tokens=False)["input_ids"])
        n_obs = len(tok(OBS, add_special_tokens=False)["input_ids"])
        assert m[:n_first].all() and not m[n_first:n_first + n_obs].any() and m[n_first + n_obs]
        assert tok.decode(ids[n_first:n_first + n_obs]) == OBS
    # the loss recomputes each turn conditioned on the observation as in generation: greedy second-turn tokens
    # are the argmax of the recomputed distribution
    logps = per_token_logps(model, ro, encoder_decoder=enc_dec)
    n_pre = len(tok(FIRST + OBS, add_special_tokens=False)["input_ids"])
    second = ro.completion_mask[0, n_pre:].bool()
    if enc_dec:
        start = model.config.decoder_start_token_id
        dec_in = torch.cat([torch.full_like(ro.completion_ids[:, :1], start), ro.completion_ids[:, :-1]], dim=1)
        full = model(input_ids=ro.prompt_ids, attention_mask=ro.prompt_mask, decoder_input_ids=dec_in).logits
    else:
        ids = torch.cat([ro.prompt_ids, ro.completion_ids], 1)
        attn = torch.cat([ro.prompt_mask, torch.ones_like(ro.completion_ids)], 1)
        full = model(input_ids=ids, attention_mask=attn, position_ids=(attn.cumsum(-1) - 1).clamp(min=0)).logits
        full = full[:, ro.prompt_ids.shape[1] - 1:-1]
    lp = torch.log_softmax(full.float(), -1)
    lp[..., tok.pad_token_id] = -float("inf")  # sampling suppresses the pad token (it marks finished rows)
    best = lp.max(-1).values
    assert torch.allclose(logps[0, n_pre:][second], best[0, n_pre:][second], atol=1e-4)
    # a policy-gradient step touches the trained tokens only
    model.zero_grad()
    logps = per_token_logps(model, ro, encoder_decoder=enc_dec)
    out = grpo_loss(logps, ro.completion_mask, torch.tensor([1.0, -1.0]))
    out.loss.backward()
    assert torch.isfinite(out.loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_episode_ends_on_response_or_without_call():
    model, tok = tiny_backbone("llama").build()
    env = ToolEnvironment(functions=["lit_agents.tools.calculator.calculator"], max_turns=3)
    rows = encode_prompts(tok, [[{"role": "user", "content": "hi"}]], encoder_decoder=False, apply_chat_template=True)
    for first in ("<think> t </think>\n<response> 42 </response>", "<think> no call </think>"):
        ro = generate_tool_rollout(model, tok, rows, [{}], env, encoder_decoder=False, num_generations=2,
                                   max_completion_length=8, do_sample=False, first_turns=[first])
        assert ro.num_turns.tolist() == [1, 1] and ro.num_tool_calls.tolist() == [0, 0]
        assert ro.texts == [first, first] and bool(ro.completion_mask.all())
