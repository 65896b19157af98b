"""The paper's experiments: :mod:`~fpe.experiments.schedule` (the schedule, for any data, and its
``Run`` record), :mod:`~fpe.experiments.boolean` (Boolean DNF runs and load sweeps) and
:mod:`~fpe.experiments.realdata` (width sweeps over fixed features)."""
