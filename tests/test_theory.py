"""Exact split probabilities (fpe.theory, the paper, as we read it, section 6) against brute-force enumeration."""
import itertools
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fpe import theory as T
from fpe.method.splits import clause_assignment, random_assignment
from fpe.tasks import clause_groups


def clauses(k, m):
    return clause_groups(m, k)


def independent_assignments(d, alpha):
    """Every assignment of d inputs to alpha children, each equally likely."""
    return list(itertools.product(range(alpha), repeat=d))


def balanced_assignments(d, alpha):
    """Every assignment with the child sizes of fpe.method.splits.random_assignment, each equally likely
    (a uniform random permutation makes them so)."""
    sizes = T.group_sizes(d, alpha)
    return [a for a in itertools.product(range(alpha), repeat=d) if [a.count(c) for c in range(alpha)] == sizes]


def clause_split_assignments(k, m, alpha):
    """Every outcome of fpe.method.splits.clause_assignment: a random order of the clauses, position p -> child p % alpha."""
    out = []
    for order in itertools.permutations(range(m)):
        a = [None] * (k * m)
        for pos, g in enumerate(order):
            for i in range(k * g, k * g + k):
                a[i] = pos % alpha
        out.append(tuple(a))
    return out


def brute(assignments, k, m, alpha):
    """Exact per-parent probabilities by enumeration: clause 0 whole, clauses 0 and 1 collide,
    expected number of colliding pairs."""
    cl = clauses(k, m)
    n = len(assignments)
    whole = pair = 0
    pairs = Fraction(0)
    for a in assignments:
        holder = [a[c[0]] if len({a[i] for i in c}) == 1 else None for c in cl]
        whole += holder[0] is not None
        pair += holder[0] is not None and holder[0] == holder[1]
        pairs += sum(1 for x, y in itertools.combinations(holder, 2) if x is not None and x == y)
    return Fraction(whole, n), Fraction(pair, n), pairs / n


CASES = [  # (k, m, alpha): small enough to enumerate alpha**(k*m) assignments
    (1, 4, 2), (2, 2, 2), (2, 3, 2), (2, 3, 3), (3, 2, 2), (2, 4, 2), (2, 4, 4), (3, 3, 2), (1, 5, 3), (2, 5, 2),
]


@pytest.mark.parametrize("k,m,alpha", CASES)
@pytest.mark.parametrize("model", ["independent", "balanced"])
def test_random_models_match_enumeration(k, m, alpha, model):
    d = k * m
    assignments = independent_assignments(d, alpha) if model == "independent" else balanced_assignments(d, alpha)
    whole, pair, pairs = brute(assignments, k, m, alpha)
    assert T.clause_whole_probability(k, m, alpha, model=model, exact=True) == whole
    assert T.clause_cut_probability(k, m, alpha, model=model, exact=True) == 1 - whole
    assert T.pair_collision_probability(k, m, alpha, model=model, exact=True) == pair
    assert T.expected_collisions(k, m, alpha, per="parent", model=model, exact=True) == pairs
    assert T.expected_collisions(k, m, alpha, per="child", model=model, exact=True) == pairs / alpha
    assert T.expected_collisions(k, m, alpha, per="layer", h=3, model=model, exact=True) == 3 * pairs


@pytest.mark.parametrize("k,m,alpha", [(1, 4, 2), (2, 4, 2), (2, 4, 3), (1, 5, 2), (3, 5, 4), (1, 6, 4)])
def test_clause_split_matches_enumeration(k, m, alpha):
    whole, pair, pairs = brute(clause_split_assignments(k, m, alpha), k, m, alpha)
    assert whole == 1 and T.clause_whole_probability(k, m, alpha, model="clause", exact=True) == 1
    assert T.clause_cut_probability(k, m, alpha, model="clause") == 0
    assert T.pair_collision_probability(k, m, alpha, model="clause", exact=True) == pair
    assert T.expected_collisions(k, m, alpha, model="clause", exact=True) == pairs
    assert pairs == sum(math.comb(g, 2) for g in T.clause_counts(m, alpha))


def test_coverage_over_parents_matches_enumeration_of_two_parents():
    k, m, alpha, h = 2, 3, 2, 2
    for model, make in (("independent", independent_assignments), ("balanced", balanced_assignments)):
        layer = list(itertools.product(make(k * m, alpha), repeat=h))
        covered = sum(any(len({a[i] for i in (0, 1)}) == 1 for a in parents) for parents in layer)
        assert T.clause_covered_probability(k, m, alpha, h, model=model, exact=True) == Fraction(covered, len(layer))


def test_balanced_sizes_are_those_of_fpe_random_assignment():
    for d, alpha in [(8, 2), (10, 3), (7, 4), (32, 4), (33, 8)]:
        a = random_assignment(5, d, alpha, torch.Generator().manual_seed(0))
        for row in a:
            assert torch.bincount(row, minlength=alpha).tolist() == T.group_sizes(d, alpha)
    for m, alpha in [(8, 2), (8, 3), (5, 4)]:
        a = clause_assignment(3, clause_groups(m), alpha, torch.Generator().manual_seed(0))
        for row in a:
            assert (torch.bincount(row, minlength=alpha) // 4).tolist() == T.clause_counts(m, alpha)


def test_paper_factor_is_exact_for_the_independent_model_only():
    for k in (1, 2, 3, 4, 5):
        for alpha in (2, 3, 4, 8):
            p = T.pair_collision_probability(k, 8, alpha, model="independent", exact=True)
            assert p == Fraction(1, alpha ** (2 * k - 1))
            assert float(p) == T.paper_collision_approximation(k, alpha)
            assert T.clause_whole_probability(k, 8, alpha, exact=True) == Fraction(1, alpha ** (k - 1))
    # at the paper's settings (k = 4, d = 32) balanced partitions collide less, by a lot at alpha = 4
    b2 = T.pair_collision_probability(4, 8, 2, model="balanced")
    b4 = T.pair_collision_probability(4, 8, 4, model="balanced")
    assert b2 < T.paper_collision_approximation(4, 2) / 3
    assert b4 < T.paper_collision_approximation(4, 4) / 100
    assert T.pair_collision_probability(4, 8, 8, model="balanced") == 0  # children of 4 inputs cannot hold 2 clauses


def test_limits():
    for model in T.MODELS:  # alpha = 1: the unsplit parent holds everything
        assert T.clause_whole_probability(3, 4, 1, model=model) == 1
        assert T.pair_collision_probability(3, 4, 1, model=model) == 1
        assert T.expected_collisions(3, 4, 1, model=model) == math.comb(4, 2)
        assert T.clause_covered_probability(3, 4, 1, 5, model=model) == 1
    for model in ("independent", "balanced"):  # k = 1: a single literal is never cut
        assert T.clause_whole_probability(1, 6, 3, model=model) == 1
    assert T.pair_collision_probability(1, 6, 3, model="independent", exact=True) == Fraction(1, 3)
    assert T.pair_collision_probability(1, 6, 3, model="balanced", exact=True) == Fraction(3 * 2 * 1, 6 * 5)  # 3 children of 2: sum n(n-1) / d(d-1)
    # balanced -> independent when d grows at fixed k, alpha (sampling without replacement -> with)
    for k, alpha in [(2, 2), (4, 4)]:
        big = T.pair_collision_probability(k, 2, alpha, model="balanced", d=alpha * 10**6)
        assert big == pytest.approx(T.paper_collision_approximation(k, alpha), rel=1e-4)
        assert big < T.paper_collision_approximation(k, alpha)
    # coverage over many parents -> 1 when a clause can be whole at all
    assert T.clause_covered_probability(4, 8, 2, 500, model="balanced") > 0.999
    assert T.clause_covered_probability(4, 8, 2, 1, model="balanced") == T.clause_whole_probability(4, 8, 2, model="balanced")


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 6), m=st.integers(2, 10), alpha=st.integers(1, 12), extra=st.integers(0, 9),
       h=st.integers(1, 20), model=st.sampled_from(T.MODELS))
def test_formulas_are_probabilities_and_ordered(k, m, alpha, extra, h, model):
    d = k * m + (0 if model == "clause" else extra)
    if (model == "clause" and alpha > m) or (model == "balanced" and alpha > d):
        with pytest.raises(ValueError, match="alpha"):
            T.pair_collision_probability(k, m, alpha, model=model, d=d)
        return
    whole = T.clause_whole_probability(k, m, alpha, model=model, d=d, exact=True)
    cover = T.clause_covered_probability(k, m, alpha, h, model=model, d=d, exact=True)
    pair = T.pair_collision_probability(k, m, alpha, model=model, d=d, exact=True)
    for p in (whole, cover, pair):
        assert 0 <= p <= 1
    assert whole <= cover  # more parents, more chances
    if model != "clause":
        assert pair <= whole  # a collision needs clause 0 whole
        assert pair <= T.pair_collision_probability(k, m, 1, model=model, d=d, exact=True)
    if model == "balanced":  # without replacement collides no more than with replacement
        assert pair <= T.pair_collision_probability(k, m, alpha, model="independent", d=d, exact=True)
        assert whole <= T.clause_whole_probability(k, m, alpha, model="independent", d=d, exact=True)
    assert T.expected_collisions(k, m, alpha, per="parent", model=model, d=d, exact=True) == math.comb(m, 2) * pair


@pytest.mark.parametrize("call,name", [
    (lambda: T.clause_whole_probability(0, 4, 2), "k"),
    (lambda: T.clause_whole_probability(2, 0, 2), "m"),
    (lambda: T.clause_whole_probability(2, 4, 0), "alpha"),
    (lambda: T.clause_whole_probability(2, 4, 2.0), "alpha"),
    (lambda: T.clause_whole_probability(2, 4, True), "alpha"),
    (lambda: T.clause_whole_probability(2, 4, 2, model="uniform"), "model"),
    (lambda: T.clause_whole_probability(2, 4, 2, d=7), "d"),
    (lambda: T.clause_whole_probability(2, 4, 9, model="balanced"), "alpha"),
    (lambda: T.clause_whole_probability(2, 4, 5, model="clause"), "alpha"),
    (lambda: T.clause_whole_probability(2, 4, 2, model="clause", d=9), "d"),
    (lambda: T.pair_collision_probability(2, 1, 2), "m"),
    (lambda: T.clause_covered_probability(2, 4, 2, 0), "h"),
    (lambda: T.expected_collisions(2, 4, 2, per="neuron"), "per"),
    (lambda: T.group_sizes(3, 4), "alpha"),
    (lambda: T.paper_collision_approximation(4, 0), "alpha"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_support_statistics_on_fpe_expand_masks():
    import fpe
    from fpe.method.mlp import init_mlp
    from fpe.method.mlp import linear_layers

    k, m, h = 2, 4, 6
    model = init_mlp([k * m, h, 1], torch.Generator().manual_seed(0))
    with torch.no_grad():
        linear_layers(model)[-1].weight.mul_(1e-6)  # the prune then only removes output-layer copies
    for alpha, split, groups in [(2, "clause", clause_groups(m, k)), (4, "clause", clause_groups(m, k)), (2, "random", None)]:
        new = fpe.expand(model, alpha, split, groups=groups, generator=torch.Generator().manual_seed(1))
        stats = T.support_statistics(new[0].weight_mask != 0, k, m, alpha)
        assert stats["held"].shape == (h * alpha, m) and stats["whole"].shape == (h, m)
        assert (stats["held"].sum(0) <= h).all()  # a clause is whole in at most one child per parent
        if split == "clause":
            assert stats["whole"].all()
            assert (stats["pairs"] == T.expected_collisions(k, m, alpha, model="clause")).all()
    dense = T.support_statistics(torch.ones(h, k * m, dtype=torch.bool), k, m, 1)
    assert dense["whole"].all() and (dense["pairs"] == math.comb(m, 2)).all()
    # hand-made: parent 0 has child {0,1,2,3} (clauses 0, 1) and child {4,5,6,7} (clauses 2, 3)
    sup = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1],
                        [1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1, 0, 1]], dtype=torch.bool)
    st2 = T.support_statistics(sup, 2, 4, 2)
    assert st2["pairs"].tolist() == [2, 0] and st2["whole"].tolist() == [[True] * 4, [False] * 4]
    with pytest.raises(ValueError, match="alpha"):
        T.support_statistics(sup[:3], 2, 4, 2)


def test_large_weight_support():
    w = torch.tensor([[1.0, -0.6, 0.4, 0.0], [0.0, 0.0, 0.0, 0.0], [-2.0, 1.0, 0.9, 0.1]])
    assert T.large_weight_support(w, 0.5).tolist() == [[True, True, False, False], [False] * 4,
                                                        [True, True, False, False]]
    assert T.large_weight_support(w, 1.0).sum() == 2
    with pytest.raises(ValueError, match="^fraction must"):
        T.large_weight_support(w, 0.0)
