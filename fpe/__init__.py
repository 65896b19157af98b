"""fpe: a reference implementation of Fixed Parameter Expansion and the experiments of
*Expand Neurons, Not Parameters* (Kong et al., arXiv:2510.04500).

Modules (one concept each): :mod:`fpe.tasks` (Boolean DNF task), :mod:`fpe.splits` and
:mod:`fpe.expand` (the FPE transform), :mod:`fpe.batched` and :mod:`fpe.train` (batched training),
:mod:`fpe.concat` (the fast concatenated trainer) and :mod:`fpe.native` (its fused C epoch, ``_native.c``),
:mod:`fpe.sweeps` (load-sweep grids),
:mod:`fpe.interference` (feature capacity, neuron cosine),
:mod:`fpe.experiment` (the paper's schedule), :mod:`fpe.metrics`, :mod:`fpe.results` (verdicts and
result files), :mod:`fpe.repro` (seeds, determinism, checks), :mod:`fpe.cache`, :mod:`fpe.plot`;
real data: :mod:`fpe.data` (loaders), :mod:`fpe.encoders` (frozen encoders), :mod:`fpe.gram` (Gram split),
:mod:`fpe.realdata`; theory: :mod:`fpe.theory`; inference cost: :mod:`fpe.inference`, :mod:`fpe.bench`;
the book's generated pages: :mod:`fpe.report`, :mod:`fpe.colab`, :mod:`fpe.nbclean`.
"""
__version__ = "0.1.0"

from .expand import count_nonzero, expand  # noqa: E402
from .repro import check, environment, seed_everything, set_determinism  # noqa: E402
from .results import Results, verdict  # noqa: E402

__all__ = ["expand", "count_nonzero", "check", "environment", "seed_everything", "set_determinism",
           "Results", "verdict", "__version__"]
