"""Trainers: :mod:`~fpe.training.stacked` (the reference: ``StackedMLP`` + Adam with fixed masks),
:mod:`~fpe.training.concat` (many one-hidden-layer nets in one wide layer, the Boolean chapters),
:mod:`~fpe.training.native` (its fused C epoch, ``_native.c``), :mod:`~fpe.training.dynamic` (the
reference trainer with DropConnect and moving masks, the controls), :mod:`~fpe.training.cnn` (many
small CNNs as one grouped-convolution program) and :mod:`~fpe.training.convergence` (the plateau rule
that labels a fixed-budget run converged or budget-stopped)."""
