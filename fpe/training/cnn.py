"""Many small CNNs trained as one batched tensor program, with fixed FPE masks (the paper, as we
read it, sections 3 and 7: the CNN backbone trained jointly with its classifier).

:class:`StackedCNN` holds ``I`` copies ("instances") of one ``nn.Sequential`` CNN shape, in the style
of Anthropic's *Toy Models of Superposition* notebook. The instances live side by side in the channel
dimension: an image batch is ``(B, I*C, H, W)`` and every ``Conv2d`` is one grouped convolution with
``groups=I`` (instance ``i`` owns channels ``i*C .. i*C + C - 1``), so a ``BatchNorm2d`` over the
``I*C`` channels is exactly one BatchNorm per instance (its own batch statistics and running
statistics), and pooling and elementwise modules act per channel anyway. After the ``Flatten`` the
features become ``(I, B, F)`` and every ``Linear`` is one ``torch.baddbmm``. Shapes: conv weights
``(I, out, in, kh, kw)``, linear weights ``(I, out, in)``, biases and norm parameters ``(I, out)``,
inputs ``(I, B, C, H, W)``. A weight may carry a fixed 0/1 mask (FPE's sparsity pattern, the
``weight_mask`` that :func:`fpe.method.conv.expand_cnn` attaches).

:class:`CNNTrainer` trains a list of models of any shapes: they are grouped per shape into one
:class:`StackedCNN` each, and every step draws one minibatch per seed, shared by all models of
that seed (the paired design: instance ``i`` reads the order of seed ``seed_index[i]``). The loss
of a stack is the sum over instances of each instance's mean cross-entropy, so each instance's
gradient is exactly its own; Adam is elementwise, so one ``torch.optim.Adam`` over a stack is ``I``
independent Adam runs. Gradients of pruned weights are zeroed before the step and the masks are
re-applied after it, so pruned weights stay exactly zero (as with ``torch.nn.utils.prune``, whose
masked ``weight_orig`` gets a zero gradient). :func:`fit_per_model` is the plain reference: one
``nn.Sequential`` and one ``torch.optim.Adam`` per model, one after another, the same minibatches;
``tests/test_cnn_training.py`` checks that the two agree to float tolerance.

Accepted modules: ``Conv2d`` (``groups=1``, any stride, padding, dilation, ``padding_mode="zeros"``),
``BatchNorm2d`` (affine, tracking running statistics with a float momentum), ``MaxPool2d``,
``AvgPool2d``, the elementwise modules of :data:`fpe.method.mlp.ELEMENTWISE` without parameters, one
``Flatten(1, -1)`` and ``Linear``. Everything runs on the device of the data and the models.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..metrics import accuracy
from ..method.mlp import ELEMENTWISE

__all__ = ["StackedCNN", "CNNTrainer", "fit_per_model", "evaluate", "shape_key", "copy_models"]

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_FIX = ("the batched CNN trainer takes an nn.Sequential of Conv2d (groups=1), BatchNorm2d, MaxPool2d, AvgPool2d, "
        "parameter-free elementwise modules, one Flatten(1, -1) and Linear layers")


def _weight(m: nn.Module) -> torch.Tensor:
    """The effective weight of a layer (``weight_orig * weight_mask`` when pruned)."""
    if hasattr(m, "weight_orig"):
        return (m.weight_orig * m.weight_mask).detach()
    return m.weight.detach()


def shape_key(model: nn.Module) -> tuple:
    """The shape signature of a CNN: models with equal keys can share one :class:`StackedCNN`.

    Raises ``ValueError`` naming the module that the batched trainer cannot stack."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"models must be nn.Sequential CNNs; got {type(model).__name__}; {_FIX}")
    key, flat = [], False
    for i, m in enumerate(model):
        def bad(why: str) -> ValueError:
            return ValueError(f"model module {i} ({type(m).__name__}) cannot be batched: {why}; {_FIX}")

        if isinstance(m, nn.Conv2d):
            if flat:
                raise bad("a Conv2d after the Flatten")
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise bad(f"groups={m.groups}, padding={m.padding!r}, padding_mode={m.padding_mode!r}; "
                          "allowed: groups=1, integer padding, padding_mode='zeros'")
            key.append(("conv", tuple(_weight(m).shape), m.bias is not None, m.stride, m.padding, m.dilation,
                        hasattr(m, "weight_mask")))
        elif isinstance(m, nn.BatchNorm2d):
            if flat or not m.affine or not m.track_running_stats or m.momentum is None:
                raise bad("allowed: a BatchNorm2d before the Flatten, affine, with running statistics and a float momentum")
            key.append(("bn", m.num_features, m.eps, m.momentum))
        elif isinstance(m, _POOLS):
            if flat:
                raise bad("a pooling after the Flatten")
            key.append(("pool", repr(m)))
        elif isinstance(m, nn.Flatten):
            if flat or (m.start_dim, m.end_dim) != (1, -1):
                raise bad("allowed: one Flatten(1, -1)")
            flat = True
            key.append(("flatten",))
        elif isinstance(m, nn.Linear):
            if not flat:
                raise bad("a Linear before the Flatten (it would act on the width of an image)")
            key.append(("linear", tuple(_weight(m).shape), m.bias is not None, hasattr(m, "weight_mask")))
        elif isinstance(m, ELEMENTWISE) and not any(True for _ in m.parameters()):
            key.append(("act", repr(m)))
        else:
            raise bad("not a module the batched trainer can stack")
    if not flat or not any(k[0] == "linear" for k in key):
        raise ValueError(f"models must end in a Flatten(1, -1) and at least one Linear; {_FIX}")
    return tuple(key)


class StackedCNN(nn.Module):
    """``I`` CNNs of one shape trained as one: ``forward(x (I, B, C, H, W)) -> logits (I, B, classes)``.

    Build it with :meth:`from_sequentials`; :meth:`write_to` copies the trained weights back."""

    def __init__(self, models: Sequence[nn.Sequential]):
        super().__init__()
        if not models:
            raise ValueError("models must be a non-empty list of nn.Sequential CNNs")
        keys = [shape_key(m) for m in models]
        if len(set(keys)) != 1:
            raise ValueError(f"models must all have one shape to be stacked (see shape_key); got {len(set(keys))} shapes")
        self.key, self.instances = keys[0], len(models)
        self.modules_ = list(models[0])  # the parameter-free modules are applied as they are
        self.params = nn.ParameterDict()
        self.masked: dict[str, bool] = {}
        stack = lambda get: torch.stack([get(mdl[j]).detach().clone() for mdl in models]).contiguous()  # noqa: E731
        for j, k in enumerate(self.key):
            if k[0] in ("conv", "linear"):
                self.params[f"w{j}"] = nn.Parameter(stack(_weight))
                if k[2]:
                    self.params[f"b{j}"] = nn.Parameter(stack(lambda m: m.bias))
                self.masked[f"w{j}"] = k[-1]
                if k[-1]:
                    self.register_buffer(f"mask{j}", stack(lambda m: m.weight_mask).to(self.params[f"w{j}"].dtype))
            elif k[0] == "bn":
                self.params[f"w{j}"] = nn.Parameter(stack(lambda m: m.weight))
                self.params[f"b{j}"] = nn.Parameter(stack(lambda m: m.bias))
                self.register_buffer(f"mean{j}", stack(lambda m: m.running_mean))
                self.register_buffer(f"var{j}", stack(lambda m: m.running_var))
                self.register_buffer(f"count{j}", stack(lambda m: m.num_batches_tracked))
        self.apply_masks()

    @classmethod
    def from_sequentials(cls, models: Sequence[nn.Sequential]) -> "StackedCNN":
        return cls(models)

    def _masks(self):
        return [(self.params[n], getattr(self, f"mask{n[1:]}")) for n, on in self.masked.items() if on]

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the pruned weights (after every optimiser step)."""
        for w, m in self._masks():
            w.mul_(m)

    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights (so Adam's moments stay zero there)."""
        for w, m in self._masks():
            if w.grad is not None:
                w.grad.mul_(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_inst, b = x.shape[:2]
        if n_inst != self.instances:
            raise ValueError(f"x must be (instances={self.instances}, B, C, H, W); got {tuple(x.shape)}")
        h = x.transpose(0, 1).reshape(b, -1, *x.shape[3:])  # (B, I*C, H, W): instance-major channels
        h = h.contiguous(memory_format=torch.channels_last)  # measured faster for grouped convolutions on a CPU
        p = self.params
        for j, (k, m) in enumerate(zip(self.key, self.modules_)):
            bias = p[f"b{j}"] if f"b{j}" in p else None
            if k[0] == "conv":
                w = p[f"w{j}"]  # (I, out, in, kh, kw)
                h = F.conv2d(h, w.flatten(0, 1), None if bias is None else bias.flatten(), m.stride, m.padding,
                             m.dilation, groups=self.instances)
            elif k[0] == "bn":
                if self.training:
                    getattr(self, f"count{j}").add_(1)
                h = F.batch_norm(h, getattr(self, f"mean{j}").view(-1), getattr(self, f"var{j}").view(-1),
                                 p[f"w{j}"].flatten(), bias.flatten(), self.training, m.momentum, m.eps)
            elif k[0] == "flatten":
                h = h.reshape(b, self.instances, -1).transpose(0, 1)  # (I, B, C*H*W), channel-major per instance
            elif k[0] == "linear":
                w = p[f"w{j}"]  # (I, out, in)
                h = torch.bmm(h, w.transpose(1, 2)) if bias is None else torch.baddbmm(bias.unsqueeze(1), h, w.transpose(1, 2))
            else:
                h = m(h)
        return h  # (I, B, classes)

    @torch.no_grad()
    def write_to(self, models: Sequence[nn.Sequential]) -> None:
        """Copy instance ``i``'s weights, biases and running statistics into ``models[i]`` (its masks stay)."""
        if len(models) != self.instances:
            raise ValueError(f"models must hold one model per instance ({self.instances}), got {len(models)}")
        p = self.params
        for i, mdl in enumerate(models):
            for j, k in enumerate(self.key):
                m = mdl[j]
                if k[0] in ("conv", "linear"):
                    if hasattr(m, "weight_orig"):
                        m.weight_orig.copy_(p[f"w{j}"][i])
                        m.weight = m.weight_orig * m.weight_mask  # what the prune hook computes
                    else:
                        m.weight.copy_(p[f"w{j}"][i])
                    if m.bias is not None:
                        m.bias.copy_(p[f"b{j}"][i])
                elif k[0] == "bn":
                    m.weight.copy_(p[f"w{j}"][i])
                    m.bias.copy_(p[f"b{j}"][i])
                    m.running_mean.copy_(getattr(self, f"mean{j}")[i])
                    m.running_var.copy_(getattr(self, f"var{j}")[i])
                    m.num_batches_tracked.copy_(getattr(self, f"count{j}")[i])


def _check_data(x: torch.Tensor, y: torch.Tensor) -> None:
    if not (isinstance(x, torch.Tensor) and x.ndim == 4 and x.is_floating_point()):
        raise ValueError(f"x must be a float tensor of images (N, C, H, W); got {getattr(x, 'shape', type(x))}")
    if not (isinstance(y, torch.Tensor) and y.shape == x.shape[:1] and not y.is_floating_point()):
        raise ValueError(f"y must be an integer tensor of labels (N,) = ({x.shape[0]},); got {getattr(y, 'shape', type(y))}")


def _check_run(models, seed_index, lr, batch_size, n_seeds: int | None = None) -> torch.Tensor:
    if not isinstance(models, (list, tuple)) or not models:
        raise ValueError("models must be a non-empty list of nn.Sequential CNNs")
    si = torch.as_tensor(seed_index, dtype=torch.long)
    if si.shape != (len(models),) or si.min() < 0 or (n_seeds is not None and si.max() >= n_seeds):
        raise ValueError(f"seed_index must hold one seed index in 0..{'S-1' if n_seeds is None else n_seeds - 1} per model "
                         f"({len(models)}); got {list(map(int, si.flatten()))[:8]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (BatchNorm needs two samples), got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    return si


def _check_fit(epochs, order_generators, n_seeds: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if len(order_generators) != n_seeds:
        raise ValueError(f"order_generators needs one torch.Generator per seed ({n_seeds}), got {len(order_generators)}")


def _batches(n: int, batch_size: int, order_generators):
    """One epoch's minibatches: ``(S, B)`` indices, a fresh permutation per seed (the last batch is
    dropped when it would hold a single sample, which BatchNorm cannot normalise)."""
    perm = torch.stack([torch.randperm(n, generator=g) for g in order_generators])
    for a in range(0, n, batch_size):
        if n - a >= 2:
            yield perm[:, a:a + batch_size]


class CNNTrainer:
    """Adam on many CNNs at once, grouped per shape; call :meth:`fit` repeatedly to continue with
    the same optimiser state. The trained weights are written back into ``models`` after every fit.

    Args:
        models: ``nn.Sequential`` CNNs (any mix of shapes; FPE masks from :func:`fpe.method.conv.expand_cnn`
            stay fixed). Put them in train mode with ``model.train()``.
        x: training images ``(N, C, H, W)`` float; y: labels ``(N,)`` integer (one data set for all).
        seed_index: ``(len(models),)`` the seed of each model: models of one seed see the same minibatches.
        lr: Adam learning rate; batch_size: minibatch size.
    """

    def __init__(self, models: Sequence[nn.Sequential], x: torch.Tensor, y: torch.Tensor, seed_index, *,
                 lr: float, batch_size: int):
        _check_data(x, y)
        self.seed_index = _check_run(models, seed_index, lr, batch_size)
        self.models, self.x, self.y, self.batch_size = list(models), x, y, batch_size
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(self.models):
            groups.setdefault(shape_key(m), []).append(i)
        self.groups = list(groups.values())  # model indices of each shape, in first-seen order
        self.stacks = [StackedCNN([self.models[i] for i in g]).to(x.device) for g in self.groups]
        self.optimizers = [torch.optim.Adam(s.parameters(), lr=lr) for s in self.stacks]
        self.epochs_done = 0

    def fit(self, epochs: int, order_generators: Sequence[torch.Generator], *, progress: bool = False,
            desc: str = "train", on_epoch: Callable[[int, torch.Tensor], None] | None = None) -> list[torch.Tensor]:
        """Train ``epochs`` epochs; ``order_generators[s]`` draws seed ``s``'s minibatch order.

        Returns the mean training loss of every epoch, one ``(len(models),)`` float64 tensor per epoch
        (each model's cross-entropy averaged over the epoch's samples; read off the training steps, so
        recording it changes nothing). ``on_epoch(epochs_done, losses)``, when given, is called after every
        epoch with the trained weights written back into ``models`` (e.g. to evaluate them; it must draw
        no random numbers and leave the models' weights alone)."""
        n_seeds = int(self.seed_index.max()) + 1
        _check_fit(epochs, order_generators, n_seeds)
        for s in self.stacks:
            s.train()
        sis = [self.seed_index[g].to(self.x.device) for g in self.groups]
        history = []
        for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            sums = [torch.zeros(len(g), dtype=torch.float64, device=self.x.device) for g in self.groups]
            seen = 0
            for idx in _batches(len(self.x), self.batch_size, order_generators):
                idx = idx.to(self.x.device)
                xb, yb = self.x[idx], self.y[idx]  # (S, B, C, H, W), (S, B)
                for stack, opt, si, tot in zip(self.stacks, self.optimizers, sis, sums):
                    logits = stack(xb[si])  # (I, B, classes)
                    n_inst, b, c = logits.shape
                    loss = F.cross_entropy(logits.reshape(n_inst * b, c), yb[si].reshape(-1), reduction="none")
                    per = loss.view(n_inst, b).mean(1)  # (I,) each instance's mean loss
                    loss = per.sum()
                    opt.zero_grad(set_to_none=False)
                    loss.backward()
                    stack.mask_grads()
                    opt.step()
                    stack.apply_masks()
                    tot += per.detach().double() * b
                seen += idx.shape[1]
            self.epochs_done += 1
            losses = torch.empty(len(self.models), dtype=torch.float64)
            for g, tot in zip(self.groups, sums):
                losses[g] = (tot / seen).cpu()
            history.append(losses)
            if on_epoch is not None:
                self._write_back()
                on_epoch(self.epochs_done, losses)
        self._write_back()
        return history

    def _write_back(self) -> None:
        for stack, g in zip(self.stacks, self.groups):
            stack.write_to([self.models[i] for i in g])


def fit_per_model(models: Sequence[nn.Sequential], x: torch.Tensor, y: torch.Tensor, seed_index, *, lr: float,
                  batch_size: int, epochs: int, order_generators: Sequence[torch.Generator]) -> None:
    """The reference: each model trained on its own with ``torch.optim.Adam`` (in place), on the same
    minibatches as :class:`CNNTrainer` (the generators are cloned per model, so every model of seed ``s``
    sees seed ``s``'s order; the caller's generators advance as after one :meth:`CNNTrainer.fit`)."""
    _check_data(x, y)
    si = _check_run(models, seed_index, lr, batch_size)
    _check_fit(epochs, order_generators, int(si.max()) + 1)
    for m in models:
        shape_key(m)
    states = [g.get_state() for g in order_generators]
    for model, s in zip(models, si.tolist()):
        gens = [torch.Generator().set_state(st) for st in states]
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(epochs):
            for idx in _batches(len(x), batch_size, gens):
                i = idx[s].to(x.device)
                loss = F.cross_entropy(model(x[i]), y[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
    for g in order_generators:  # advance the caller's generators as one batched fit would
        for _ in range(epochs):
            torch.randperm(len(x), generator=g)


@torch.no_grad()
def evaluate(models: Sequence[nn.Sequential], x: torch.Tensor, y: torch.Tensor, *, chunk: int = 1000) -> torch.Tensor:
    """Test accuracy (%) of each model in eval mode (BatchNorm on its running statistics), batched per
    shape: ``(len(models),)`` float64 (:func:`fpe.metrics.accuracy`)."""
    _check_data(x, y)
    if not isinstance(models, (list, tuple)) or not models:
        raise ValueError("models must be a non-empty list of nn.Sequential CNNs")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(models):
        groups.setdefault(shape_key(m), []).append(i)
    out = torch.empty(len(models), dtype=torch.float64)
    for g in groups.values():
        stack = StackedCNN([models[i] for i in g]).to(x.device).eval()
        n = len(g)
        chunks = ((stack(x[a:a + chunk].unsqueeze(0).expand(n, *x[a:a + chunk].shape)), y[a:a + chunk].expand(n, -1))
                  for a in range(0, len(x), chunk))
        out[g] = accuracy(chunks, len(x)).cpu()
    return out


def copy_models(models: Sequence[nn.Sequential]) -> list[nn.Sequential]:
    """Deep copies (a trainer writes into its models). A pruned layer's derived ``weight`` is first
    recomputed without autograd history (``copy.deepcopy`` refuses a non-leaf tensor); nothing changes."""
    with torch.no_grad():
        for model in models:
            for m in model.modules():
                if hasattr(m, "weight_orig") and hasattr(m, "weight_mask"):
                    m.weight = m.weight_orig * m.weight_mask
    return [copy.deepcopy(m) for m in models]
