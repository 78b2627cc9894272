"""Likelihood ranking of answer options (TruthfulQA MC1 / BIG-bench HHH scoring)."""

import torch

from lit_agents.scoring import choice_logprobs, pick_best, ranked_choice_correct
from tests.helpers import tiny_backbone


@torch.no_grad()
def _reference_logprob(model, tok, context: str, choice: str) -> float:
    """Unbatched, unpadded log p(choice | context), computed token by token."""
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    ans = tok(choice, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + ans])
    logp = model(input_ids=ids).logits.log_softmax(-1)[0]
    return sum(float(logp[len(ctx) + j - 1, t]) for j, t in enumerate(ans))


def test_batched_scores_match_token_by_token_reference():
    torch.manual_seed(0)
    model, tok = tiny_backbone().build("causal")
    model.eval()
    contexts = ["Q: Is the sky blue?\nA:", "Human: hello\n\nAssistant:"]
    choices = [[" Yes.", " No, it is green and very far away."], [" Hi!", " Go away", " Hello, how can I help?"]]
    got = choice_logprobs(model, tok, contexts, choices, batch_size=3)  # padding mixes items across batches
    for i, cs in enumerate(choices):
        for j, c in enumerate(cs):
            assert abs(got[i][j] - _reference_logprob(model, tok, contexts[i], c)) < 1e-4
    mean = choice_logprobs(model, tok, contexts, choices, normalize="mean")
    assert abs(mean[0][1] - got[0][1] / len(tok(" No, it is green and very far away.",
                                                  add_special_tokens=False)["input_ids"])) < 1e-4


def test_ranking_picks_the_answer_the_model_was_taught():
    """A hand-built MC item: after a few steps of training on the right answer, it must rank first."""
    torch.manual_seed(0)
    model, tok = tiny_backbone().build("causal")
    context, right, wrong = "Q: What do bees make?\nA:", " Honey.", " Steel."
    ids = torch.tensor([tok(context + right, add_special_tokens=False)["input_ids"]])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    scores = choice_logprobs(model, tok, [context, context], [[wrong, right], [right, wrong]])
    assert pick_best(scores) == [1, 0]
    assert ranked_choice_correct(scores, [1, 0]) == [True, True]
    assert ranked_choice_correct(scores, [0, 1]) == [False, False]


def test_ties_are_not_credited():
    assert ranked_choice_correct([[-1.0, -1.0], [-2.0, -1.0]], [0, 1]) == [False, True]
    assert pick_best([[-1.0, -1.0, -3.0]]) == [0]
