"""Retrieval and classification metrics on hand-made similarity matrices, and the evaluation bookkeeping."""

import numpy as np
import pytest

import models.evaluate as evaluate_module
from models.metrics import ranks, recall_summary, retrieval_metrics, top_k_accuracy


def test_ranks_by_hand():
    similarity = np.array(
        [
            [0.9, 0.1, 0.2],  # right answer (col 0) first
            [0.5, 0.4, 0.6],  # right answer (col 1) last
            [0.3, 0.8, 0.7],  # right answer (col 2) second
        ]
    )
    np.testing.assert_array_equal(ranks(similarity, np.eye(3, dtype=bool)), [1, 3, 2])
    summary = recall_summary(ranks(similarity, np.eye(3, dtype=bool)), "t2v", ks=(1, 2))
    assert summary == {"t2v_r1": pytest.approx(1 / 3), "t2v_r2": pytest.approx(2 / 3), "t2v_medr": 2.0, "t2v_mnr": 2.0}


def test_ties_count_against_the_query():
    constant = np.zeros((4, 4))
    np.testing.assert_array_equal(ranks(constant, np.eye(4, dtype=bool)), [4, 4, 4, 4])
    assert retrieval_metrics(np.ones((4, 2)), np.ones((4, 2)), np.eye(4, dtype=bool))["t2v_r1"] == 0.0


def test_best_of_several_positives_counts():
    similarity = np.array([[0.1, 0.9, 0.5, 0.7]])
    positives = np.array([[True, False, False, True]])  # best positive 0.7, beaten by 0.9 only
    assert ranks(similarity, positives)[0] == 2


def test_every_query_needs_a_positive():
    with pytest.raises(ValueError, match="at least one positive"):
        ranks(np.zeros((2, 2)), np.array([[True, False], [False, False]]))


def test_perfect_and_random_retrieval():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    perfect = retrieval_metrics(vectors, vectors, np.eye(300, dtype=bool))
    assert perfect["t2v_r1"] == perfect["v2t_r1"] == 1.0 and perfect["t2v_medr"] == 1.0
    noise = rng.normal(size=(300, 32))
    random = retrieval_metrics(noise, vectors, np.eye(300, dtype=bool))
    assert random["t2v_r1"] < 0.03 and 100 < random["t2v_medr"] < 200 and random["chance_r1"] == pytest.approx(1 / 300)


def test_video_to_text_uses_the_transpose():
    text = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    video = np.array([[1.0, 0.0], [0.0, 1.0]])
    positives = np.array([[True, False], [False, True], [True, False]])  # two captions for video 0
    m = retrieval_metrics(text, video, positives)
    assert m["v2t_r1"] == 1.0 and m["queries"] == 3 and m["videos"] == 2
    assert m["t2v_r1"] == pytest.approx(2 / 3)  # caption 2 scores both videos alike: a tie counts against it


def test_top_k_accuracy():
    similarity = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.4], [0.0, 0.5, 0.1]])
    assert top_k_accuracy(similarity, [0, 0, 2], ks=(1, 2)) == {"zs_top1": pytest.approx(1 / 3), "zs_top2": pytest.approx(2 / 3)}


def test_evaluate_groups_rows_into_videos_captions_and_labels(monkeypatch, tiny_encoder):
    """Rows sharing a video are one video; captions and labels are deduplicated; vectors are stubbed."""
    basis = np.eye(4, dtype=np.float32)
    seen = {}

    def fake_clips(encoder, clips, fusion, batch_size):
        seen["clips"] = [int(c[0, 0, 0, 0]) for c in clips]
        return basis[[int(c[0, 0, 0, 0]) for c in clips]]

    vocabulary = {"zero": 0, "one": 1, "two": 2, "label a": 0, "label b": 1, "label c": 3}

    def fake_texts(encoder, texts, batch_size=256):
        return basis[[vocabulary[t] for t in texts]]

    monkeypatch.setattr(evaluate_module, "embed_clips", fake_clips)
    monkeypatch.setattr(evaluate_module, "embed_texts", fake_texts)
    clips = [np.full((2, 4, 4, 3), i, dtype=np.uint8) for i in (0, 0, 1, 2)]
    result = evaluate_module.evaluate(
        tiny_encoder,
        clips,
        video_keys=["a", "a", "b", "c"],  # rows 0 and 1 are the same video with two captions
        captions=["zero", "zero", "one", "two"],
        labels=["a", "a", "b", "c"],
        template="label {}",
    )
    assert seen["clips"] == [0, 1, 2]
    assert result["videos"] == 3 and result["queries"] == 3 and result["labels"] == 3
    assert result["t2v_r1"] == result["v2t_r1"] == 1.0
    assert result["zs_top1"] == pytest.approx(2 / 3)  # video c (vector 2) matches no label vector better than the rest
