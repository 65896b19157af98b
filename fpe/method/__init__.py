"""Fixed Parameter Expansion itself (the paper, as we read it, section 2): the transform
(:mod:`~fpe.method.expand`), split rules (:mod:`~fpe.method.splits`, :mod:`~fpe.method.gram`), the
MLPs it applies to (:mod:`~fpe.method.mlp`), the split-copy and global prune the transforms share
(:mod:`~fpe.method.pruning`), channel FPE for CNNs (:mod:`~fpe.method.conv`), FPE on any module by
layer name (:mod:`~fpe.method.layers`) with its pairs checked on the traced graph
(:mod:`~fpe.method.verify`), plain or sparse layers for inference
(:mod:`~fpe.method.export`) and the masks of the controls (:mod:`~fpe.method.sparsity`).
"""
