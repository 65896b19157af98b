"""Trainers: :mod:`~fpe.training.stacked` (the reference: ``StackedMLP`` + Adam with fixed masks),
:mod:`~fpe.training.concat` (many one-hidden-layer nets in one wide layer, the Boolean chapters) and
:mod:`~fpe.training.native` (its fused C epoch, ``_native.c``)."""
