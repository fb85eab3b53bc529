"""The paper's few-shot and base-to-novel bookkeeping: which rows train, which classes each test clip is scored over."""

import pytest

from models.protocols import base_novel_split, few_shot_rows, harmonic_mean, parse_shots, run_base_novel, run_few_shot

LABELS = ["cat"] * 5 + ["dog"] * 3 + ["eel"] * 4 + ["fox"] * 2


def test_few_shot_rows_takes_k_distinct_rows_of_every_class_reproducibly():
    rows = few_shot_rows(LABELS, 2, seed=3)
    assert len(rows) == len(set(rows)) == 8
    assert sorted(LABELS[r] for r in rows) == ["cat", "cat", "dog", "dog", "eel", "eel", "fox", "fox"]
    assert rows == few_shot_rows(LABELS, 2, seed=3)
    draws = {tuple(few_shot_rows(LABELS, 2, seed=s)) for s in range(10)}
    assert len(draws) > 1  # the seed decides the draw


def test_few_shot_refuses_a_class_with_too_few_clips_naming_it():
    with pytest.raises(ValueError, match=r"fox \(2\)"):
        few_shot_rows(LABELS, 3)
    with pytest.raises(ValueError, match="at least 1"):
        few_shot_rows(LABELS, 0)


def test_base_novel_split_is_the_sorted_halves():
    split = base_novel_split(["eel", "cat", "fox", "dog", "cat", "gnu"])
    assert split.base == ["cat", "dog", "eel"] and split.novel == ["fox", "gnu"]
    with pytest.raises(ValueError):
        base_novel_split(["cat", "cat"])


def test_harmonic_mean():
    assert harmonic_mean(0.8, 0.4) == pytest.approx(2 * 0.8 * 0.4 / 1.2)
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_protocols_train_on_the_right_rows_and_score_over_the_right_classes():
    test = ["cat", "dog", "eel", "fox", "cat", "fox", "yak"]
    calls = []

    def train(rows):
        calls.append(("train", sorted(LABELS[r] for r in rows)))

        def score(test_rows, classes):
            calls.append(("score", [test[r] for r in test_rows], list(classes)))
            return 0.5 if "cat" in classes else 0.25

        return score

    few = run_few_shot(LABELS, test, 2, train)
    assert few["top1"] == 0.5 and few["train_clips"] == 8 and few["test_clips"] == 6  # "yak" is no training class
    assert calls[1] == ("score", ["cat", "dog", "eel", "fox", "cat", "fox"], ["cat", "dog", "eel", "fox"])
    calls.clear()
    b2n = run_base_novel(LABELS, test, train, shots=2)
    assert calls[0] == ("train", ["cat", "cat", "dog", "dog"])
    assert calls[1] == ("score", ["cat", "dog", "cat"], ["cat", "dog"])
    assert calls[2] == ("score", ["eel", "fox", "fox"], ["eel", "fox"])
    assert (b2n["base_top1"], b2n["novel_top1"]) == (0.5, 0.25)
    assert b2n["hm"] == pytest.approx(harmonic_mean(0.5, 0.25))


def test_parse_shots_keeps_the_order_given_without_repeats():
    assert parse_shots("2,4,8,16") == [2, 4, 8, 16]
    assert parse_shots("16, 2,2") == [16, 2]
    for bad in ("2,x", "", "0", "4,-1", "2.5"):
        with pytest.raises(ValueError, match="--shots"):
            parse_shots(bad)
