import csv

import pytest
import torch

from lit_agents.losses.distillation import task_nll
from lit_agents.methods.distillation import DistillationModule
from tests.helpers import run_cli, tiny_backbone

BATCH = {
    "input": ["Q1?\nAnswer Choices:\n(a) x\n(b) y", "Q2?\nAnswer Choices:\n(a) u\n(b) v\n(c) w"],
    "target": ["y", "u"], "answer_text": ["y", "u"], "answer_index": [1, 0], "choices": [["x", "y"], ["u", "v", "w"]],
    "dataset": ["d1", "d2"], "id": ["1", "2"],
    "rationales": [["because of x", ""], ["teacher one says u", "teacher two says u"]],
}


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    m = DistillationModule(tiny_backbone("t5"), teacher_names=["t5", "llama"], teacher_weights=[2.0, 0.5],
                           label_weight=0.7, max_input_length=128, max_target_length=64, max_label_length=16)
    return m


def test_prefixes_route_to_the_right_targets(module):
    tasks = module.tasks(BATCH)
    assert list(tasks) == ["label", "t5", "llama"]
    inputs, targets, _ = tasks["label"]
    assert [i.split("\n")[0] for i in inputs] == ["predict: Q1?", "predict: Q2?"] and targets == ["y", "u"]
    inputs, targets, _ = tasks["t5"]
    assert [i.split("\n")[0] for i in inputs] == ["explain: Q1?", "explain: Q2?"]
    assert targets == ["because of x", "teacher one says u"]
    inputs, targets, _ = tasks["llama"]  # the first example has no rationale from this teacher: left out
    assert [i.split("\n")[0] for i in inputs] == ["rationale: Q2?"] and targets == ["teacher two says u"]


def test_training_loss_is_the_weighted_sum_of_task_losses(module):
    module.eval()  # no dropout: both computations see the same network
    total = module.training_step(BATCH, 0)
    expected = 0.0
    with torch.no_grad():
        for task, (inputs, targets, max_t) in module.tasks(BATCH).items():
            enc = module.encode(inputs, targets, max_t)
            out = module.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=enc["labels"])
            expected += {"label": 0.7, "t5": 2.0, "llama": 0.5}[task] * out.loss  # HF's own seq2seq loss
    assert torch.allclose(total.detach(), expected, atol=1e-5)
    total.backward()
    assert all(p.grad is not None for p in module.model.parameters() if p.requires_grad)


LONG = {  # lengths from 10 to ~400 bytes: length grouping splits the rows into several forwards
    "input": [("why " * k) + "?\nAnswer Choices:\n(a) x\n(b) y" for k in (1, 90, 3, 40, 2, 70)],
    "target": ["y", "x", "y", "x", "y", "x"],
    "rationales": [["r" * n, "because " * (n // 8)] for n in (5, 300, 12, 150, 40, 200)],
}


@pytest.mark.parametrize("arch", ["t5", "bart"])
def test_length_grouped_batch_has_the_loss_and_gradients_of_the_padded_batch(arch):
    torch.manual_seed(0)
    m = DistillationModule(tiny_backbone(arch), teacher_names=["a", "b"], teacher_weights=[2.0, 0.5],
                           max_input_length=512, max_target_length=256, max_label_length=16)
    m.eval()  # no dropout: both computations see the same network
    inputs, targets, max_t = m.tasks(LONG)["a"]
    assert len(m.encode_groups(inputs, targets, max_t)) > 1  # the grouping really splits this batch
    results = []
    for grouped in (False, True):
        m.group_by_length = grouped
        m.zero_grad(set_to_none=True)
        loss = m.training_step(LONG, 0)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
    (ref, ref_grads), (got, got_grads) = results
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-6), (got, ref)
    assert ref_grads.keys() == got_grads.keys()
    for n, g in ref_grads.items():
        assert torch.allclose(got_grads[n], g, rtol=1e-4, atol=1e-6), n


def test_length_groups_partition_the_rows_and_isolate_the_long_one():
    from lit_agents.batching import forward_cost, length_groups

    inp, tgt = [500, 20, 25, 30, 22, 18], [250, 5, 6, 4, 5, 6]
    groups = length_groups(inp, tgt)
    assert sorted(r for g in groups for r in g) == list(range(6))
    assert [0] in groups  # the 500-token row pays for its own padding only
    cost = sum(forward_cost(len(g), max(inp[r] for r in g), max(tgt[r] for r in g)) for g in groups)
    assert cost < forward_cost(6, 500, 250)
    assert length_groups([40] * 4, [10] * 4) == [[0, 1, 2, 3]]  # equal lengths: one forward
    assert length_groups([], []) == [[]]


def test_target_ends_with_eos_and_decoder_inputs_are_shifted_labels(module):
    enc = module.encode(["predict: q"], ["abc"], 16)
    lab = enc["labels"][0]
    assert lab[-1].item() == module.tokenizer.eos_token_id
    assert enc["decoder_input_ids"][0, 0].item() == module.model.config.decoder_start_token_id
    assert torch.equal(enc["decoder_input_ids"][0, 1:], lab[:-1])


def test_ranking_with_shared_encoder_matches_full_forward(module):
    module.eval()
    picked = module.rank_options(BATCH["input"], BATCH["choices"])
    for x, cs, p in zip(BATCH["input"], BATCH["choices"], picked):
        scores = []
        for c in cs:
            enc = module.encode([module.hparams.label_prefix + x], [c], 16)
            logits = module.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                  decoder_input_ids=enc["decoder_input_ids"]).logits
            scores.append(-task_nll(logits, enc["labels"]).item())  # option_score "sum" vs mean: one row
        n_tok = [len(module.tokenizer(text_target=c)["input_ids"]) for c in cs]
        sums = [s * n for s, n in zip(scores, n_tok)]
        assert p == max(range(len(cs)), key=lambda i: sums[i])


def test_teacher_count_mismatch_and_bad_settings_are_clear_errors(module):
    with pytest.raises(ValueError, match="teacher_prefixes"):
        module.tasks({**BATCH, "rationales": [["a"], ["b"]]})
    with pytest.raises(ValueError, match="distinct"):
        DistillationModule(tiny_backbone("t5"), teacher_prefixes=["predict: "])
    with pytest.raises(ValueError, match="teacher_weights"):
        DistillationModule(tiny_backbone("t5"), teacher_weights=[1.0])
    with pytest.raises(ValueError, match="seq2seq"):
        DistillationModule(tiny_backbone("llama"))


@pytest.mark.slow
def test_cli_ddp_two_processes_trains_and_reports_per_dataset_accuracy(tmp_path):
    run_cli(["fit", "--config", "configs/tinyllm.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
             "--trainer.limit_val_batches", "2", "--trainer.log_every_n_steps", "1",
             "--trainer.enable_progress_bar", "false", "--data.init_args.cache_dir", str(tmp_path / "cache"),
             "--data.init_args.eval_batch_size", "4", "--model.init_args.max_label_length", "8",
             "--model.init_args.max_target_length", "64"], tmp_path, timeout=480)
    rows = list(csv.DictReader(open(next(tmp_path.rglob("metrics.csv")))))
    keys = {k for r in rows for k, v in r.items() if v}
    assert {"train/loss", "train/loss_label", "train/loss_flan-t5-xl", "train/loss_llama-2-chat"} <= keys
    assert {"val/acc_rank", "val/acc_gen", "val/loss_label"} <= keys
    assert any(k.startswith("val/acc_rank/") for k in keys)
    stats = next((tmp_path / "cache").rglob("stats.json"))
    assert '"flan-t5-xl"' in stats.read_text()


def test_eval_accuracy_counts_a_padding_repeat_once(module):
    """issue 14 item 5: DistributedSampler pads the last rank's share with repeats of the first items; a
    repeated id must not count twice. A one-option question is always right (option 0 is the answer), one whose
    answer index is past its only option always wrong: [right, wrong, right-again] must give 0.5, not 2/3."""
    module.hparams.eval_generate = False
    module._metric_ids, module.metrics = {}, torch.nn.ModuleDict()
    module.setup("validate")
    batch = {"id": ["q1", "q2", "q1"], "dataset": ["obqa"] * 3, "input": ["a?", "b?", "a?"],
             "answer_text": ["x", "y", "x"], "choices": [["x"], ["y"], ["x"]], "answer_index": [0, 1, 0]}
    module._eval_step(batch, "val")
    assert float(module.metrics[module._metric_ids[("rank", "all")]].compute()) == 0.5
