"""Few-shot QA DataModule with Gotta (cloze) or MinPrompt (graph-selected) augmentation.

Training batches are ``{"qa": batch, "aug": batch}``: each QA batch is paired with an augmented batch. By
default (``epoch_covers: augmented``) an epoch draws every augmented example once and the QA loader is cycled
(restarted when exhausted, keeping its position across epochs); ``epoch_covers: qa`` makes an epoch one pass over
the few-shot QA examples with the augmented loader cycled, as in the released Gotta code. Batches are column dicts of
text (``id, context, question, answers, ...``); the LightningModule formats and tokenizes them.

The augmentation is computed once in ``prepare_data`` (rank 0) and cached as jsonl under ``cache_dir``, keyed
by the SHA-256 of the input files and every option that changes it; ``setup`` reads the cache on each rank.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from torch.utils.data import DataLoader, DistributedSampler

from data_modules.base import RecordsDataModule, ResumableSampler
from data_modules.cloze import ClozeVariant, EntityMatcher, file_sha256, make_cloze_examples
from data_modules.io import collate_records, samples_dir
from data_modules.qa import OnError, is_presampled_template, read_qa, resolve_presampled, sample_few_shot
from lit_agents.fileio import atomic_write_text

log = logging.getLogger(__name__)

AUG_CACHE_VERSION = 2  # bump when the augmentation code changes what it produces


def resolve_path(path: str) -> Path:
    """``samples:<rel>`` points into the bundled ``data_modules/samples``; anything else is a plain path."""
    return samples_dir() / path[len("samples:"):] if path.startswith("samples:") else Path(path).expanduser()


@dataclass
class ClozeOptions:
    """Gotta's entity-aware cloze augmentation (``augmentation: gotta``)."""

    gazetteer: str = "samples:qa/gazetteer_en.tsv"
    case_sensitive: bool = True
    min_length: int = 2
    variant: ClozeVariant = "entity"  # entity | random (Gotta-random) | what (Gotta-what)
    max_per_context: int | None = None
    # Cache the built automaton under cache_dir/matcher. Off by default: pyahocorasick's load() measured
    # slower than a rebuild (benchmarks/bench_entity_matcher.py); the augmented examples are cached anyway.
    cache_matcher: bool = False


@dataclass
class MinPromptOptions:
    """MinPrompt augmentation (``augmentation: minprompt``)."""

    ner_pipeline: str = "en_core_web_sm"  # used when installed; else blank English + gazetteer entity ruler
    gazetteer: str = "samples:qa/gazetteer_en.tsv"
    corpus: Literal["pool", "few_shot"] = "pool"  # raw text: all train-file contexts, or the k examples' only
    selection: Literal["dominating", "random", "all"] = "dominating"  # random = MinPrompt-random ablation
    keep_isolated: bool = True  # released code dropped sentences sharing no entity
    style: Literal["wba", "cloze", "mixed"] = "wba"
    wh_table: dict[str, list[str]] | None = None  # overrides rows of minprompt.DEFAULT_WH_TABLE
    mask_answer_in_context: bool = True
    clause_questions: bool = True


class _PairedLoader:
    """Yields ``{"qa": b, "aug": a}``: one loader *leads* (a pass over it is the epoch; its sampler's epoch is
    the trainer's), the other *follows* (cycled, restarted when exhausted, its position kept across epochs).

    By default the QA loader leads (``aug_leads=False``). ``epoch_fn`` gives the lead sampler's epoch (the
    trainer's current epoch); ``follow_start`` follower batches are skipped first (a resumed run continues the
    follower's stream where the checkpoint left it)."""

    def __init__(self, qa: DataLoader, aug: DataLoader | None, *, epoch_fn=None, follow_start: int = 0,
                 aug_leads: bool = False):
        if aug_leads and aug is None:
            raise ValueError("aug_leads needs an augmented loader")
        self.lead, self.follow = (aug, qa) if aug_leads else (qa, aug)
        self.lead_key, self.follow_key = ("aug", "qa") if aug_leads else ("qa", "aug")
        self._follow_iter: Iterator | None = None
        self._epochs_started = 0
        self.epoch_fn = epoch_fn
        self._follow_epoch = 0
        if self.follow is not None and follow_start:
            self._follow_epoch, skip = divmod(follow_start, len(self.follow))
            if skip and isinstance(self.follow.sampler, ResumableSampler):
                self.follow.sampler.resume(self._follow_epoch, skip * self.follow.batch_size)

    def __len__(self) -> int:
        return len(self.lead)

    def _next_follow(self):
        assert self.follow is not None
        if self._follow_iter is None:
            self._set_epoch(self.follow, self._follow_epoch)
            self._follow_iter = iter(self.follow)
        try:
            return next(self._follow_iter)
        except StopIteration:
            self._follow_epoch += 1
            self._set_epoch(self.follow, self._follow_epoch)
            self._follow_iter = iter(self.follow)
            return next(self._follow_iter)

    @staticmethod
    def _set_epoch(loader: DataLoader, epoch: int) -> None:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)

    def __iter__(self):
        epoch = self.epoch_fn() if self.epoch_fn is not None else self._epochs_started
        self._epochs_started += 1
        self._set_epoch(self.lead, epoch)
        for batch in self.lead:
            if self.follow is None:
                yield {"qa": batch}
            else:
                yield {self.lead_key: batch, self.follow_key: self._next_follow()}


class FewShotQADataModule(RecordsDataModule):
    """k-shot extractive QA (SQuAD json / MRQA jsonl) with optional Gotta or MinPrompt augmentation.

    Args:
        train_file: QA file to sample ``num_examples`` from, or a Splinter-style template with ``{seed}`` and
            ``{k}`` (e.g. ``data/squad-train-seed-{seed}-num-examples-{k}.jsonl``) read as-is.
        val_file / test_file: dev and test QA files (test falls back to dev when None).
        num_examples: k (16/32/64/128 in the papers); None = the whole train file.
        sample_seed: few-shot sampling seed (Splinter used 42..46).
        val_size: cut the dev set to this many QA pairs (seeded), e.g. the train size as released.
        augmentation: ``none`` (FewshotQA baseline), ``gotta`` or ``minprompt``.
        aug_batch_size: augmented batch size (default: ``batch_size``).
        epoch_covers: what one training epoch is. ``augmented`` (default): every augmented example is drawn
            once per epoch and every QA example at least once — the longer of the two loaders is the epoch and
            the other is cycled (the dissertation's loss sums over every augmented example; MinPrompt on SQuAD
            makes 17,409 of them, i.e. 8,705 steps per epoch at batch 2). ``qa``: one pass over the k QA
            examples, the augmented loader cycled across epochs (the released Gotta loop; at k = 16, batch 2,
            25 epochs only 400 augmented examples are ever drawn).
        max_aug_examples: cap on augmented examples (seeded subsample); None = all.
        mask_token: replaces masked entities in augmented contexts (BART's ``<mask>``).
        cache_dir: where augmentation results are cached.
        val_file: validation QA file (SQuAD json or MRQA jsonl).
        test_file: test QA file.
        dataset_name: name used in logs and prediction files.
        on_error: ``raise`` on the first bad record, or ``skip`` it and count it.
        batch_size: training records per batch per rank.
        eval_batch_size: validation/test records per batch per rank (default: ``batch_size``).
        num_workers: dataloader worker processes.
        seed: seed of the shuffling and of seeded splits.
    """

    def __init__(
        self,
        train_file: str = "samples:qa/squad_train_pool.json",
        val_file: str | None = "samples:qa/squad_dev.json",
        test_file: str | None = "samples:qa/squad_test.json",
        num_examples: int | None = 16,
        sample_seed: int = 42,
        dataset_name: str | None = None,
        val_size: int | None = None,
        on_error: OnError = "raise",
        augmentation: Literal["none", "gotta", "minprompt"] = "gotta",
        cloze: ClozeOptions = ClozeOptions(),
        minprompt: MinPromptOptions = MinPromptOptions(),
        mask_token: str = "<mask>",
        aug_batch_size: int | None = None,
        epoch_covers: Literal["augmented", "qa"] = "augmented",
        max_aug_examples: int | None = None,
        cache_dir: str = ".cache/lit_agents/qa_aug",
        batch_size: int = 2,
        eval_batch_size: int | None = 8,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        self.save_hyperparameters()
        self.train_file, self.val_file, self.test_file = train_file, val_file, test_file
        self.num_examples, self.sample_seed, self.dataset_name = num_examples, sample_seed, dataset_name
        self.val_size, self.on_error = val_size, on_error
        self.augmentation = augmentation
        self.cloze = cloze if isinstance(cloze, ClozeOptions) else ClozeOptions(**cloze)
        self.minprompt = minprompt if isinstance(minprompt, MinPromptOptions) else MinPromptOptions(**minprompt)
        # plain values only, so checkpoints load with torch.load(weights_only=True)
        self.hparams["cloze"], self.hparams["minprompt"] = asdict(self.cloze), asdict(self.minprompt)
        self.mask_token, self.max_aug_examples = mask_token, max_aug_examples
        self.aug_batch_size = aug_batch_size or batch_size
        if epoch_covers not in ("augmented", "qa"):
            raise ValueError(f"data.epoch_covers must be 'augmented' or 'qa', got {epoch_covers!r}")
        self.epoch_covers = epoch_covers
        self._lead_resume: dict | None = None
        self.cache_dir = Path(cache_dir)
        self.aug_records: list[dict] = []
        self.pool_records: list[dict] = []
        self._aug_resume = 0

    # ------------------------------------------------------------------ files
    def _train_path(self) -> Path:
        if is_presampled_template(self.train_file):
            return resolve_presampled(str(resolve_path(self.train_file)), seed=self.sample_seed,
                                      k=self.num_examples, dataset=self.dataset_name)
        return resolve_path(self.train_file)

    def _read_train(self) -> list[dict]:
        records, _ = read_qa(self._train_path(), on_error=self.on_error)
        self.pool_records = records
        if is_presampled_template(self.train_file):
            return records  # Splinter's files are already the k-shot sample
        return sample_few_shot(records, self.num_examples, self.sample_seed)

    def _aug_key(self) -> str:
        opts = {"v": AUG_CACHE_VERSION, "train": file_sha256(self._train_path()), "k": self.num_examples,
                "seed": self.sample_seed, "aug": self.augmentation, "mask": self.mask_token,
                "max": self.max_aug_examples,
                "template": is_presampled_template(self.train_file), "on_error": self.on_error}
        if self.augmentation == "gotta":
            opts["cloze"] = asdict(self.cloze)
            opts["gazetteer"] = file_sha256(resolve_path(self.cloze.gazetteer))
        elif self.augmentation == "minprompt":
            from data_modules.minprompt import ner_identity

            opts["minprompt"] = asdict(self.minprompt)
            opts["gazetteer"] = file_sha256(resolve_path(self.minprompt.gazetteer))
            # the pipeline that will load (package + version, or the gazetteer fallback), not the option's name
            opts["ner"] = ner_identity(self.minprompt.ner_pipeline, resolve_path(self.minprompt.gazetteer))
        return hashlib.sha256(json.dumps(opts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def _aug_cache_path(self) -> Path:
        return self.cache_dir / f"{self.augmentation}-{self._aug_key()}.jsonl"

    # --------------------------------------------------------------- augment
    def build_augmentation(self, train: list[dict]) -> list[dict]:
        """Compute the augmented records for the few-shot ``train`` records (no caching)."""
        if self.augmentation == "none":
            return []
        if self.augmentation == "gotta":
            c = self.cloze
            matcher = EntityMatcher(resolve_path(c.gazetteer), case_sensitive=c.case_sensitive,
                                    min_length=c.min_length,
                                    cache_dir=self.cache_dir / "matcher" if c.cache_matcher else None)
            aug = make_cloze_examples(train, matcher, variant=c.variant, mask_token=self.mask_token,
                                      seed=self.sample_seed, max_per_context=c.max_per_context)
        elif self.augmentation == "minprompt":
            aug = self._minprompt(train)
        else:
            raise ValueError(f"data.augmentation: unknown {self.augmentation!r} (none, gotta, minprompt)")
        if self.max_aug_examples is not None and len(aug) > self.max_aug_examples:
            aug = random.Random(self.sample_seed).sample(aug, self.max_aug_examples)
        log.info("%s augmentation: %d examples from %d QA examples", self.augmentation, len(aug), len(train))
        return aug

    def _minprompt(self, train: list[dict]) -> list[dict]:
        from data_modules import minprompt as mp

        o = self.minprompt
        source = self.pool_records if o.corpus == "pool" else train
        first_id: dict[str, str] = {}
        for r in source:
            first_id.setdefault(r["context"], r["id"])
        contexts, ids = list(first_id), list(first_id.values())
        nlp = mp.load_ner(o.ner_pipeline, resolve_path(o.gazetteer))
        sentences = mp.extract_sentences(contexts, nlp)
        selected = mp.select_sentences(sentences, selection=o.selection, keep_isolated=o.keep_isolated,
                                       seed=self.sample_seed)
        log.info("MinPrompt: %d contexts, %d sentences, %d selected", len(contexts), len(sentences), len(selected))
        return mp.generate_questions(sentences, selected, contexts, ids, style=o.style, wh_table=o.wh_table,
                                     mask_answer_in_context=o.mask_answer_in_context, mask_token=self.mask_token,
                                     clause_questions=o.clause_questions, seed=self.sample_seed)

    def prepare_data(self) -> None:
        if self.augmentation == "none":
            return
        path = self._aug_cache_path()
        if path.is_file():
            return
        aug = self.build_augmentation(self._read_train())
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in aug))

    def setup(self, stage: str | None = None) -> None:
        self.train_records = self._read_train()
        if self.val_file:
            val, _ = read_qa(resolve_path(self.val_file), on_error=self.on_error)
            if self.val_size is not None and self.val_size < len(val):
                val = random.Random(self.sample_seed).sample(val, self.val_size)
            self.val_records = val
        if self.test_file:
            self.test_records, _ = read_qa(resolve_path(self.test_file), on_error=self.on_error)
        if self.augmentation != "none" and stage in (None, "fit"):
            path = self._aug_cache_path()
            if not path.is_file():  # used without a Trainer (prepare_data not called)
                self.prepare_data()
            with open(path, encoding="utf-8") as f:
                self.aug_records = [json.loads(line) for line in f if line.strip()]
            if not self.aug_records:
                log.warning("%s augmentation produced no example: training on the QA examples only",
                            self.augmentation)

    # ----------------------------------------------------------- dataloaders
    def _aug_loader(self) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = ResumableSampler(self.aug_records, num_replicas=world, rank=rank, seed=self.seed + 1)
        return DataLoader(self.aug_records, batch_size=self.aug_batch_size, sampler=sampler,
                          num_workers=self.num_workers, collate_fn=collate_records)

    def train_dataloader(self) -> _PairedLoader:  # type: ignore[override]
        if not self.train_records:
            raise ValueError("FewShotQADataModule: no training records (check data.train_file)")
        qa = self._loader(self.train_records, train=True)  # seeded ResumableSampler, sharded under DDP
        aug = self._aug_loader() if self.aug_records else None
        aug_leads = aug is not None and self.epoch_covers == "augmented" and len(aug) > len(qa)
        lead_resume, self._lead_resume = self._lead_resume, None
        if aug_leads:  # the mid-epoch position belongs to the augmented stream; QA is the cycled one
            qa.sampler.resume_epoch = None
            if lead_resume is not None:
                aug.sampler.resume(lead_resume["epoch"], lead_resume["batches"] * self.aug_batch_size)
        trainer = getattr(self, "trainer", None)
        epoch_fn = (lambda: trainer.current_epoch) if trainer is not None else None
        start, self._aug_resume = self._aug_resume, 0
        return _PairedLoader(qa, aug, epoch_fn=epoch_fn, follow_start=start, aug_leads=aug_leads)

    def state_dict(self) -> dict:
        """The base class's position in the epoch, plus how many batches the cycled (following) loader has
        given (one per training batch processed so far), so a resumed run continues both streams."""
        state = super().state_dict()
        if state:
            state["aug_batches"] = int(self.trainer.fit_loop.epoch_loop.batch_progress.total.processed)
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._aug_resume = int(state.get("aug_batches", 0)) if state else 0
        self._lead_resume = dict(state) if state and "epoch" in state and "batches" in state else None
