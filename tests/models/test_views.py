"""Multi-view scoring: one view is today's scoring exactly; several views combine as ViFi-CLIP's validate does
(each view's softmax over the classes, summed), checked against hand computations over the per-view scores."""

import math

import cv2
import numpy as np
import pytest
import torch

from models.evaluate import embed_clips, embed_texts, evaluate
from models.fusion import video_features
from models.metrics import ranks, recall_summary, retrieval_metrics, top_k_accuracy
from models.preprocess import OPENCV_BILINEAR, Preprocess
from models.views import classify_views, combine_class_scores, embed_views, label_scores, parse_views

LABELS = ["archery", "bowling", "cooking", "diving"]
TEMPLATE = "a video of {}."


def clip(seed, t=4, h=64, w=100):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def softmax(row, scale):
    weights = [math.exp(scale * (c - max(row))) for c in row]
    return [w / sum(weights) for w in weights]


def test_parse_views():
    assert parse_views("3x4") == (3, 4)
    assert parse_views("1×1") == (1, 1)
    for bad in ("4x3", "3x0", "3", "ax2"):
        with pytest.raises(ValueError):
            parse_views(bad)


def test_combine_class_scores_is_the_views_mean_softmax():
    cosines = np.array([[0.3, 0.1, 0.2], [0.1, 0.25, 0.2]])
    mean_cosine, probability = combine_class_scores(cosines, 10.0)
    expected = [(a + b) / 2 for a, b in zip(softmax([0.3, 0.1, 0.2], 10.0), softmax([0.1, 0.25, 0.2], 10.0))]
    np.testing.assert_allclose(probability, expected, rtol=1e-12)
    np.testing.assert_allclose(mean_cosine, [0.2, 0.175, 0.2], rtol=1e-12)
    # the mean of softmaxes, not the softmax of the mean cosine: the two views disagree, so these differ
    assert not np.allclose(probability, softmax(mean_cosine, 10.0))


def test_one_view_classifies_exactly_as_the_encoder(tiny_encoder):
    frames = clip(1)
    assert classify_views(tiny_encoder, frames, LABELS, TEMPLATE) == tiny_encoder.classify(frames, LABELS, TEMPLATE)
    assert classify_views(tiny_encoder, frames[None], LABELS, TEMPLATE) == tiny_encoder.classify(frames, LABELS, TEMPLATE)


def test_three_crops_by_two_temporal_views_classify_as_a_hand_computation(tiny_encoder):
    # the tiny model's short side and crop are 64: a 64x100 frame is cut at x = 0, 36 (right) and 18 (middle)
    views = np.stack([clip(2), clip(3)])  # [V=2, T, 64, 100, 3]
    label_vectors = tiny_encoder.encode_text(LABELS, TEMPLATE)
    per_view = [
        label_vectors @ tiny_encoder.encode_video(view[:, :, left : left + 64].copy()) for view in views for left in (0, 36, 18)
    ]
    scale = tiny_encoder.logit_scale
    summed = np.sum([softmax(c, scale) for c in per_view], axis=0)  # the reference sums the views' softmaxes
    ranked = classify_views(tiny_encoder, views, LABELS, TEMPLATE, crops=3)
    assert [label for label, _, _ in ranked] == [LABELS[i] for i in np.argsort(-summed, kind="stable")]
    for label, cosine, probability in ranked:
        i = LABELS.index(label)
        assert probability == pytest.approx(summed[i] / 6, abs=1e-6)
        assert cosine == pytest.approx(np.mean([c[i] for c in per_view]), abs=1e-6)
    assert sum(p for _, _, p in ranked) == pytest.approx(1.0)


def test_three_crops_of_vificlip_preprocessing_embed_the_reference_pixels(tiny_encoder):
    tiny_encoder.preprocess = Preprocess(72, 64, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), OPENCV_BILINEAR)
    frames = clip(4, t=2, h=90, w=120)  # resized to short side 64 with cv2's size rule: 64 x 85, step 10
    resized = np.stack([cv2.resize(f, (85, 64), interpolation=cv2.INTER_LINEAR) for f in frames])
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    expected = []
    for left in (0, 20, 10):
        pixels = torch.tensor((resized[:, :, left : left + 64] - mean) / std, dtype=torch.float32).permute(0, 3, 1, 2)
        with torch.no_grad():
            expected.append(video_features(tiny_encoder.model, pixels[None])[0].numpy())
    got = embed_views(tiny_encoder, [frames], crops=3)[0]
    assert got.shape == (3, tiny_encoder.dim)
    assert (np.sum(got * np.array(expected), axis=1) > 0.9999).all()


def dataset(views=None):
    """Six videos (one of them in two rows), captions and labels; clips get ``views`` temporal views when given."""
    keys = ["a", "b", "c", "d", "e", "f", "a"]
    captions = ["red fox", "blue car", "green tree", "red fox", None, "old boat", "a fox at night"]
    labels = ["archery", "bowling", "archery", "cooking", "diving", None, "archery"]
    seeds = {k: 10 + i for i, k in enumerate("abcdef")}
    if views is None:
        clips = [clip(seeds[k]) for k in keys]
    else:
        clips = [np.stack([clip(seeds[k] * 7 + v) for v in range(views)]) for k in keys]
    return clips, keys, captions, labels


def test_one_view_evaluates_exactly_as_before(tiny_encoder):
    clips, keys, captions, labels = dataset()
    got = evaluate(tiny_encoder, clips, keys, captions, labels, template=TEMPLATE, batch_size=4)
    # today's computation: one vector per video, cosines straight into the metrics
    videos = embed_clips(tiny_encoder, [clips[i] for i in (0, 1, 2, 3, 4, 5)], batch_size=4)
    texts = sorted({c for c in captions if c})
    positives = np.zeros((len(texts), 6), dtype=bool)
    for caption, key in zip(captions, keys):
        if caption:
            positives[texts.index(caption), "abcdef".index(key)] = True
    has = positives.any(axis=0)
    expected = {"fusion": "embedding", **retrieval_metrics(embed_texts(tiny_encoder, texts), videos[has], positives[:, has])}
    names = sorted(set(filter(None, labels)))
    similarity = videos[:5] @ embed_texts(tiny_encoder, [TEMPLATE.format(n) for n in names]).T
    expected.update(top_k_accuracy(similarity, [names.index(x) for x in labels[:5]]), labels=len(names))
    assert got == expected


def test_temporal_and_spatial_views_evaluate_as_a_hand_computation(tiny_encoder):
    clips, keys, captions, labels = dataset(views=2)
    got = evaluate(tiny_encoder, clips, keys, captions, labels, template=TEMPLATE, crops=3)
    # every video's six views as clips of their own: temporal view v, crop at x = 0, 36, 18
    view_vectors = np.array(
        [[tiny_encoder.encode_video(clips[i][v][:, :, x : x + 64].copy()) for v in (0, 1) for x in (0, 36, 18)] for i in range(6)]
    )
    texts = sorted({c for c in captions if c})
    text_vectors = tiny_encoder.encode_text(texts)
    similarity = np.mean([text_vectors @ view_vectors[:, k].T for k in range(6)], axis=0)  # [texts, videos]
    positives = np.zeros((len(texts), 6), dtype=bool)
    for caption, key in zip(captions, keys):
        if caption:
            positives[texts.index(caption), "abcdef".index(key)] = True
    has = positives.any(axis=0)
    for prefix, sim, pos in (("t2v", similarity[:, has], positives[:, has]), ("v2t", similarity[:, has].T, positives[:, has].T)):
        for name, value in recall_summary(ranks(sim, pos), prefix).items():
            assert got[name] == pytest.approx(value), name
    names = sorted(set(filter(None, labels)))
    label_vectors = tiny_encoder.encode_text(names, TEMPLATE)
    scale = tiny_encoder.logit_scale
    summed = np.array([np.sum([softmax(label_vectors @ v, scale) for v in views], axis=0) for views in view_vectors[:5]])
    np.testing.assert_allclose(label_scores(view_vectors[:5], label_vectors, scale), summed / 6, atol=1e-7)
    assert got["zs_top1"] == top_k_accuracy(summed, [names.index(x) for x in labels[:5]])["zs_top1"]


def test_one_view_label_scores_are_the_cosines():
    views = np.random.default_rng(0).normal(size=(3, 1, 8)).astype(np.float32)
    label_vectors = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32)
    assert np.array_equal(label_scores(views, label_vectors, 100.0), views[:, 0] @ label_vectors.T)
