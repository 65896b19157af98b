"""fpe: Fixed Parameter Expansion, and the experiments of *Expand Neurons, Not Parameters*
(Kong et al., ICML 2026, arXiv:2510.04500). Every docstring cites the book page *The paper, as we
read it* (``book/paper.md``) by its section numbers.

The package in layers; a module imports only from its own layer or below:

- :mod:`fpe.runtime` (bottom): where files live (``paths``), what a computation depends on and its
  science hash (``deps``), the cache (``cache``), book-wide slots (``slots``), jobs (``jobs``),
  provenance and the device (``provenance``, ``device``). Infrastructure: outside the science hash.
- this level: seeds and determinism (:mod:`fpe.repro`), the Boolean DNF task (:mod:`fpe.tasks`),
  metrics (:mod:`fpe.metrics`), interference metrics (:mod:`fpe.interference`) and collision
  probabilities (:mod:`fpe.theory`);
- :mod:`fpe.method`: Fixed Parameter Expansion itself: the transform (``expand``), split rules
  (``splits``, ``gram``), the MLPs it applies to (``mlp``), the shared split-copy-prune steps
  (``pruning``), channel FPE for CNNs (``conv``), FPE by layer name (``layers``), plain or sparse
  layers for inference (``export``) and the controls' masks (``sparsity``);
- :mod:`fpe.training`: the reference trainer (``stacked``), the fast concatenated trainer
  (``concat``) and its fused C epoch (``native``, ``_native.c``), the controls' trainer (``dynamic``)
  and the batched CNN trainer (``cnn``);
- :mod:`fpe.datasets`: loaders, frozen encoders, feature sets, the paper's own CIFAR-100 /
  ImageNet-100 setting;
- :mod:`fpe.experiments`: the paper's schedule and its run record, the Boolean, real-data, controls,
  CNN and transformer runners;
- :mod:`fpe.cost`: inference forms of FPE layers (with the split-sum kernel) and their benchmark;
- :mod:`fpe.book` (top): result files and the verdict rule, generated pages, figures (``plot``), the
  build's job report, the Colab set-up cell and notebook cleaning. Book tooling: outside the science hash.

The names below are resolved on first use (PEP 562), so ``import fpe.tasks`` does not import the
method (and a chapter's science hash holds only what it really uses).
"""
from __future__ import annotations

import importlib

# public name -> the module that defines it (read by fpe.runtime.deps too: `fpe.expand` in a chapter
# depends on fpe/method/expand.py)
EXPORTS = {
    "expand": "fpe.method.expand",
    "split_copy": "fpe.method.expand",
    "count_nonzero": "fpe.method.expand",
    "expand_cnn": "fpe.method.conv",
    "expand_layers": "fpe.method.layers",
    "export": "fpe.method.export",
    "SPLITS": "fpe.method.splits",
}

__all__ = [*EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in EXPORTS:
        value = getattr(importlib.import_module(EXPORTS[name]), name)
        globals()[name] = value  # resolved once
        return value
    if name == "__version__":
        from .runtime.provenance import version

        return version()
    raise AttributeError(f"module 'fpe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
