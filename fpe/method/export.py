"""An FPE model without the pruning machinery, for saving or serving it (the paper, as we read it, section 2).

:func:`fpe.expand` and :func:`fpe.expand_layers` fix their masks with ``torch.nn.utils.prune``
(``weight_orig`` parameters, ``weight_mask`` buffers and a forward pre-hook). :func:`export` makes
that permanent on a copy: the weights hold the masked values and the state dict has the plain keys
(``fc1.weight``), so it loads into the model's own class built with the new widths.

``sparse=True`` stores each masked ``Linear`` weight as a sparse CSR tensor (``torch.sparse_csr``,
a frozen parameter: for inference). PyTorch runs ``nn.Linear``'s forward (``F.linear``, inputs of
any leading shape) and ``torch.sparse.mm`` / ``@`` with a dense operand on such weights, on the CPU
and on CUDA, for float32 and float64; code that reads ``.weight`` for other dense ops (``weight.T``
views, in-place updates, ``nn.MultiheadAttention``'s ``out_proj``) may not support them, and a dense
model loads the state dict only after ``{k: v.to_dense() for k, v in state_dict.items()}``.
"""
from __future__ import annotations


from torch import nn
from torch.nn.utils import prune

from .pruning import copy_module

__all__ = ["export"]


def export(model: nn.Module, *, sparse: bool = False) -> nn.Module:
    """A copy of ``model`` with every pruning reparametrisation made permanent (no ``weight_orig`` or
    ``weight_mask``); with ``sparse``, the masked ``Linear`` weights as frozen sparse CSR tensors.

    The copy is also the path to ``torch.jit.script``, which cannot compile the pruning hooks of an
    expanded model (``torch.jit.script(fpe.export(wide))``); ``TypeError`` for a ``model`` that is not an
    ``nn.Module`` or a ``sparse`` that is not ``True``/``False``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(sparse, bool):
        raise TypeError(f"sparse must be True or False, got {sparse!r}")
    out = copy_module(model)
    for module in out.modules():
        names = [h._tensor_name for h in module._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
        for name in names:
            prune.remove(module, name)
        if sparse and isinstance(module, nn.Linear) and "weight" in names:
            module.weight = nn.Parameter(module.weight.detach().to_sparse_csr(), requires_grad=False)
    return out
