"""What the chapters print for people: numbers and run times in prose, source listings without raw
reST docstrings, figures whose titles fit."""

from __future__ import annotations

import torch

import gkl
from gkl import derivations
from gkl.figures import listing
from gkl.figures.markdown import number, ratio
from gkl.figures.runtime import human_duration


def test_numbers_in_prose_never_use_e_notation():
    assert ratio(1110.4) == "1,100×"
    assert ratio(23.4) == "23×" and ratio(1.53) == "1.5×"
    assert number(1.234e-5) == "1.2 × 10⁻⁵" and number(3.2e7) == "3.2 × 10⁷"
    for x in (1110.4, 1.234e-5, 3.2e7, 0.0123, 0.5):
        assert "e+" not in number(x) and "e-" not in number(x)


def test_run_time_is_said_as_a_reader_would():
    assert human_duration(0.2) == "under a second"
    assert human_duration(12.4) == "12 s"
    assert human_duration(185) == "3 min 5 s" and human_duration(120) == "2 min"
    assert human_duration(3720) == "1 h 2 min"


def test_source_listing_replaces_the_rest_docstring():
    for obj in (gkl.kl_div, derivations.kl_hand_gradients, gkl.core.losses.pairwise_sq_sum):
        text = listing.source(obj)
        assert ":math:" not in text and ".. math::" not in text and '"""' not in text
        assert text.splitlines()[0].startswith("def ")
        compile(text, "<listing>", "exec")  # still valid Python
    assert "# Batch mean of KL(softmax(o_m/T) || softmax(o_n/T))." in listing.source(gkl.kl_div)
    assert listing.source(gkl.kl_div, docstring="keep").count('"""') == 2


def test_class_prior_panel_titles_are_wrapped():
    from gkl.figures import theory

    logits = torch.randn(3, 10, dtype=torch.float64)
    labels = ["over-confident: label 4, teacher says 4"] * 3
    fig = theory.sample_vs_prior_weights_figure(logits, torch.full((3, 10), 0.1), labels, temperature=4.0)
    titles = [a.text for a in fig.layout.annotations]
    assert all("<br>" in t and max(len(p) for p in t.split("<br>")) <= 22 for t in titles)
    assert fig.data[0].name.endswith("softmax(o_m/4)")
