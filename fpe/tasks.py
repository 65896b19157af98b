"""Boolean DNF task of the paper (the paper, as we read it, section 3; the paper's "symbolic task").

A single binary label is the OR of ``m`` clauses; clause ``j`` is the AND of the ``k`` inputs
``k*j .. k*j + k - 1`` (disjoint clauses, ``d = k*m`` inputs, ``k = 4`` in the paper's figures).
The paper does not say how inputs are sampled; the rule is the named parameter ``rule``:

``"standard"``
    Half the samples are positives: every input is Bernoulli(0.5) and one clause, chosen
    uniformly, is forced to all ones. The other half are negatives: Bernoulli(0.5) conditioned on
    no clause firing, sampled exactly (each clause block is uniform over its ``2**k - 1``
    non-firing patterns, which is the same as rejection per block).
    Positives carry ``k`` forced ones, so the *count* of ones leaks the label
    (see :func:`count_threshold_accuracy`).
``"count-matched"`` (the house default, :data:`DEFAULT_RULE`, chosen by the calibration chapter)
    As ``"standard"``, but the positives' free inputs are Bernoulli(``p``) with ``p`` chosen so that
    the expected number of ones equals that of the negatives (:func:`count_matched_probability`).
    The count of ones then carries (almost) no information about the label.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

RULES = ("standard", "count-matched")
DEFAULT_RULE = "count-matched"  # the calibrated house default (notebook 03_calibration)

__all__ = [
    "RULES",
    "DEFAULT_RULE",
    "DNFData",
    "make_dnf",
    "dnf_label",
    "clause_groups",
    "count_matched_probability",
    "count_threshold_accuracy",
]


@dataclass(frozen=True)
class DNFData:
    """One sample of the task: ``x`` is ``(n, d)`` float32 in {0, 1}, ``y`` is ``(n,)`` float32."""

    x: torch.Tensor
    y: torch.Tensor
    m: int
    k: int
    rule: str


def clause_groups(m: int, k: int = 4) -> list[list[int]]:
    """Input indices of each clause: ``[[0..k-1], [k..2k-1], ...]`` (used by the clause split)."""
    _check_int("m", m, 1)
    _check_int("k", k, 1)
    return [list(range(k * j, k * (j + 1))) for j in range(m)]


def count_matched_probability(m: int, k: int = 4) -> float:
    """Probability of a one on a positive's free inputs that matches the negatives' mean count.

    A negative's block is uniform over the ``2**k - 1`` non-firing patterns, which hold
    ``k * 2**(k-1) - k`` ones between them, so its mean count is ``(k * 2**(k-1) - k) / (2**k - 1)``
    (28/15 for ``k = 4``). A positive has ``k`` forced ones and ``k*(m-1)`` free inputs, so
    ``k + k*(m-1)*p = m * mean_block``.
    """
    _check_int("m", m, 2)
    _check_int("k", k, 1)
    mean_block = (k * 2 ** (k - 1) - k) / (2**k - 1)
    return (m * mean_block - k) / (k * (m - 1))


def dnf_label(x: torch.Tensor, m: int, k: int = 4) -> torch.Tensor:
    """The DNF label of inputs ``x`` (``(..., k*m)``): 1.0 where some clause is all ones."""
    blocks = x.reshape(*x.shape[:-1], m, k)
    return (blocks > 0.5).all(-1).any(-1).to(torch.float32)


def make_dnf(
    m: int,
    n: int,
    *,
    k: int = 4,
    rule: str = DEFAULT_RULE,
    generator: torch.Generator | None = None,
) -> DNFData:
    """Sample ``n`` class-balanced examples (``n // 2`` positives) of the ``m``-clause DNF task.

    Args:
        m: number of clauses (>= 1; the count-matched rule needs >= 2).
        n: number of samples (>= 2, even).
        k: literals per clause (the paper's figures show 4).
        rule: ``"standard"`` or ``"count-matched"`` (module docstring).
        generator: torch generator for reproducible sampling.
    """
    _check_int("m", m, 1)
    _check_int("k", k, 1)
    _check_int("n", n, 2)
    if n % 2:
        raise ValueError(f"n must be even (half positives, half negatives), got {n}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    d = k * m
    n_pos = n // 2
    n_neg = n - n_pos

    # Negatives: each block uniform over the 2**k - 1 non-firing patterns (codes 0 .. 2**k - 2).
    codes = torch.randint(0, 2**k - 1, (n_neg, m), generator=generator)
    bits = 2 ** torch.arange(k - 1, -1, -1)
    neg = ((codes.unsqueeze(-1) & bits) > 0).reshape(n_neg, d).to(torch.float32)

    # Positives: free inputs Bernoulli(p), one uniformly chosen clause forced to ones.
    p = 0.5 if rule == "standard" else count_matched_probability(m, k)
    pos = (torch.rand(n_pos, d, generator=generator) < p).to(torch.float32)
    forced = torch.randint(0, m, (n_pos,), generator=generator)
    cols = forced.unsqueeze(1) * k + torch.arange(k)  # (n_pos, k)
    pos.scatter_(1, cols, 1.0)

    x = torch.cat([pos, neg])
    y = torch.cat([torch.ones(n_pos), torch.zeros(n_neg)])
    order = torch.randperm(n, generator=generator)
    return DNFData(x=x[order].contiguous(), y=y[order].contiguous(), m=m, k=k, rule=rule)


def count_threshold_accuracy(train: DNFData, test: DNFData) -> float:
    """Test accuracy (%) of the best single threshold on the count of ones, fitted on ``train``.

    This is the "count-of-ones floor": what a model scores that only counts ones.
    """
    def counts(data: DNFData) -> torch.Tensor:
        return data.x.sum(1)

    c_train, c_test = counts(train), counts(test)
    best_acc, best_t, best_sign = -1.0, 0.0, 1.0
    for t in torch.unique(c_train).tolist():
        for sign in (1.0, -1.0):
            pred = (sign * (c_train - t + 0.5) > 0).to(torch.float32)
            acc = (pred == train.y).float().mean().item()
            if acc > best_acc:
                best_acc, best_t, best_sign = acc, t, sign
    pred = (best_sign * (c_test - best_t + 0.5) > 0).to(torch.float32)
    return 100.0 * (pred == test.y).float().mean().item()


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
