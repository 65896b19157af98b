"""The machinery FPE's transforms share (the paper, as we read it, section 2): argument checks, the
split-and-copy of producer/consumer pairs, the one global magnitude prune, and masks attached with
PyTorch's own pruning (``torch.nn.utils.prune``).

:func:`fpe.expand` (MLPs and, through :mod:`fpe.method.conv`, CNNs), :func:`fpe.expand_cnn` and
:func:`fpe.expand_layers` (named pairs of any module) are built from these steps:
:func:`check_split_args`, :func:`effective_weights`, :func:`split_pairs` (children partition each
parent's inputs by the split rule and copy its outgoing weights and bias),
:func:`global_magnitude_masks` (keep exactly the original non-zero count, globally) and
:func:`attach_mask`; :func:`copy_module` copies a model that may carry pruning hooks.
"""
from __future__ import annotations

import copy
import operator
import weakref
from typing import Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .splits import SPLITS, SplitRule, check_assignment, check_groups, clause_assignment, random_assignment

__all__ = ["Pair", "FixedMask", "fix_mask", "check_alpha", "check_materialised", "check_layers", "check_split_args", "effective_weights", "split_pairs",
           "global_magnitude_masks", "copies_masks", "dead_children", "warn_dead", "attach_mask", "copy_module"]

Pair = tuple[tuple[str, ...], tuple[str, ...]]  # (producer names, consumer names)


def check_alpha(alpha) -> int:
    """``alpha`` as a Python ``int`` (the expansion factor, the paper, as we read it, section 2): a Python,
    NumPy or 0-d integer torch tensor ``>= 2``; ``ValueError`` otherwise (``bool`` and floats included)."""
    bad = ValueError(f"alpha must be an integer >= 2 (a Python or NumPy integer or a 0-d integer tensor), got {alpha!r}")
    if isinstance(alpha, bool) or type(alpha).__name__ == "bool_":
        raise bad
    if isinstance(alpha, torch.Tensor) and (alpha.ndim != 0 or alpha.dtype.is_floating_point or alpha.dtype.is_complex
                                            or alpha.dtype == torch.bool or alpha.device.type == "meta"):
        raise bad
    try:
        value = operator.index(alpha)
    except TypeError:
        raise bad from None
    if value < 2:
        raise bad
    return int(value)


def check_materialised(model) -> None:
    """Refuse a model with parameters or buffers on the ``meta`` device (they have shapes, not values,
    and FPE splits the trained values; the paper, as we read it, section 2). Not a module: no check."""
    if isinstance(model, nn.Module):
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            if t.device.type == "meta":
                raise ValueError(f"model parameter {name!r} is on the meta device: FPE needs the trained weight values; "
                                 "materialise the model first (model.to_empty(device='cpu') and load_state_dict)")


def check_layers(model: nn.Module, layers: Iterable[tuple[str, nn.Module]], what: str = "layer") -> None:
    """Refuse, with a ``ValueError`` naming the layer, what FPE cannot expand faithfully (the paper, as we
    read it, section 2: FPE needs the trained values of every weight it splits and copies):

    - weights on the ``meta`` device (no values: materialise and load them first);
    - ``weight_norm``, ``spectral_norm`` or any ``torch.nn.utils.parametrize`` parametrisation (the weight
      is recomputed from other parameters at every forward: the expansion would be lost or dropped);
    - tied weights: a parameter of the layer that is also registered elsewhere in ``model`` (two
      layers sharing one ``Parameter``, an output layer tied to an embedding); FPE would silently untie them.
    """
    from torch.nn.utils import parametrize

    owners: dict[int, list[str]] = {}
    for n, prm in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(prm), []).append(n)
    for name, m in layers:
        label = f"{what} {name!r}"
        tensors = [t for t in (*m._parameters.values(), *m._buffers.values()) if t is not None]
        weight = m._parameters.get("weight_orig", m._parameters.get("weight"))
        if weight is not None and not weight.dtype.is_floating_point:
            raise ValueError(f"{label} has {weight.dtype} weights; FPE expands real floating-point weights "
                             "(float16, bfloat16, float32, float64)")
        if any(t.device.type == "meta" for t in tensors):
            raise ValueError(f"{label} is on the meta device: FPE needs the trained weight values; materialise the model "
                             "first (model.to_empty(device='cpu') and load_state_dict)")
        if parametrize.is_parametrized(m):
            raise ValueError(f"{label} has a torch.nn.utils.parametrize parametrisation (weight_norm, spectral_norm, "
                             f"orthogonal, ...) of {sorted(m.parametrizations)}: FPE expands plain weights; remove it first "
                             "(torch.nn.utils.parametrize.remove_parametrizations(layer, 'weight'))")
        for hook in m._forward_pre_hooks.values():
            kind = type(hook).__name__
            if kind in ("WeightNorm", "SpectralNorm"):
                raise ValueError(f"{label} has a {kind} hook ({'torch.nn.utils.weight_norm' if kind == 'WeightNorm' else 'torch.nn.utils.spectral_norm'}): "
                                 "FPE expands plain weights and would drop it; remove it first "
                                 f"({'torch.nn.utils.remove_weight_norm' if kind == 'WeightNorm' else 'torch.nn.utils.remove_spectral_norm'}(layer))")
        for pname, prm in m._parameters.items():
            if prm is None:
                continue
            names = owners.get(id(prm), [])
            if len(names) > 1:
                raise ValueError(f"{label} shares its parameter {pname!r} with another module (tied weights: {names} are "
                                 "one Parameter); FPE would untie them silently. Untie them first "
                                 "(layer.weight = nn.Parameter(layer.weight.detach().clone())) or leave the layer out")


def check_split_args(alpha, split, groups, generator, *, fan_in: int | None = None):
    """Validate ``alpha``, ``split``, ``groups`` and ``generator``; returns the checked ``groups``.

    Without ``fan_in`` the clause groups are checked later, against each layer they are used on.
    """
    alpha = check_alpha(alpha)
    if not (callable(split) or split in SPLITS):
        raise ValueError(f"split must be one of {SPLITS} or a callable, got {split!r}")
    if split == "clause":
        if groups is None or fan_in is not None:
            groups = check_groups(groups, fan_in, alpha)
    elif groups is not None:
        raise ValueError("groups is only used with split='clause'")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return groups


def effective_weights(linears: dict[str, nn.Linear]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Copies of the effective (masked) weights and the biases of named ``Linear`` layers."""
    weights = {n: lin.weight.detach().clone() for n, lin in linears.items()}
    biases = {n: None if lin.bias is None else lin.bias.detach().clone() for n, lin in linears.items()}
    return weights, biases


def split_pairs(weights: dict[str, torch.Tensor], biases: dict[str, torch.Tensor | None], pairs: Sequence[Pair],
                alpha: int, split: str | SplitRule, *, groups=None, generator: torch.Generator | None = None) -> None:
    """Steps 1-3 of FPE, in place on ``weights`` ``(out, in)`` and ``biases`` (dicts by layer name).

    ``pairs``: ``(producers, consumers)`` name tuples in dependency order (a pair whose producers read
    the consumers' input of an earlier pair comes after it). The producers' output units are split
    into ``alpha`` children each, with one assignment shared by all producers of a pair (gated
    blocks); the consumers' input columns are copied to the children. With several producers a
    ``"gram"`` or callable rule sees their weights stacked along the rows.
    """
    copies: dict[str, torch.Tensor] = {}  # consumer -> the previous-layer parent of each of its new inputs
    for producers, consumers in pairs:
        parent_of = copies.get(producers[0])
        for p in producers:
            copies.pop(p, None)
        ws = [weights[p] if parent_of is None else weights[p][:, parent_of.to(weights[p].device)] for p in producers]
        shape = ws[0].shape[1:]  # (in,) of a Linear, (in, kh, kw) of a Conv2d: split over the flattened fan-in
        ws = [w.flatten(1) for w in ws]
        h, fan_in = ws[0].shape
        if alpha > fan_in:
            raise ValueError(f"alpha={alpha} is larger than the fan-in {fan_in} of hidden layer {producers[0]}; allowed: 2..{fan_in}")
        layer_groups = None
        if split == "clause":  # deeper layers: the sibling sets of the previous split
            layer_groups = check_groups(groups if parent_of is None else _sibling_groups(parent_of), fan_in, alpha)
        assign = _assignment(ws, alpha, split, layer_groups, generator).to(ws[0].device)
        keep = assign.unsqueeze(1) == torch.arange(alpha, device=assign.device).view(1, alpha, 1)  # (h, alpha, fan_in)
        for p, w in zip(producers, ws):
            weights[p] = (w.unsqueeze(1) * keep).reshape(h * alpha, *shape)
            biases[p] = None if biases[p] is None else biases[p].repeat_interleave(alpha)
        for c in consumers:
            copies[c] = torch.arange(h).repeat_interleave(alpha)
    for c, parent_of in copies.items():  # children copy the parent's outgoing weights
        weights[c] = weights[c][:, parent_of.to(weights[c].device)]


def _assignment(ws: list[torch.Tensor], alpha: int, split, groups, generator) -> torch.Tensor:
    h, fan_in = ws[0].shape
    if split == "random":
        return random_assignment(h, fan_in, alpha, generator)
    if split == "clause":
        return clause_assignment(h, groups, alpha, generator)
    rule = split
    if split == "gram":
        from .gram import gram_assignment as rule
    w = ws[0].clone() if len(ws) == 1 else torch.cat(ws)
    return check_assignment(rule(w, alpha, generator), h, fan_in, alpha)


def _sibling_groups(parent_of: torch.Tensor) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(parent_of.tolist()):
        groups.setdefault(p, []).append(i)
    return list(groups.values())


def global_magnitude_masks(weights: list[torch.Tensor], n_keep: int, *, method: str = "select") -> list[torch.Tensor]:
    """Masks keeping the ``n_keep`` largest-``|w|`` non-zeros over all ``weights`` together (the paper, as
    we read it, section 2: the one global magnitude prune, **[house: global over all layers]**).

    Ties are broken by position (the first of equal magnitudes, in the order of ``weights`` and then
    of their flattened entries, is dropped first, as a stable sort would), so exactly ``n_keep``
    entries survive. ``method="select"`` (the default) finds the threshold with ``torch.kthvalue`` and
    drops the ties at it in positional order; ``method="sort"`` is the full stable ``argsort`` it
    replaced (kept for comparison: the masks are bitwise the same, the sort is several times slower
    and needs more memory on large layers).
    """
    if method not in ("select", "sort"):
        raise ValueError(f"method must be 'select' or 'sort', got {method!r}")
    if isinstance(n_keep, bool) or not isinstance(n_keep, int) or n_keep < 0:
        raise ValueError(f"n_keep must be an integer >= 0, got {n_keep!r}")
    if method == "sort":
        flat = torch.cat([w.reshape(-1) for w in weights])
        nonzero = flat != 0
        n_drop = int(nonzero.sum()) - n_keep
        keep = nonzero.clone()
        if n_drop > 0:
            mag = torch.where(nonzero, flat.abs(), torch.full_like(flat, float("inf")))
            drop = torch.argsort(mag, stable=True)[:n_drop]
            keep[drop] = False
    else:
        mag = torch.cat([w.reshape(-1) for w in weights]).abs_()
        n_zero = mag.numel() - int(torch.count_nonzero(mag))
        n_drop = mag.numel() - n_zero - n_keep
        if n_drop > 0:
            # zeros (|w| = 0) are the smallest entries: the threshold is the (n_zero + n_drop)-th smallest of all
            threshold = _kth_smallest(mag, n_zero + n_drop)
            keep = mag >= threshold  # threshold > 0, so every kept entry is a non-zero
            n_ties = int(torch.count_nonzero(keep)) - n_keep  # entries equal to the threshold that go too, the first ones
            if n_ties > 0:
                keep[torch.nonzero(mag == threshold).squeeze(1)[:n_ties]] = False
        else:
            keep = mag != 0
        del mag
    masks, start = [], 0
    for w in weights:
        masks.append(keep[start : start + w.numel()].view_as(w).to(w.dtype))
        start += w.numel()
    return masks


def copies_masks(weights: dict[str, torch.Tensor], pairs: Sequence[Pair], alpha: int) -> dict[str, torch.Tensor]:
    """Masks that remove only the surplus copies of step 3 (the ``prune="copies"`` option; the paper, as we
    read it, section 2, **[house]**), on the weights :func:`split_pairs` returned (``(out, in)`` by name).

    Every original outgoing weight ``w[q, p]`` of a consumer became ``alpha`` copies, one per child of
    ``p`` (in a consumer that is also a producer, spread over the children of ``q`` by its split):
    exactly one is kept, the copy of child ``q mod alpha`` where that one is non-zero (children share a
    parent's outgoing weights round-robin over the consumer's units) and otherwise the first non-zero
    copy, preferring the child ``p mod alpha`` of ``q``. Everything else that is non-zero is kept: a
    producer's incoming weights, split disjointly, keep their count. So each layer keeps exactly its
    original non-zero count, unlike the default global magnitude prune, which removes the smallest
    weights anywhere (incoming weights included) and keeps only the total.
    """
    producers = {n for prods, _ in pairs for n in prods}
    consumers = {n for _, cons in pairs for n in cons}
    masks = {}
    for name, w in weights.items():
        keep = w != 0
        if name in consumers:
            a_r = alpha if name in producers else 1
            rows, cols = w.shape
            q_n, p_n = rows // a_r, cols // alpha
            block = keep.view(q_n, a_r, p_n, alpha).permute(0, 2, 1, 3).reshape(q_n, p_n, a_r * alpha)
            j = torch.arange(a_r, device=w.device).repeat_interleave(alpha)  # child of q holding each copy
            k = torch.arange(alpha, device=w.device).repeat(a_r)  # child of p whose copy it is
            q = torch.arange(q_n, device=w.device).view(q_n, 1, 1)
            p = torch.arange(p_n, device=w.device).view(1, p_n, 1)
            position = torch.arange(a_r * alpha, device=w.device)
            score = (4 * (k == q % alpha) + 2 * (j == p % a_r)) * (a_r * alpha) - position  # higher wins
            score = torch.where(block, score, torch.full_like(score, torch.iinfo(score.dtype).min))
            choice = score.argmax(dim=2, keepdim=True)
            one = torch.zeros_like(block).scatter_(2, choice, True) & block
            keep = one.view(q_n, p_n, a_r, alpha).permute(0, 2, 1, 3).reshape(rows, cols)
        masks[name] = keep.to(w.dtype)
    return masks


def warn_dead(weights, masks, pairs) -> None:
    """Warn (``RuntimeWarning``) naming the producers in which :func:`dead_children` finds units."""
    dead = dead_children(weights, masks, pairs)
    if dead:
        import warnings

        warnings.warn("prune='copies' leaves children with no incoming weight (they pass only their bias on): "
                      + ", ".join(f"{n} units in layer {name!r}" for name, n in dead)
                      + "; a parent with fewer non-zero inputs than alpha, or a chained layer whose kept copies all "
                      "fell to siblings", RuntimeWarning, stacklevel=3)


def dead_children(weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], pairs: Sequence[Pair]) -> list[tuple[str, int]]:
    """``(producer, count)`` for the producers in which some units keep no incoming weight after ``masks``
    (children that can only pass their bias on)."""
    out = []
    for prods, _ in pairs:
        for n in prods:
            empty = int(((weights[n] * masks[n]) != 0).sum(dim=1).eq(0).sum())
            if empty:
                out.append((n, empty))
    return out


def _kth_smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th smallest of the 1-d ``values`` (1-based) by selection, exactly as ``torch.kthvalue``.

    For large inputs a deterministic strided sample (no random draws) brackets the value, and only the
    entries in the bracket are selected from; if the bracket misses, the full ``kthvalue`` decides. A
    sort where the dtype or device has no ``kthvalue``.
    """
    try:
        n = values.numel()
        if n > 1 << 20:
            sample = torch.sort(values[:: max(1, n // (1 << 16))]).values
            m = sample.numel()
            pos = (k - 0.5) / n * m
            slack = 8 * int(m ** 0.5) + 8
            lo, hi = sample[max(0, int(pos) - slack)], sample[min(m - 1, int(pos) + slack)]
            n_below = int(torch.count_nonzero(values < lo))
            band = values[(values >= lo) & (values <= hi)]
            if n_below < k <= n_below + band.numel():
                return torch.kthvalue(band, k - n_below).values
        return torch.kthvalue(values, k).values
    except (RuntimeError, NotImplementedError):
        return torch.sort(values).values[k - 1]


class FixedMask(prune.CustomFromMask):
    """``torch.nn.utils.prune.CustomFromMask`` (the same ``weight_orig`` parameter, ``weight_mask`` buffer and
    forward pre-hook, bit for bit) whose modules can be deep-copied (the paper, as we read it, section 2:
    the masks FPE fixes).

    PyTorch's pruning stores the masked weight as a plain attribute computed with autograd
    (``weight = weight_orig * weight_mask``), a non-leaf tensor that ``copy.deepcopy`` refuses ("Only
    Tensors created explicitly by the user ..."), so EMA copies, ``torch.optim.swa_utils.AveragedModel``
    and keep-the-best-model code fail on a pruned model. The hook is deep-copied before the attribute
    (it is registered first), and it then puts a detached copy of the attribute into the copy's memo:
    the copy gets the same values (recomputed by its own hook at its next forward) and the original
    keeps its graph. Nothing else changes: the hook computes exactly what ``CustomFromMask`` computes.
    """

    _module = None  # a weak reference to the module whose weight the hook computes

    def __init__(self, mask, fresh: bool = False, own: bool = False) -> None:
        super().__init__(mask)
        self._fresh = fresh  # no earlier prune of the tensor: the default mask is all ones
        self._own = own  # the mask was made for this layer: the buffer may be the mask itself

    def compute_mask(self, t, default_mask):
        if not self._fresh or default_mask.shape != self.mask.shape:
            return super().compute_mask(t, default_mask)
        self._fresh = False
        # = ones * mask, bit for bit, without the product (and without a copy of a mask made for this layer)
        return self.mask.to(dtype=default_mask.dtype, copy=not self._own)

    @classmethod
    def apply(cls, module, name, mask, own: bool = False):  # type: ignore[override]
        fresh = not any(isinstance(h, prune.BasePruningMethod) and h._tensor_name == name
                        for h in module._forward_pre_hooks.values())
        method = super(prune.CustomFromMask, cls).apply(module, name, mask=mask, fresh=fresh, own=own)
        if isinstance(method, cls):  # (not a PruningContainer: an earlier prune of the same tensor)
            method._module = weakref.ref(module)
        return method

    def __call__(self, module, inputs):
        if self._module is None:  # after unpickling
            self._module = weakref.ref(module)
        super().__call__(module, inputs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_module", None)  # a weak reference does not pickle; the next forward sets it again
        return state

    def __deepcopy__(self, memo):
        module = None if self._module is None else self._module()
        t = None if module is None else module.__dict__.get(self._tensor_name)
        if isinstance(t, torch.Tensor) and not t.is_leaf and id(t) not in memo:
            memo[id(t)] = t.detach().clone()
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k != "_module":
                new.__dict__[k] = copy.deepcopy(v, memo)
        copied = None if module is None else memo.get(id(module))
        if copied is not None:
            new._module = weakref.ref(copied)
        return new


def fix_mask(module: nn.Module, mask: torch.Tensor, name: str = "weight", *, own: bool = False) -> nn.Module:
    """``torch.nn.utils.prune.custom_from_mask(module, name, mask)`` with the deep-copyable
    :class:`FixedMask` hook: ``{name}_orig`` parameter, ``{name}_mask`` buffer, the same numbers. With
    ``own`` (a mask made for this layer alone) the buffer is ``mask`` itself rather than a copy."""
    FixedMask.apply(module, name, mask, own=own)
    return module


def attach_mask(lin: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor, *,
                like: nn.Module | None = None) -> nn.Module:
    """Give ``lin`` (an ``nn.Linear`` or ``nn.Conv2d``, in place) the weight ``weight * mask`` and ``bias``,
    with their sizes, and fix ``mask`` as ``torch.nn.utils.prune.custom_from_mask`` does (``weight_orig``,
    ``weight_mask``), with the deep-copyable hook :class:`FixedMask`. With ``like`` (the layer it replaces),
    the new weight and bias take its ``requires_grad`` (a frozen layer stays frozen). ``mask`` becomes the
    layer's ``weight_mask`` buffer itself (not a copy): pass a tensor made for this layer."""
    for name in ("weight", "bias"):
        if hasattr(lin, name + "_orig"):  # an earlier prune: its mask has the old shape
            prune.remove(lin, name)
    lin.weight = nn.Parameter(weight * mask, requires_grad=lin.weight.requires_grad)
    lin.bias = None if bias is None else nn.Parameter(bias, requires_grad=lin.bias is None or lin.bias.requires_grad)
    if isinstance(lin, nn.Linear):
        lin.out_features, lin.in_features = weight.shape
    else:
        lin.out_channels, lin.in_channels = weight.shape[:2]
    fix_mask(lin, mask, own=True)
    if like is not None:
        for name, new in (("weight", lin.weight_orig), ("bias", lin.bias)):
            old = like._parameters.get(name + "_orig", like._parameters.get(name))
            if new is not None and old is not None:
                new.requires_grad_(old.requires_grad)
    return lin


def copy_module(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, also after a forward pass of a pruned model (whose masked weights are
    then non-leaf tensors that cannot be deep-copied): they are first recomputed without autograd, as
    the pruning forward pre-hook would (the next forward recomputes them again)."""
    with torch.no_grad():
        for m in model.modules():
            for hook in list(m._forward_pre_hooks.values()):
                if isinstance(hook, prune.BasePruningMethod):
                    hook(m, ())
    return copy.deepcopy(model)
