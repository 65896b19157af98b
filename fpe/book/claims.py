"""What the paper claims and shows, as the findings and coverage pages list it (the paper, as we read
it, sections 1, 5 and 7). Data only: which recorded numbers decide each claim, and which figure panel,
table or number family of the paper each chapter covers. The pages themselves, with every verdict and
number, are generated from the result files by :mod:`fpe.book.report`.

A number is named ``"notebook/id"``; a family is a notebook and an id prefix (every number whose id
starts with it). ``paper_numbers`` counts the values the paper gives for a panel (read off our notes
of the paper, section 5), so the coverage page can count what is compared and what is missing.
"""
from __future__ import annotations

__all__ = ["CLAIMS", "PANELS", "DIRECTIONS", "SECTION"]

# The paper's own claims (book/paper.md: section 1, claims 1-5, and section 6), in its words as we read them;
# for each: the section it comes from, the numbers that decide it, the families (notebook, id prefix) whose
# primary comparisons its verdict is computed from (every primary comparison of its figures, the deciding
# numbers among them), the direction tests it carries (families without a paper value where the paper
# states a direction: notebook, id prefix, baseline, the sign the paper states), and the chapter whose
# tagged "finding" figure illustrates it
CLAIM_TEXT = {
    "clause": "On Boolean DNF tasks, splitting neurons along clauses improves accuracy and lowers the interference metrics.",
    "random": "A random split already captures a large part of that improvement: fewer collisions, not exact assignment, drive it.",
    "load": "The improvement grows with polysemantic load (clauses per neuron), then declines.",
    "realdata": "On real data (frozen embeddings, FashionMNIST, deeper networks, CNNs), widening at a constant non-zero count "
                "helps consistently, most when the network is narrow.",
    "cost": "The cost that matters is the non-zero weights fetched from memory, not FLOPs.",
    "theory": "(Theory) With random disjoint splits, two clauses still share a child with probability about alpha^-(2k-1).",
}
SECTION = {"clause": "section 1, claim 1; Figures 3 and 4", "random": "section 1, claim 2; headline, Figure 4",
           "load": "section 1, claim 3; Figures 4b and 4c", "realdata": "section 1, claim 4; real-data table, Figure 5; section 7",
           "cost": "section 1, claim 5", "theory": "section 6"}
DECIDED_BY = {
    "clause": ["02_headline/acc_clause_a2", "03_load_sweeps/rel_h_clause_a2_m8_h8", "03_load_sweeps/fold_capacity_h_clause_a2_m8_h8",
               "03_load_sweeps/r2_capacity_h_clause_a2", "03_load_sweeps/r2_cosine_h_clause_a2"],
    "random": ["02_headline/acc_random_a2", "03_load_sweeps/rel_h_random_a2_m8_h8", "03_load_sweeps/rel_m_random_a2_m14_h8"],
    "load": ["03_load_sweeps/rel_m_clause_a4_m8_h8", "03_load_sweeps/rel_m_clause_a4_m14_h8", "03_load_sweeps/rel_m_clause_a4_m32_h8"],
    "realdata": ["05_real_data/table_fashion_random_a2", "05_real_data/table_cifar10_random_a4", "05_real_data/table_wordnet_random_a4",
                 "07_deep_mlp/table_random_a2"],
    "cost": [],
    # the split fpe.expand uses is the balanced one: the paper's formula against that split's Monte Carlo
    "theory": ["04_theory/mc_p_pair_balanced_k4_a2", "04_theory/mc_p_pair_balanced_k4_a4"],
}
FAMILIES = {  # notebook and id prefix
    "clause": [("02_headline", "acc_clause_"), ("03_load_sweeps", "rel_h_clause_"), ("03_load_sweeps", "rel_m_clause_"),
               ("03_load_sweeps", "fold_capacity_"), ("03_load_sweeps", "r2_")],
    "random": [("02_headline", "acc_random_"), ("03_load_sweeps", "rel_h_random_"), ("03_load_sweeps", "rel_m_random_")],
    "load": [("03_load_sweeps", "rel_m_"), ("03_heat_maps", "heat_")],
    "realdata": [("05_real_data", "table_"), ("05_real_data", "rel_"), ("05_real_data", "gram_minus_random"),
                 ("07_deep_mlp", "table_"), ("07_deep_mlp", "rel_"), ("07_deep_mlp", "small_minus_large_"),
                 ("07_deep_mlp", "gram_minus_random")],
    "cost": [("06_cost", "")],
    "theory": [("04_theory", "")],
}
DIRECTIONS = {  # (notebook, id prefix, baseline, sign the paper states): numbers without a paper value
    "clause": [("03_load_sweeps", "fold_cosine_", 1.0, -1)],  # Figure 3: the cosine fold change stays below 1
    "realdata": [("07_deep_mlp", "rel_h", 0.0, +1), ("09_cnn", "head_rel_w", 0.0, +1), ("09_cnn", "channel_rel_w", 0.0, +1)],
}
FIGURE = {"clause": "02_headline", "random": "03_load_sweeps", "load": "03_heat_maps", "realdata": "05_real_data",
          "cost": "06_cost", "theory": "04_theory"}
CLAIMS = [(k, CLAIM_TEXT[k], DECIDED_BY[k], FAMILIES[k], FIGURE[k]) for k in CLAIM_TEXT]

# (panel, notebook or None, id prefixes, paper_numbers, status note where not at the paper's setting)
PANELS = [
    ("Headline accuracies, 8 clauses / 8 neurons (text)", "02_headline", ["acc_dense", "acc_random", "acc_clause"], 3, None),
    ("Figure 2: first-layer weights of the 8-clause model", "03_load_sweeps", ["fig2_"], 0, None),
    ("Figure 3: feature-capacity fold change vs h", "03_load_sweeps", ["fold_capacity_h_"], 44, None),
    ("Figure 3: feature-capacity fold change vs m", "03_load_sweeps", ["fold_capacity_m_"], 29, None),
    ("Figure 3: neuron-cosine fold change vs h and m", "03_load_sweeps", ["fold_cosine_"], 0,
     "the paper gives ranges only; recomputed, not compared"),
    ("Figure 3: R² of improvement on the fold changes", "03_load_sweeps", ["r2_"], 8, None),
    ("Figure 4a: relative improvement vs h", "03_load_sweeps", ["rel_h_"], 44, None),
    ("Figure 4b: relative improvement vs m", "03_load_sweeps", ["rel_m_"], 40, None),
    ("Figure 4: accuracy per non-zero weight (implied dense accuracies)", "03_calibration", ["dense_m"], 7,
     "calibration targets: circular, not counted as reproductions"),
    ("Figure 4c: heat maps over h and m", "03_heat_maps", ["heat_"], 4, "range ends compared; 3 seeds"),
    ("Theory: collision and coverage probabilities", "04_theory", ["p_", "mc_p_"], 1,
     "the paper's formula and our derivation agree (checks)"),
    ("Real-data table: FashionMNIST", "05_real_data", ["table_fashion_"], 4, "a training subset (5,000 of 60,000)"),
    ("Real-data table: CIFAR-100 (CLIP)", "05_real_data", ["table_cifar10_"], 4,
     "substitute: CIFAR-10 through EfficientNet-Lite0"),
    ("Real-data table: ImageNet-100 (CLIP)", "05_real_data", ["table_wordnet_"], 4, "substitute: WordNet-100 glosses through MiniLM"),
    ("Real-data table: ImageNet-1k (CLIP, 5-layer MLP)", "07_deep_mlp", ["table_"], 4,
     "substitute: 5-layer MLPs on WordNet nouns in 300 classes through MiniLM (width not stated: compared at h = 12)"),
    ("Figure 5: relative improvement vs width (FashionMNIST, CIFAR-100, ImageNet-100)", "05_real_data", ["rel_"], 21,
     "on substitutes and a subset"),
    ("Figure 5d: ImageNet-1k, 5-layer MLP", "07_deep_mlp", ["rel_", "small_minus_large_"], 6,
     "substitute: 5-layer MLPs on WordNet nouns in 300 classes through MiniLM"),
    ("Inference cost (claim 5)", "06_cost", [""], 0, "the paper gives no number; measured here"),
    ("Later version: CNN backbone trained jointly (FPE in the head; channel FPE)", "09_cnn", ["head_", "channel_", "small_minus_large_"], 0,
     "substitute: a small CNN on CIFAR-10 (no CIFAR-100 copy), cut to 10k images at 16x16 and 6 + 6 epochs; later-version "
     "claims without public numbers: tested for direction, not compared"),
    ("Later version: alpha sweep, split timing, what a wider dense net buys (Boolean task)", "08_controls", ["alpha_", "timing_", "wide_", "match_"],
     0, "later-version claims without public numbers: tested for direction, not compared"),
    ("Later version: DropConnect, overlapping children, moving masks, classes per neuron", "08_more_controls",
     ["dropconnect_", "overlap_", "moving_", "classes_"], 0, "later-version claims without public numbers: tested for direction, not compared"),
    ("Future work: FPE on a pretrained transformer (MiniLM feed-forward blocks, WordNet-100 fine-tune)", "10_transformer",
     ["check_", "cosine_", "acc_", "diff_", "nonzeros_"], 0, "the paper proposes it as future work, no number: measured here"),
]
