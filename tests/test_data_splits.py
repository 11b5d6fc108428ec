"""Dataset splits: no reference (train) image is ever a test image, for every dataset in the zoo; the papers'
datasets take their split and class names from CoOp's split files; a missing split file says where it goes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lgclip_core import data, zoo
from lgclip_core.errors import BadInputError, MissingAssetError

# What CoOp's DATASETS.md documents (typed here from CoOp, not read from the package): the folder under $DATA,
# the split file, and the folder the split's paths are relative to.
COOP_LAYOUT = {
    "flowers102": ("oxford_flowers", "split_zhou_OxfordFlowers.json", "jpg"),
    "oxford-pets": ("oxford_pets", "split_zhou_OxfordPets.json", "images"),
    "food101": ("food-101", "split_zhou_Food101.json", "images"),
    "eurosat": ("eurosat", "split_zhou_EuroSAT.json", "2750"),
}


def _save(path: Path, seed: int, size: tuple[int, int] = (24, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _coop_tree(root: Path, name: str, classnames: list[str], per: tuple[int, int, int] = (3, 1, 2),
               overlap: bool = False) -> Path:
    """A CoOp-format split file and its images, as CoOp's save_split writes them ([relpath, label, class])."""
    folder, split_file, image_dir = COOP_LAYOUT[name]
    base, split, k = root / folder, {}, 0
    for s, n in zip(("train", "val", "test"), per, strict=True):
        split[s] = []
        for y, c in enumerate(classnames):
            for _ in range(n):
                k += 1
                rel = f"{c.replace(' ', '_')}/{c.replace(' ', '_')}_{k}.jpg"
                _save(base / image_dir / rel, seed=k)
                split[s].append([rel, y, c])
    if overlap:
        split["test"].append(split["train"][0])
    (base / split_file).write_text(json.dumps(split))
    return base


def _cub_tree(root: Path) -> None:
    """CUB-200-2011's own files: images.txt, image_class_labels.txt, train_test_split.txt, classes.txt."""
    base = root / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    lines: dict[str, list[str]] = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": []}
    for i in range(1, 9):
        y = (i - 1) % 2
        rel = f"{classes[y]}/{classes[y].split('.')[1]}_{i:04d}_{i}.jpg"
        _save(base / "images" / rel, seed=100 + i)
        lines["images.txt"].append(f"{i} {rel}")
        lines["image_class_labels.txt"].append(f"{i} {y + 1}")
        lines["train_test_split.txt"].append(f"{i} {int(i <= 4)}")
    for f, rows in lines.items():
        (base / f).write_text("\n".join(rows) + "\n")
    (base / "classes.txt").write_text("".join(f"{j + 1} {c}\n" for j, c in enumerate(classes)))


def _imagenet_tree(root: Path) -> None:
    """CoOp's ImageNet layout: images/train and images/val by WordNet id, classnames.txt (CLIP's names)."""
    base = root / "imagenet"
    wnids = {"n01440764": "tench", "n01443537": "goldfish", "n01484850": "great white shark"}
    k = 0
    for split, n in (("train", 3), ("val", 2)):
        for w in wnids:
            for _ in range(n):
                k += 1
                _save(base / "images" / split / w / f"{w}_{k}.JPEG", seed=200 + k)
    (base / "classnames.txt").write_text("".join(f"{w} {c}\n" for w, c in wnids.items()))


FakeTree = Callable[[Path], None]
FAKE_TREES: dict[str, FakeTree] = {
    **{n: (lambda root, n=n: _coop_tree(root, n, ["class a", "class b", "class c"])) for n in COOP_LAYOUT},
    "cub200": _cub_tree,
    "imagenet-val": _imagenet_tree,
}
NO_TREE = ("fashion-mnist", "digits", "tiny-shapes", "synthetic-coop")  # need no files but what the package has


def _load_both(name: str, tmp_path: Path) -> tuple[data.ImageDataset, data.ImageDataset]:
    kw: dict = {}
    if name in FAKE_TREES:
        FAKE_TREES[name](tmp_path)
        kw = {"root": str(tmp_path)}
    backend = zoo.resolve("dataset", name)
    try:
        return backend.load(split="train", **kw), backend.load(split="test", **kw)
    except MissingAssetError as exc:
        if name != "fashion-mnist":  # the only one that reads an installed package
            raise
        pytest.skip(str(exc))


def _hashes(ds: data.ImageDataset) -> set[str]:
    return {hashlib.sha256(np.ascontiguousarray(im).tobytes()).hexdigest() for im in ds.images}


def test_every_zoo_dataset_has_a_split_test() -> None:
    """A new dataset backend must join the disjointness test below."""
    assert set(zoo.BACKENDS["dataset"]) == set(FAKE_TREES) | set(NO_TREE)


@pytest.mark.parametrize("name", sorted(set(FAKE_TREES) | set(NO_TREE)))
def test_no_reference_image_is_a_test_image(name: str, tmp_path: Path) -> None:
    train, test = _load_both(name, tmp_path)
    assert (train.split, test.split) == ("train", "test")
    assert len(train) > 0 and len(test) > 0
    assert train.classnames == test.classnames
    h_train, h_test = _hashes(train), _hashes(test)
    assert len(h_train) == len(train) and len(h_test) == len(test), "duplicate images inside a split"
    assert not h_train & h_test, f"{len(h_train & h_test)} training images are also test images"
    if isinstance(test.images, data.ImageFiles):
        p_train = {str(Path(p).resolve()) for p in train.images.paths}
        assert not p_train & {str(Path(p).resolve()) for p in test.images.paths}


def test_a_split_file_that_mixes_train_and_test_is_refused(tmp_path: Path) -> None:
    _coop_tree(tmp_path, "oxford-pets", ["abyssinian", "beagle"], overlap=True)
    with pytest.raises(BadInputError, match="also training"):
        data.load_coop_dataset("oxford-pets", "train", root=tmp_path)


@pytest.mark.parametrize("name", sorted(COOP_LAYOUT))
def test_missing_split_file_is_one_line_naming_the_file(name: str, tmp_path: Path) -> None:
    folder, split_file, _ = COOP_LAYOUT[name]
    with pytest.raises(MissingAssetError) as e:
        data.load_coop_dataset(name, "test", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / folder / split_file) in msg
    assert "KaiyangZhou/CoOp/blob/main/DATASETS.md" in msg


def test_missing_cub_and_imagenet_name_their_files(tmp_path: Path) -> None:
    with pytest.raises(MissingAssetError) as e:
        data.load_coop_dataset("cub200", "test", root=tmp_path)
    assert str(tmp_path / "CUB_200_2011" / "train_test_split.txt") in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(MissingAssetError) as e:
        data.load_coop_dataset("imagenet-val", "test", root=tmp_path)
    assert str(tmp_path / "imagenet" / "images" / "val") in str(e.value) and "DATASETS.md" in str(e.value)


def test_class_names_and_labels_come_from_the_split_file(tmp_path: Path) -> None:
    """CoOp's EuroSAT split file says 'Sea or Lake' (its folder is SeaLake); labels follow the file, not the
    alphabet; underscores (Food-101, Pets) become spaces as in the authors' change_form."""
    names = ["Sea or Lake", "Annual Crop Land", "apple_pie"]
    _coop_tree(tmp_path, "eurosat", names)
    test = data.load_coop_dataset("eurosat", "test", root=tmp_path)
    assert test.classnames == ["Sea or Lake", "Annual Crop Land", "apple pie"]
    assert test.prompt_names == test.classnames
    split = json.loads((tmp_path / "eurosat" / "split_zhou_EuroSAT.json").read_text())
    assert test.labels.tolist() == [y for _, y, _ in split["test"]]
    assert [Path(p).relative_to(tmp_path / "eurosat" / "2750").as_posix() for p in test.images.paths] == \
        [p for p, _, _ in split["test"]]
    assert "split_zhou_EuroSAT.json" in test.protocol and "6 images" in test.protocol


def test_cub_names_and_official_split(tmp_path: Path) -> None:
    _cub_tree(tmp_path)
    train, test = (data.load_coop_dataset("cub200", s, root=tmp_path) for s in ("train", "test"))
    assert train.classnames == ["Black footed Albatross", "Laysan Albatross"]
    assert (len(train), len(test)) == (4, 4)
    assert sorted(Path(p).name for p in train.images.paths)[0].endswith("_0001_1.jpg")
    with pytest.raises(BadInputError, match="no 'val' split"):
        data.load_coop_dataset("cub200", "val", root=tmp_path)


def test_imagenet_val_is_the_test_set_with_clip_names(tmp_path: Path) -> None:
    _imagenet_tree(tmp_path)
    test = data.load_coop_dataset("imagenet-val", "test", root=tmp_path)
    assert test.classnames == ["tench", "goldfish", "great white shark"]
    assert len(test) == 6 and all("/images/val/" in p for p in test.images.paths)
    (tmp_path / "imagenet" / "classnames.txt").unlink()  # without CoOp's file: CLIP's 1000 names need 1000 folders
    with pytest.raises(MissingAssetError, match="classnames.txt"):
        data.load_coop_dataset("imagenet-val", "test", root=tmp_path)


def test_torchvision_download_folder_is_used_when_coop_folder_is_absent(tmp_path: Path) -> None:
    """A user whose images torchvision downloaded (oxford-iiit-pet/images) only adds CoOp's split file."""
    base = _coop_tree(tmp_path, "oxford-pets", ["abyssinian", "american_bulldog"])
    (tmp_path / "oxford-iiit-pet").mkdir()
    (base / "images").rename(tmp_path / "oxford-iiit-pet" / "images")
    test = data.load_coop_dataset("oxford-pets", "test", root=tmp_path)
    assert test.classnames == ["abyssinian", "american bulldog"]
    assert all("oxford-iiit-pet/images" in p for p in test.images.paths)
    assert test.images[0].shape == (24, 32, 3)


def test_max_images_draws_within_the_split(tmp_path: Path) -> None:
    _coop_tree(tmp_path, "food101", ["apple_pie", "baklava"], per=(5, 1, 4))
    full = data.load_coop_dataset("food101", "test", root=tmp_path)
    sub = data.load_coop_dataset("food101", "test", root=tmp_path, max_images=3)
    assert len(sub) == 3 and set(sub.images.paths) <= set(full.images.paths)
    assert "3 drawn with seed 0" in sub.protocol and "8 images" in sub.protocol
    strat = full.stratified(1, seed=0)  # what the experiments do: still decoded on use
    assert isinstance(strat.images, data.ImageFiles) and sorted(strat.labels.tolist()) == [0, 1]


def test_synthetic_coop_is_photo_sized_deterministic_and_in_coop_layout(tmp_path: Path) -> None:
    a = data.write_synthetic_coop(tmp_path / "a", n_classes=3, per_split={"train": 2, "val": 1, "test": 2}, seed=5)
    b = data.write_synthetic_coop(tmp_path / "b", n_classes=3, per_split={"train": 2, "val": 1, "test": 2}, seed=5)
    split = json.loads((a / "split_zhou_SyntheticCoop.json").read_text())
    assert {s: len(v) for s, v in split.items()} == {"train": 6, "val": 3, "test": 6}
    assert split == json.loads((b / "split_zhou_SyntheticCoop.json").read_text())
    assert all((a / "images" / p).read_bytes() == (b / "images" / p).read_bytes() for p, _, _ in split["test"])
    test = data.load_coop_dataset("synthetic-coop", "test", root=tmp_path / "a")
    assert test.classnames == ["red circle", "green square", "blue triangle"]
    shapes = {im.shape for im in test.images}
    assert all(h != w and min(h, w) >= 333 and c == 3 for h, w, c in shapes)


def test_synthetic_coop_through_the_zoo_writes_itself_once() -> None:
    first = zoo.resolve("dataset", "synthetic-coop").load(split="test")
    again = zoo.resolve("dataset", "synthetic-coop").load(split="test")
    assert first.images.paths == again.images.paths and zoo.resolve("dataset", "synthetic-coop").source == "tiny"
    assert len(first.classnames) == data.SYNTHETIC_DEFAULTS["n_classes"]
    with pytest.raises(BadInputError, match="options of synthetic-coop"):
        data.load_coop_dataset("eurosat", "test", n_classes=3)


def test_the_authors_copy_of_the_split_file_is_read(tmp_path: Path) -> None:
    """The LGCLIP authors keep CoOp's file as split_<Name>.json (utils/myDataset.py): the same content."""
    base = _coop_tree(tmp_path, "flowers102", ["pink primrose", "hard-leaved pocket orchid"])
    (base / "split_zhou_OxfordFlowers.json").rename(base / "split_OxfordFlowers.json")
    test = data.load_coop_dataset("flowers102", "test", root=tmp_path)
    assert "oxford_flowers/split_OxfordFlowers.json" in test.protocol
    assert test.classnames == ["pink primrose", "hard-leaved pocket orchid"]


def test_missing_image_files_are_counted_and_named(tmp_path: Path) -> None:
    _cub_tree(tmp_path)
    gone = next((tmp_path / "CUB_200_2011" / "images").rglob("*_0006_6.jpg"))
    gone.unlink()
    with pytest.raises(MissingAssetError, match=r"1 of 4 files are missing, e\.g\. .*_0006_6\.jpg"):
        data.load_coop_dataset("cub200", "test", root=tmp_path)
    assert len(data.load_coop_dataset("cub200", "train", root=tmp_path)) == 4  # the other split is whole


def test_digits_split_is_the_committed_file_and_coop_shaped(tmp_path: Path) -> None:
    """The committed split is what ``write_digits_split`` writes (seed named in the file), every one of the
    1,797 digits is in exactly one split, each class is cut 50/20/30 as CoOp's ``read_and_split_data`` does,
    and the split's class names are the loader's."""
    rewritten = data.write_digits_split(tmp_path / "split.json")
    assert json.loads(rewritten.read_text()) == json.loads(data.DIGITS_SPLIT.read_text())
    assert json.loads(data.DIGITS_SPLIT.read_text())["seed"] == data.DIGITS_SPLIT_SEED
    split = data.digits_split()
    ids = [int(p) for s in data.SPLITS for p, _, _ in split[s]]
    assert sorted(ids) == list(range(1797))
    for c, name in enumerate(data.DIGIT_CLASSES):
        n = {s: sum(1 for _, y, _ in split[s] if y == c) for s in data.SPLITS}
        total = sum(n.values())
        assert abs(n["train"] - 0.5 * total) <= 1 and abs(n["val"] - 0.2 * total) <= 1, (name, n)
        assert {cn for s in data.SPLITS for _, y, cn in split[s] if y == c} == {name}
    test = data.load_digits_dataset(split="test")
    assert test.images.shape == (540, 8, 8) and test.images.dtype == np.uint8 and test.images.max() == 255
    assert test.prompt_names[7] == "handwritten digit seven" and "not natural images" in test.protocol


def test_a_digits_split_that_does_not_match_the_data_names_the_fix(tmp_path: Path, monkeypatch) -> None:
    bad = json.loads(data.DIGITS_SPLIT.read_text())
    bad["test"][0][1] = (bad["test"][0][1] + 1) % 10  # a label the data does not have
    path = tmp_path / "split_zhou_Digits.json"
    path.write_text(json.dumps(bad))
    monkeypatch.setattr(data, "DIGITS_SPLIT", path)
    with pytest.raises(BadInputError, match="write_digits_split"):
        data.load_digits_dataset(split="test")
