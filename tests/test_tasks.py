"""The Boolean DNF task generator (the paper, as we read it, section 3)."""
import pytest
import torch

from fpe.tasks import clause_groups, count_matched_probability, count_threshold_accuracy, dnf_label, make_dnf


@pytest.mark.parametrize("rule", ["standard", "count-matched"])
@pytest.mark.parametrize("m", [2, 8, 20])
def test_labels_are_the_dnf_and_balanced(rule, m):
    data = make_dnf(m, 2000, rule=rule, generator=torch.Generator().manual_seed(m))
    assert data.x.shape == (2000, 4 * m)
    assert set(data.x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(dnf_label(data.x, m), data.y)
    assert data.y.sum().item() == 1000


def test_negatives_are_uniform_over_non_firing_blocks():
    data = make_dnf(1, 60000, rule="standard", generator=torch.Generator().manual_seed(0))
    neg = data.x[data.y == 0]
    codes = (neg * torch.tensor([8.0, 4, 2, 1])).sum(1).long()
    freq = torch.bincount(codes, minlength=16).double() / len(codes)
    assert freq[15] == 0
    assert torch.allclose(freq[:15], torch.full((15,), 1 / 15, dtype=torch.float64), atol=0.01)


def test_count_of_ones_leaks_the_label_only_under_the_standard_rule():
    g = torch.Generator().manual_seed(1)
    std = [make_dnf(8, 20000, rule="standard", generator=g) for _ in range(2)]
    matched = [make_dnf(8, 20000, rule="count-matched", generator=g) for _ in range(2)]
    assert 68 < count_threshold_accuracy(*std) < 76  # the "about 72 %" of the issue
    assert count_threshold_accuracy(*matched) < 56
    mean_pos = matched[0].x[matched[0].y == 1].sum(1).mean()
    mean_neg = matched[0].x[matched[0].y == 0].sum(1).mean()
    assert abs(mean_pos - mean_neg) < 0.1
    assert abs(count_matched_probability(8) - (8 * 28 / 15 - 4) / 28) < 1e-12


def test_clause_groups_partition_the_inputs():
    groups = clause_groups(3)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


@pytest.mark.parametrize("kwargs, name", [
    (dict(m=0, n=10), "m"), (dict(m=2, n=7), "n"), (dict(m=2, n=10, rule="other"), "rule"),
    (dict(m=2.5, n=10), "m"), (dict(m=2, n=10, k=0), "k"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_dnf(**kwargs)
