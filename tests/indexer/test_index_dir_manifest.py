"""The one compatibility check (a build's settings, or a server's model, against a published index's manifest)."""

import dataclasses
import json

import pytest

from indexer import MODEL_FIELDS, Manifest, ModelIdentity, compatibility_problems

BUILT = Manifest(
    model="ViT-B-32", pretrained="openai", weights_fingerprint="abc", dim=512, frames=8, segment_seconds=10.0, preprocess={}
)


def test_a_build_with_the_same_settings_fits_and_each_difference_is_named():
    assert compatibility_problems(BUILT, dataclasses.replace(BUILT, count=7, library="/elsewhere")) == []
    wanted = dataclasses.replace(BUILT, frames=16, preprocess={"resize": 256}, decoder="pyav-keyframes")
    assert compatibility_problems(BUILT, wanted) == [
        "frames: index has 8, asked for 16",
        "preprocess: index has {}, asked for {'resize': 256}",
        "fast seek: index built without --fast-seek",
    ]
    assert BUILT.compatibility_problems(wanted) == compatibility_problems(BUILT, wanted)
    assert compatibility_problems(wanted, BUILT)[-1] == "fast seek: index built with --fast-seek"


def test_a_server_checks_only_the_model_and_says_what_it_runs():
    same = ModelIdentity("ViT-B-32", "laion", "abc", 512)  # another tag, same weights: fits
    assert compatibility_problems(BUILT, same, MODEL_FIELDS, asked_by="server") == []
    other = ModelIdentity("ViT-L-14", "laion2b", "def", 768)
    assert compatibility_problems(BUILT, other, MODEL_FIELDS, asked_by="server") == [
        "the index was built with model 'ViT-B-32', the server runs 'ViT-L-14'",
        "the index was built with weights 'openai' (abc), the server loaded 'laion2b' (def)",
        "the index holds 512-d vectors, the model makes 768-d ones",
    ]
    with pytest.raises(ValueError, match="asked_by"):
        compatibility_problems(BUILT, other, asked_by="client")


def test_the_manifest_file_keeps_its_fields(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(BUILT.to_json())
    assert set(json.loads(path.read_text())) == {f.name for f in dataclasses.fields(Manifest)}  # no property written
    assert Manifest.read(path) == BUILT


def test_a_manifest_written_before_sampling_was_recorded_reads_as_the_nearest_frame_rule(tmp_path):
    path = tmp_path / "manifest.json"
    data = json.loads(BUILT.to_json())
    del data["sampling"]
    path.write_text(json.dumps(data))
    old = Manifest.read(path)
    assert old.sampling == "nearest" and BUILT.sampling == "containing"
    assert compatibility_problems(old, BUILT) == [
        "sampling: index has 'nearest', asked for 'containing' (vidseek now takes the frame shown at each sampled "
        "instant, as ViFi-CLIP does)"
    ]
    assert compatibility_problems(old, BUILT, MODEL_FIELDS, asked_by="server") == []  # a server keeps serving it


def test_a_build_over_an_index_of_the_old_sampling_asks_for_rebuild(tmp_path, _tiny_encoder):
    from indexer import IndexMismatchError
    from indexer.index_dir.layout import MANIFEST, current_generation
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions
    from tests.videos import make_video

    make_video(tmp_path / "lib" / "a.mp4", 1, size=(64, 48))
    options = BuildOptions(tmp_path / "lib", tmp_path / "index", frames=2, workers=1, progress=False)
    assert build_index(_tiny_encoder, options).indexed == 1
    manifest = current_generation(tmp_path / "index") / MANIFEST
    data = json.loads(manifest.read_text())
    assert data["sampling"] == "containing"
    del data["sampling"]  # as the code before it wrote it
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=r"sampling: index has 'nearest'.*rebuild it with --rebuild"):
        build_index(_tiny_encoder, options)
    assert build_index(_tiny_encoder, BuildOptions(**{**vars(options), "rebuild": True})).indexed == 1


PROMPTS = {"kind": "vl", "tokens": 2, "depth": 2, "base_pretrained": "openai", "base_fingerprint": "abc"}
PROMPTED = dataclasses.replace(BUILT, pretrained="/m/p.safetensors", weights_fingerprint="abc+vl:123", prompts=PROMPTS)


def test_a_prompted_index_and_a_server_without_its_prompts_refuse_each_other_saying_why(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(PROMPTED.to_json())
    assert Manifest.read(path).prompts == PROMPTS
    data = json.loads(BUILT.to_json())
    del data["prompts"]  # as manifests before the field were written
    path.write_text(json.dumps(data))
    assert Manifest.read(path) == BUILT and BUILT.prompts is None

    base = ModelIdentity("ViT-B-32", "openai", "abc", 512)
    assert compatibility_problems(PROMPTED, base, MODEL_FIELDS, asked_by="server") == [
        "the index was built with VL-prompted (2 tokens, depth 2) weights '/m/p.safetensors' (abc+vl:123), the server "
        "loaded 'openai' (abc); the index's vectors come from VL prompts the server lacks (--pretrained /m/p.safetensors)"
    ]
    prompted = ModelIdentity("ViT-B-32", "/m/p.safetensors", "abc+vl:123", 512)
    assert compatibility_problems(PROMPTED, prompted, MODEL_FIELDS, asked_by="server") == []
    assert compatibility_problems(BUILT, prompted, MODEL_FIELDS, asked_by="server") == [
        "the index was built with weights 'openai' (abc), the server loaded VL-prompted '/m/p.safetensors' (abc+vl:123); "
        "the index was built without the VL prompts the server has: build it with them, or use the base weights"
    ]
    retrained = ModelIdentity("ViT-B-32", "/m/q.safetensors", "abc+vl:456", 512)  # other prompts on the same base
    assert "VL-prompted" in compatibility_problems(PROMPTED, retrained, MODEL_FIELDS, asked_by="server")[0]
    assert compatibility_problems(PROMPTED, BUILT)[0].endswith(
        "VL prompts this build's model lacks (--pretrained /m/p.safetensors)"
    )
