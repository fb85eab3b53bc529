"""``--views SxT`` on ``vidseek eval`` and ``vidseek classify``: one view is today's output exactly; several are what
:mod:`models.views` computes by hand on the same decoded clips."""

import json

import numpy as np
import pytest
import torch

from tests.test_cli import vidseek
from tests.test_cli_protocols import TINY, labelled  # noqa: F401 (a fixture)

TEMPLATE = "a video of {}."  # explicit, so the hand computation wraps labels as the command does


def _tiny_encoder():
    from models import load_encoder

    torch.manual_seed(0)  # what --pretrained none with the default --seed 0 starts from
    return load_encoder("vidseek-tiny", "none", "cpu")


def test_eval_views(labelled, tmp_path):  # noqa: F811
    from indexer.dataset import load_clips, read_examples
    from models.metrics import top_k_accuracy
    from models.views import embed_views, label_scores

    _, test, _ = labelled
    run = ("eval", test, *TINY, "--cache-dir", tmp_path / "cache", "--template", TEMPLATE, "--json")
    plain = json.loads(vidseek(*run).stdout)
    assert json.loads(vidseek(*run, "--views", "1x1").stdout) == plain and "views" not in plain
    multi = json.loads(vidseek(*run, "--views", "3x2").stdout)
    assert multi["views"] == "3x2" and multi["labels"] == plain["labels"] == 4

    encoder = _tiny_encoder()
    examples = read_examples(test)
    decoded = load_clips(examples, 8, encoder.preprocess.crop, encoder.preprocess.interpolation, views=2)
    assert decoded.clips[0].shape[:2] == (2, 8)
    names = sorted({e.label for e in examples})
    labels = encoder.encode_text([TEMPLATE.format(n) for n in names])
    scores = label_scores(embed_views(encoder, decoded.clips, crops=3), labels, encoder.logit_scale)
    expected = top_k_accuracy(scores, [names.index(e.label) for e in examples])
    assert multi["zs_top1"] == pytest.approx(expected["zs_top1"]) and multi["zs_top5"] == pytest.approx(expected["zs_top5"])


def test_classify_views(labelled, tmp_path):  # noqa: F811
    from indexer.clips import decode_resampling, decode_short_side, read_clip
    from models.views import classify_views

    _, test, _ = labelled
    video = test.parent / "test" / "red-circle-0.mp4"
    labels = "red circle,blue square,green diamond"
    run = ("classify", video, "--labels", labels, "--template", TEMPLATE, *TINY[:4], "--index-dir", tmp_path, "--json")
    plain = json.loads(vidseek(*run).stdout)
    assert json.loads(vidseek(*run, "--views", "1x1").stdout) == plain
    multi = json.loads(vidseek(*run, "--views", "3x2").stdout)["labels"]

    encoder = _tiny_encoder()
    preprocess = encoder.preprocess
    side, resample = decode_short_side(preprocess.crop), decode_resampling(preprocess.interpolation)
    clip = read_clip(str(video), 8, side, resample=resample, views=2)
    expected = classify_views(encoder, clip, labels.split(","), TEMPLATE, crops=3)
    assert [m["label"] for m in multi] == [label for label, _, _ in expected]
    np.testing.assert_allclose([m["probability"] for m in multi], [p for _, _, p in expected], atol=1e-6)
    np.testing.assert_allclose([m["score"] for m in multi], [s for _, s, _ in expected], atol=1e-6)
    assert not np.allclose([m["probability"] for m in multi], [p["probability"] for p in plain["labels"]], atol=1e-4)


@pytest.mark.parametrize("views", ["2x3", "0x1", "3x0", "abc"])
def test_bad_views_exit_2_with_the_reason(labelled, views):  # noqa: F811
    _, test, _ = labelled
    result = vidseek("eval", test, *TINY, "--views", views, check=False)
    assert result.returncode == 2 and f"--views {views}:" in result.stderr and "Traceback" not in result.stderr
    assert ("must look like 3x4" if views == "abc" else "spatial crops must be one of (1, 3)") in result.stderr
    video = test.parent / "test" / "red-circle-0.mp4"
    classify = vidseek("classify", video, "--labels", "a,b", *TINY[:4], "--views", views, check=False)
    assert classify.returncode == 2 and f"--views {views}:" in classify.stderr


def test_classify_upload_takes_views(labelled, tmp_path, _tiny_encoder):  # noqa: F811
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings
    from indexer.clips import decode_resampling, decode_short_side, read_clip
    from models.views import classify_views

    _, test, _ = labelled
    video = test.parent / "test" / "blue-square-1.mp4"
    settings = Settings(index_dir=tmp_path)  # no index: an upload is sampled at the default 8 frames
    form = {"labels": "red circle,blue square", "template": TEMPLATE}
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:

        def post(views):
            with open(video, "rb") as f:
                data = form if views is None else {**form, "views": views}
                return client.post("/classify", files={"file": ("v.mp4", f, "video/mp4")}, data=data)

        plain, one, multi = post(None), post("1x1"), post("3x2")
        bad, too_many = post("2x2"), post("3x5")
    assert plain.status_code == one.status_code == multi.status_code == 200 and one.json() == plain.json()
    preprocess = _tiny_encoder.preprocess
    side, resample = decode_short_side(preprocess.crop), decode_resampling(preprocess.interpolation)
    clip = read_clip(str(video), 8, side, resample=resample, views=2)
    expected = classify_views(_tiny_encoder, clip, ["red circle", "blue square"], TEMPLATE, crops=3)
    got = multi.json()["labels"]
    assert [g["label"] for g in got] == [label for label, _, _ in expected]
    np.testing.assert_allclose([g["probability"] for g in got], [p for _, _, p in expected], atol=1e-6)
    assert bad.status_code == 422 and "spatial crops must be one of (1, 3)" in bad.json()["detail"]
    assert too_many.status_code == 422 and "at most 12 views" in too_many.json()["detail"]
