"""The paper's experiments: :mod:`~fpe.experiments.schedule` (the schedule, for any data, and its
``Run`` record), :mod:`~fpe.experiments.boolean` (Boolean DNF runs and load sweeps),
:mod:`~fpe.experiments.realdata` (width sweeps over fixed features), :mod:`~fpe.experiments.controls`
(the later version's controls), :mod:`~fpe.experiments.cnn` (CNNs trained end to end) and
:mod:`~fpe.experiments.transformer` (FPE on a pretrained transformer, fine-tuned)."""
