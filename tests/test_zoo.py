"""The zoo: names resolve per profile, errors list what exists, missing assets name the fix, loads are shared."""

from __future__ import annotations

import importlib

import pytest

from lgclip_core import zoo
from lgclip_core.errors import MissingAssetError, UnknownNameError


def test_unknown_role_lists_roles() -> None:
    with pytest.raises(UnknownNameError) as e:
        zoo.resolve("painter")
    msg = str(e.value)
    assert "'painter'" in msg and all(r in msg for r in zoo.ROLES)
    assert isinstance(e.value, KeyError)


def test_unknown_name_lists_registered_names() -> None:
    with pytest.raises(UnknownNameError) as e:
        zoo.load("image_encoder", "resnet-9000")
    msg = str(e.value)
    assert "resnet-9000" in msg and "efficientnet-lite0" in msg and "clip-vit-b-32" in msg
    assert sorted(e.value.known) == sorted(zoo.BACKENDS["image_encoder"])


def test_unknown_profile_lists_profiles() -> None:
    with pytest.raises(UnknownNameError, match="offline, paper, paper-shapes, tiny"):
        zoo.resolve("generator", profile="fast")


def test_profiles_and_listing_are_consistent() -> None:
    for profile, roles in zoo.PROFILES.items():
        assert set(roles) == set(zoo.ROLES), profile
        for role in zoo.ROLES:
            assert zoo.resolve(role, profile=profile).name == roles[role]
    assert zoo.list_backends("dataset") == {"dataset": sorted(zoo.BACKENDS["dataset"])}
    with pytest.raises(UnknownNameError):
        zoo.list_backends("nope")


def test_every_loader_exists() -> None:
    """A typo in a loader string would only surface when a user picks that backend."""
    for role in zoo.ROLES:
        for backend in zoo.BACKENDS[role].values():
            module, func = backend.loader.split(":")
            assert callable(getattr(importlib.import_module(f"lgclip_core.{module}"), func)), backend


def test_missing_module_names_install_command() -> None:
    asset = zoo.OfflineAsset("ghost-model", "pip install --no-deps ghost-model==1.0", "lgclip_no_such_module_xyz",
                             "weights.bin")
    with pytest.raises(MissingAssetError) as e:
        asset.path()
    assert "pip install --no-deps ghost-model==1.0" in str(e.value) and e.value.install.startswith("pip install")
    assert "ghost-model" in str(e.value)


def test_missing_file_in_installed_package() -> None:
    asset = zoo.OfflineAsset("ghost-file", "pip install ghost", "lgclip_core", "no/such/file.bin")
    with pytest.raises(MissingAssetError, match="pip install ghost"):
        asset.path()


def test_missing_debian_dataset_via_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("LGCLIP_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(MissingAssetError, match="apt-get install dataset-fashion-mnist"):
        zoo.asset_path("fashion-mnist")


def test_unknown_asset() -> None:
    with pytest.raises(UnknownNameError, match="smollm2-135m-instruct"):
        zoo.asset_path("gpt-7")


def test_heavy_models_load_once() -> None:
    a = zoo.load("image_encoder", "tiny-clip")
    b = zoo.load("image_encoder", "tiny-clip", profile="tiny")
    assert a is b
    w1 = zoo.load("prompt_writer", "template")
    assert zoo.load("prompt_writer", "template") is w1
    assert zoo.load("prompt_writer", "template", template="a {}") is not w1  # other arguments, other object
    zoo.clear_loaded()
    assert zoo.load("prompt_writer", "template") is not w1


def test_backends_say_which_overrides_their_loader_takes() -> None:
    from lgclip_core.errors import BadInputError
    from lgclip_core.experiments.lgclip import LGCLIPConfig, _load_encoder

    assert zoo.resolve("image_encoder", "efficientnet-lite0").accepts("input_size")
    assert zoo.resolve("image_encoder", "efficientnet-lite0").accepts("precision")
    assert not zoo.resolve("image_encoder", "tiny-clip", "tiny").accepts("input_size")  # a fixed-size CLIP tower
    assert not zoo.resolve("generator", None, "offline").accepts("sampling")  # only Stable Diffusion takes it
    with pytest.raises(BadInputError, match="fixed input size"):
        _load_encoder(LGCLIPConfig(profile="tiny", input_size=64))


def test_keep_freed_memory_applies_on_glibc_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    from lgclip_core.zoo import keep_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert keep_freed_memory.__wrapped__() is True
    monkeypatch.setenv("LGCLIP_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory.__wrapped__() is False


def test_each_offline_dataset_gets_the_generator_trained_on_it() -> None:
    """The offline profile renders a data set's classes with the generator trained on that data set's train
    split; the card of each committed generator says which data it saw."""
    import json

    assert zoo.generator_for("offline") == "lgclip-fmnist-ddpm"
    assert zoo.generator_for("offline", "digits") == "lgclip-digits-ddpm"
    assert zoo.generator_for("paper", "digits") == zoo.PROFILES["paper"]["generator"]
    for dataset, name in zoo.OFFLINE_GENERATORS.items():
        backend = zoo.resolve("generator", name)
        card = json.loads((zoo.ASSETS[backend.kwargs["asset"]].path(verify=False) / "lgclip_generator.json")
                          .read_text())
        assert card.get("dataset", "fashion-mnist") == dataset
        title = {"fashion-mnist": "Fashion-MNIST", "digits": "handwritten digits"}[dataset]
        assert card["training"]["data"].startswith(title)
    with pytest.raises(UnknownNameError, match="offline"):
        zoo.generator_for("no-such-profile")


def test_native_input_sizes_are_the_backbones_own() -> None:
    """``NATIVE_INPUT_SIZE`` is the resolution timm's config says each EfficientNet-Lite was trained at."""
    import timm

    for name, size in zoo.NATIVE_INPUT_SIZE.items():
        variant = name.removeprefix("efficientnet-lite")
        cfg = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False).pretrained_cfg
        assert cfg["input_size"][-1] == size, name
