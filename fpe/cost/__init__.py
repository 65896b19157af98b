"""Inference cost of FPE layers: :mod:`~fpe.cost.inference` (storage forms of a sparse layer, bytes
moved, FLOPs) and :mod:`~fpe.cost.bench` (timing them on this machine)."""
