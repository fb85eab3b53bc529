"""Weights files never run code: a hostile pickle is refused wherever a path can name one, and what vidseek
itself writes (safetensors with a JSON header) and wrote before (torch pickles) still loads and resumes."""

from __future__ import annotations

import copy
import json
import pickle
import shutil

import pytest
import torch
from safetensors import safe_open

from models import PretrainedLoadError, UnsafeWeightsError, load_encoder
from models.checkpoints import FORMAT_VIDSEEK, FORMAT_VIFICLIP, read_training_state, read_weights, save_checkpoint
from models.finetune import FinetuneOptions, finetune
from models.registry import file_fingerprint, resolve
from tests.models.test_checkpoints import vificlip_layout
from tests.models.test_finetune import toy_set
from tests.test_cli import vidseek


class RunsCode:
    """Unpickling this calls ``exec``: it writes ``marker``, as any hostile pickle could do anything else."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('the pickle ran code')",)


def hostile_file(tmp_path, tiny_model, kind: str):
    """A plausible weights file (a state dict of real tensors) that also holds a :class:`RunsCode`."""
    payload = {"state_dict": dict(tiny_model.state_dict()), "hook": RunsCode(tmp_path / "marker")}
    path = tmp_path / f"weights-{kind}.pt"
    if kind == "torch.save":
        torch.save(payload, path)
    elif kind == "legacy":  # torch's format before 1.6
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:  # a bare pickle
        path.write_bytes(pickle.dumps(payload))
    return path


READERS = {
    "read_weights": read_weights,
    "read_training_state": read_training_state,  # finetune --resume
    "load_encoder": lambda path: load_encoder("vidseek-tiny", str(path), "cpu", base="none"),  # --pretrained
}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the bare pickle (protocol 4)
@pytest.mark.parametrize("kind", ["torch.save", "legacy", "pickle"])
@pytest.mark.parametrize("reader", READERS)
def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, _tiny_encoder, kind, reader):
    path = hostile_file(tmp_path, _tiny_encoder.model, kind)
    with pytest.raises(PretrainedLoadError, match=f"{path}.*tensors and plain data") as refused:
        READERS[reader](path)
    assert not (tmp_path / "marker").exists()
    if kind != "pickle":  # a torch file: the message names what would have been called
        assert isinstance(refused.value, UnsafeWeightsError) and "would call builtins.exec" in str(refused.value)
    assert "weights_only=False" not in str(refused.value)  # never advise the unsafe way round


@pytest.fixture()
def index_naming_a_hostile_file(built_index, tmp_path, _tiny_encoder):
    """A copy of a real index whose manifest names a hostile pickle as its ``pretrained`` weights (with the
    pickle's own fingerprint, so nothing but the pickle's contents stands between it and the server)."""
    from indexer.index_dir.layout import current_generation

    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    weights = hostile_file(tmp_path, _tiny_encoder.model, "torch.save")
    manifest_path = current_generation(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["pretrained"] = str(weights)
    manifest["weights_fingerprint"] = file_fingerprint(weights)
    manifest_path.write_text(json.dumps(manifest))
    return index_dir, weights


def test_the_server_refuses_a_manifest_naming_a_hostile_pickle(index_naming_a_hostile_file, tmp_path):
    from app.services import VidseekService
    from app.settings import Settings

    index_dir, weights = index_naming_a_hostile_file
    with pytest.raises(UnsafeWeightsError, match=f"refusing to load {weights}"):
        VidseekService(Settings(index_dir=index_dir))
    assert not (tmp_path / "marker").exists()


def test_vidseek_search_refuses_a_manifest_naming_a_hostile_pickle(index_naming_a_hostile_file, tmp_path):
    index_dir, weights = index_naming_a_hostile_file
    result = vidseek("search", "red", "--index-dir", index_dir, check=False)
    assert result.returncode == 2 and f"refusing to load {weights}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "marker").exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, yet OpenAI's files are TorchScript
def test_a_torchscript_archive_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "ViT-B-32.pt"  # OpenAI's original CLIP files are TorchScript
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(PretrainedLoadError, match="TorchScript archive.*--pretrained openai"):
        read_weights(path)


def test_model_inspect_shows_a_released_vificlip_checkpoints_config(tmp_path, _tiny_encoder):
    """A checkpoint as ViFi-CLIP's utils/tools.py saves it (its yacs config included) still loads and inspects."""
    path = tmp_path / "vifi_clip_10_epochs_k400_full_finetune.pth"
    torch.save(vificlip_layout(_tiny_encoder.model), path)
    out = vidseek("model", "inspect", path, "--model", "vidseek-tiny").stdout
    for line in ("format:      vifi-clip", "epoch:       9", "max_accuracy: 83.9", "arch:        ViT-B/16", "frames:      16"):
        assert line in out, line
    assert "dataset:     kinetics400" in out and "fits:        vidseek-tiny" in out


def test_reading_a_vificlip_checkpoint_leaves_torchs_allow_list_alone(tmp_path, _tiny_encoder):
    """The yacs stand-in is allowed only while vidseek reads a file, so no other torch.load is widened."""
    path = tmp_path / "vifi.pth"
    torch.save(vificlip_layout(_tiny_encoder.model), path)
    before = set(torch.serialization.get_safe_globals())
    assert read_weights(path).format == FORMAT_VIFICLIP
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(pickle.UnpicklingError, match="yacs.config.CfgNode"):
        torch.load(path, weights_only=True)


def test_finetune_checkpoints_are_safetensors_with_a_json_header(tmp_path, tiny_encoder):
    parameters = [p for p in tiny_encoder.model.parameters()][:2]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, betas=(0.9, 0.98))
    sum(p.sum() for p in parameters).backward()
    optimizer.step()
    preprocess = {"resize": 73, "crop": 64, "mean": [0.5] * 3, "std": [0.25] * 3, "interpolation": "bicubic"}
    path = tmp_path / "finetuned.pt"  # the name the user chose; the contents are safetensors
    save_checkpoint(path, tiny_encoder.model, optimizer=optimizer.state_dict(), preprocess=preprocess, epoch=3, scaler=None)

    with safe_open(str(path), framework="pt") as f:  # readable by any safetensors reader, no pickle involved
        header = f.metadata()
        names = set(f.keys())
    assert header["format"] == FORMAT_VIDSEEK
    assert json.loads(header["preprocess"]) == preprocess and json.loads(header["epoch"]) == 3
    assert set(tiny_encoder.model.state_dict()) <= names  # the weights under their open_clip names
    assert {"optimizer/state/0/exp_avg", "optimizer/state/1/exp_avg_sq"} <= names

    weights = read_weights(path)
    assert weights.format == FORMAT_VIDSEEK and weights.preprocess == preprocess and weights.meta["epoch"] == 3
    assert set(weights.state) == set(tiny_encoder.model.state_dict())  # the optimizer's tensors are not weights
    state = read_training_state(path)
    saved = optimizer.state_dict()
    assert state["optimizer"]["param_groups"] == saved["param_groups"]  # int parameter ids and tuple betas kept
    assert state["optimizer"]["state"].keys() == saved["state"].keys()
    for index, moments in saved["state"].items():
        for name, value in moments.items():
            assert torch.equal(state["optimizer"]["state"][index][name], value), (index, name)
    assert state["scaler"] is None and state["epoch"] == 3


def write_previous_checkpoint(path, weights, **extra):
    """A checkpoint as vidseek's save_checkpoint wrote it before safetensors: a torch pickle."""
    torch.save({"format": FORMAT_VIDSEEK, "model": weights, **extra}, path)


def test_a_previous_checkpoint_still_loads_with_its_fingerprint_and_resumes(tmp_path, _tiny_encoder):
    clips, texts = toy_set(seed=3)
    options = FinetuneOptions(epochs=2, batch_size=4, lr=1e-3)
    straight = copy.deepcopy(_tiny_encoder)
    finetune(straight, clips, texts, options, tmp_path / "straight.pt")

    def stop_in_epoch_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        finetune(copy.deepcopy(_tiny_encoder), clips, texts, options, tmp_path / "new.pt", on_epoch=stop_in_epoch_two)
    state = read_training_state(tmp_path / "new.pt")  # after epoch 1 (epoch 2 was interrupted before saving)
    old = tmp_path / "old.pt"
    write_previous_checkpoint(old, state["model"], **{k: v for k, v in state.items() if k not in ("format", "model")})

    fingerprint = file_fingerprint(old)  # what an index built with this file recorded
    loaded = load_encoder("vidseek-tiny", str(old), "cpu")
    assert loaded.spec.fingerprint == resolve("vidseek-tiny", str(old)).fingerprint == fingerprint
    assert read_weights(old).format == FORMAT_VIDSEEK
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in state["model"].items())

    resumed = copy.deepcopy(_tiny_encoder)
    history = finetune(resumed, clips, texts, options, old, resume=True)  # the old run's second epoch
    assert [h["epoch"] for h in history] == [1, 2]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-5, atol=1e-6)
