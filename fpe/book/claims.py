"""What the paper claims and shows, as the findings and coverage pages list it (the paper, as we read
it, sections 1, 5 and 7). Data only: which recorded numbers decide each claim, and which figure panel,
table or number family of the paper each chapter covers. The pages themselves, with every verdict and
number, are generated from the result files by :mod:`fpe.book.report`.

A number is named ``"notebook/id"``; a family is a notebook and an id prefix (every number whose id
starts with it). ``paper_numbers`` counts the values the paper gives for a panel (read off our notes
of the paper, section 5), so the coverage page can count what is compared and what is missing.
"""
from __future__ import annotations

__all__ = ["CLAIMS", "PANELS", "PAPER_VALUES", "DIRECTIONS", "SECTION"]

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
               ("03_load_sweeps", "fold_capacity_"), ("03_load_sweeps", "cosine_range_"), ("03_load_sweeps", "r2_")],
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
    "realdata": [("07_deep_mlp", "rel_h", 0.0, +1), ("09_cnn", "head_rel_", 0.0, +1), ("09_cnn", "channel_rel_", 0.0, +1)],
}
FIGURE = {"clause": "02_headline", "random": "03_load_sweeps", "load": "03_heat_maps", "realdata": "05_real_data",
          "cost": "06_cost", "theory": "04_theory"}
CLAIMS = [(k, CLAIM_TEXT[k], DECIDED_BY[k], FAMILIES[k], FIGURE[k]) for k in CLAIM_TEXT]

# (panel, notebook or None, id prefixes, paper_numbers, status note where not at the paper's setting);
# paper_numbers counts the values a panel compares (a range compared at both ends counts twice)
PANELS = [
    ("Headline accuracies, 8 clauses / 8 neurons (text)", "02_headline", ["acc_dense", "acc_random", "acc_clause"], 3, None),
    ("Figure 2: first-layer weights of the 8-clause model", "03_load_sweeps", ["fig2_"], 0, None),
    ("Figure 3: feature-capacity fold change vs h", "03_load_sweeps", ["fold_capacity_h_"], 44, None),
    ("Figure 3: feature-capacity fold change vs m", "03_load_sweeps", ["fold_capacity_m_"], 29, None),
    ("Figure 3: neuron-cosine fold change vs h and m", "03_load_sweeps", ["cosine_range_"], 8,
     "each range compared at its middle (uncertainty half the range plus 0.1); every point of the sweeps also carried as "
     "a direction test (below 1) by the first claim"),
    ("Figure 3: R² of improvement on the fold changes", "03_load_sweeps", ["r2_"], 8, "judged with a seed-bootstrap interval"),
    ("Figure 4a: relative improvement vs h", "03_load_sweeps", ["rel_h_"], 44, None),
    ("Figure 4b: relative improvement vs m", "03_load_sweeps", ["rel_m_"], 40, None),
    ("Figure 4: accuracy per non-zero weight (implied dense accuracies)", "03_calibration", ["dense_m"], 7,
     "calibration targets: circular, not counted as reproductions; 71 (h = 8 of one sweep, m = 8 of the other) is one cell"),
    ("Figure 4c: heat maps over h and m, range ends", "03_heat_maps", ["heat_clause_range_", "heat_random_range_"], 4,
     "both ends of both ranges compared; 3 seeds"),
    ("Figure 4c: heat maps over h and m, peak and negative region", "03_heat_maps", ["heat_clause_peak", "heat_random_negative"], 2,
     "the clause split's peak (about 90 near h = 12-16, m = 20) and the random split's slightly negative region "
     "(m = 8, h ≥ 16, read as -2.5), each against our mean over its cells; 3 seeds"),
    ("Theory: collision and coverage probabilities", "04_theory", ["p_", "mc_p_"], 1,
     "the paper's formula against our derivation and the Monte Carlo of both assignment rules (checks); the balanced "
     "split that fpe.expand uses fails it"),
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
    ("Implied absolute accuracies on real data (CIFAR-100, ImageNet-100, ImageNet-1k)", None, [], 12,
     "no counterpart: absolute accuracies of classifiers on CLIP embeddings; our substitutes (CIFAR-10 through "
     "EfficientNet-Lite0, WordNet glosses through MiniLM) are other tasks whose accuracies do not compare (the chapters "
     "report their own absolute accuracies next to the relative ones)"),
    ("Real-data schedule (25 + 25 epochs, dense 50)", None, [], 0, "a setting, not a result: the real-data chapters use it"),
    ("Later version: FPE matches a dense net of about 1.2x the parameters (CLIP CIFAR-100, 32 neurons, α = 4)", None, [], 1,
     "no counterpart: needs CLIP CIFAR-100; chapter 08 asks the same question (what a wider dense net buys) on the "
     "Boolean task, without a paper value"),
    ("Later version: the Gram split does no better than the random split on real data", "05_real_data", ["gram_minus_random"], 1,
     "tested as a null (equivalence within 1 point) on substitutes and a subset; chapter 07 repeats it on the deep MLPs"),
    ("Inference cost (claim 5)", "06_cost", [""], 0, "the paper gives no number; measured here"),
    ("Later version: CNN backbone trained jointly (FPE in the head; channel FPE)", "09_cnn", ["head_", "channel_", "small_minus_large_"], 0,
     "substitute: a small CNN on CIFAR-10 (no CIFAR-100 copy) and FashionMNIST, cut to 10k images at 16x16 and 6 + 6 epochs, "
     "head FPE at alpha 2 and 4, channel FPE at alpha 2; later-version claims without public numbers: tested for direction "
     "(carried by the real-data claim), not compared"),
    ("Later version: alpha sweep, split timing, what a wider dense net buys (Boolean task)", "08_controls", ["alpha_", "timing_", "wide_", "match_"],
     0, "later-version claims without public numbers: tested for direction, not compared"),
    ("Later version: DropConnect, overlapping children, moving masks, classes per neuron", "08_more_controls",
     ["dropconnect_", "overlap_", "moving_", "classes_"], 0, "later-version claims without public numbers: tested for direction, not compared"),
    ("Future work: FPE on a pretrained transformer (MiniLM feed-forward blocks, WordNet-100 fine-tune)", "10_transformer",
     ["check_", "cosine_", "acc_", "diff_", "nonzeros_"], 0, "the paper proposes it as future work, no number: measured here"),
]

# every value the paper prints or we read ({doc}`paper`, section 5, block by block, as printed there, and the
# section 7 values with a number), with the panel that covers it: the coverage page lists them all, and a test
# checks that every value of book/paper.md's section 5 is here
PAPER_VALUES = [
    ("Headline", "Headline accuracies, 8 clauses / 8 neurons (text)", ["78.7", "88.7", "99.4"]),
    ("Figure 4a", "Figure 4a: relative improvement vs h", [
        "49", "25", "34", "34.5", "21", "15.5", "22", "2", "3", "4", "2.5", "35", "7.5", "19", "27", "6.5", "9", "16", "-2.5", "-2.5",
        "-0.5", "-2", "63", "30", "42", "35", "20", "17", "23", "2", "3", "4", "2", "38", "-0.5", "10.5", "13.5", "2", "-1.5", "5",
        "-8", "-8.5", "-3.5", "-7"]),
    ("Figure 4b", "Figure 4b: relative improvement vs m", [
        "8", "43", "50", "56", "61", "27", "28", "14.5", "12", "6.5", "5.5", "26", "34", "34", "36", "16", "10.5", "9", "3", "2",
        "11", "40", "53", "70", "85", "75", "60", "53", "45.5", "42", "-2", "19", "17", "25", "34.5", "21", "14.5", "6.5", "4.5", "4.5"]),
    ("Dense accuracy implied by the accuracy-per-parameter curves", "Figure 4: accuracy per non-zero weight (implied dense accuracies)",
     ["56", "71", "84", "96", "90", "71", "58", "50-54"]),
    ("Figure 4c", "Figure 4c: heat maps over h and m, range ends", ["40-95", "10-40"]),
    ("Figure 4c", "Figure 4c: heat maps over h and m, peak and negative region", ["90", "slightly negative"]),
    ("Figure 3, capacity vs h", "Figure 3: feature-capacity fold change vs h", [
        "3.6", "1.93", "1.87", "1.68", "1.35", "1.35", "1.55", "1.15", "1.3", "1.08", "2.0", "2.9", "1.85", "1.78", "1.62", "1.27",
        "1.23", "1.33", "0.87", "1.18", "1.03", "1.85", "3.4", "1.85", "1.82", "1.65", "1.33", "1.33", "1.52", "1.15", "1.28", "1.08",
        "2.0", "3.1", "1.73", "1.7", "1.62", "1.28", "1.28", "1.48", "1.12", "1.25", "1.06", "1.95"]),
    ("Figure 3, capacity vs m", "Figure 3: feature-capacity fold change vs m", [
        "1.4", "2.0", "2.8", "4.3", "6.4", "5.7", "10", "14.2", "14.3", "14.5", "1.4", "6.8", "5.1", "9.5", "13", "14.1", "13.6",
        "5.8", "3.4", "4.7", "5.8", "4.8", "5.4", "5.8", "3.6", "6.2", "7.4", "5.9", "4.0"]),
    ("Figure 3, cosine", "Figure 3: neuron-cosine fold change vs h and m",
     ["0.37-0.57", "0.41-0.68", "0.55-0.87", "0.52-1.12", "0.5-0.8", "0.2", "0.1-0.2", "0.25-0.4"]),
    ("R² of the fits", "Figure 3: R² of improvement on the fold changes", ["0.58", "0.47", "0.63", "0.70", "0.64", "0.46", "0.02", "0.47"]),
    ("Real data", "Real-data table: FashionMNIST", ["1.1", "1.3", "1.0", "1.2"]),
    ("Real data", "Real-data table: CIFAR-100 (CLIP)", ["100.2", "114.3", "97.4", "108.9"]),
    ("Real data", "Real-data table: ImageNet-100 (CLIP)", ["9.0", "10.3", "8.8", "10.5"]),
    ("Real data", "Real-data table: ImageNet-1k (CLIP, 5-layer MLP)", ["2.5", "2.9", "2.4", "3.0"]),
    ("Figure 5", "Figure 5: relative improvement vs width (FashionMNIST, CIFAR-100, ImageNet-100)", [
        "14-17", "2.3-2.5", "1.5-1.7", "0.85-1.0", "0.95-1.1", "100", "150", "3.5", "0.7-1.0", "0.3-0.4", "0.2", "55", "20", "11",
        "8", "5.5", "3.5-4", "2.3", "1.5", "1.0", "0.6-0.8"]),
    ("Figure 5", "Figure 5d: ImageNet-1k, 5-layer MLP", ["6-7", "4.5-6", "4.5-5.6", "2.2", "1.5-1.8", "0.2-1.0"]),
    ("Implied absolute accuracies on real data", "Implied absolute accuracies on real data (CIFAR-100, ImageNet-100, ImageNet-1k)",
     ["29", "49", "73", "78-79", "54", "67", "42", "64", "90", "14", "39-40", "47-49"]),
    ("Real-data schedule", "Real-data schedule (25 + 25 epochs, dense 50)", ["25", "25", "50"]),
    ("Section 7", "Later version: FPE matches a dense net of about 1.2x the parameters (CLIP CIFAR-100, 32 neurons, α = 4)", ["1.2"]),
    ("Section 7", "Later version: the Gram split does no better than the random split on real data", ["no better"]),
]
