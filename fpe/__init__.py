"""fpe: Fixed Parameter Expansion, and the experiments of *Expand Neurons, Not Parameters*
(Kong et al., ICML 2026, arXiv:2510.04500). Every docstring cites the book page *The paper, as we
read it* (``book/paper.md``) by its section numbers.

The method first (this level): :mod:`fpe.expand` (the transform), :mod:`fpe.splits` (split rules),
:mod:`fpe.gram` (the Gram split), :mod:`fpe.mlp` (the MLPs it applies to), :mod:`fpe.pruning` (the
split-and-copy, global prune and masks the transforms share), :mod:`fpe.conv` (channel FPE for CNNs,
``fpe.expand_cnn``, which ``fpe.expand`` calls for a CNN), :mod:`fpe.layers` (any module by layer names, ``fpe.expand_layers``)
and :mod:`fpe.export` (plain or sparse layers for inference). Small shared modules:
:mod:`fpe.tasks` (Boolean DNF task), :mod:`fpe.sparsity` (masks of the controls: DropConnect, overlapping
children, moving masks), :mod:`fpe.metrics`, :mod:`fpe.interference` (feature capacity,
neuron cosine, weight structure), :mod:`fpe.theory` (collision probabilities), :mod:`fpe.plot`,
:mod:`fpe.repro` (seeds, determinism, checks), :mod:`fpe.paths`, :mod:`fpe.deps` (what a
computation imports), :mod:`fpe.slots` (book-wide slots: how many computations run at once), :mod:`fpe.cache` and
:mod:`fpe.jobs` (cached computations as jobs on every core or a cluster).

Subpackages, each importing only from below it:

- :mod:`fpe.training`: the reference trainer (``stacked``), the fast concatenated trainer
  (``concat``) and its fused C epoch (``native``, ``_native.c``), the controls' trainer (``dynamic``)
  and the batched CNN trainer (``cnn``);
- :mod:`fpe.datasets`: loaders (``loaders``), frozen encoders (``encoders``), feature sets (``features``),
  the paper's own CIFAR-100 / ImageNet-100 setting (``paper_data``, ``clip_features``);
- :mod:`fpe.experiments`: the paper's schedule and its run record (``schedule``), the Boolean runner
  with its sweeps (``boolean``), the real-data runner (``realdata``), the controls (``controls``),
  CNNs (``cnn``) and the pretrained transformer (``transformer``);
- :mod:`fpe.cost`: inference forms of FPE layers (``inference``, with the split-sum kernel
  ``_splitsum.c``) and their benchmark (``bench``);
- :mod:`fpe.book`: result files and the verdict rule (``results``), generated pages (``report``),
  the Colab set-up cell (``colab``) and notebook cleaning (``nbclean``).
"""
__version__ = "0.2.0"

from .conv import expand_cnn  # noqa: E402
from .expand import count_nonzero, expand, split_copy  # noqa: E402
from .export import export  # noqa: E402
from .layers import expand_layers  # noqa: E402
from .splits import SPLITS  # noqa: E402

__all__ = ["expand", "expand_cnn", "expand_layers", "export", "split_copy", "count_nonzero", "SPLITS", "__version__"]
