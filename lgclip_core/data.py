"""Datasets: every loader returns an ``ImageDataset`` (uint8 images, labels, class names, split protocol).

Fashion-MNIST offline (Debian IDX files), the paper's six datasets with the authors' (CoOp's) splits
and class names, and procedural data for tests (tiny shapes; photo-sized images in CoOp's layout). The split
protocol is written down so that the same test images are used by every method in a run, and a train split never
shares an image with its test split (the real-image references are fit on train).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInputError, MissingAssetError, UnknownNameError
from .zoo import ASSETS

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
# Names a person (and an LLM) would use in a sentence; index-aligned with FASHION_MNIST_CLASSES.
FASHION_MNIST_PROMPT_NAMES = ["t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                              "bag", "ankle boot"]


@dataclass
class ImageDataset:
    """Images as a uint8 array (N,H,W[,3]), a list of arrays of any size or ``ImageFiles`` (decoded when
    indexed); labels (N,) int64."""

    name: str
    split: str
    images: np.ndarray | list[np.ndarray] | ImageFiles
    labels: np.ndarray
    classnames: list[str]
    prompt_names: list[str] = field(default_factory=list)
    protocol: str = ""

    def __post_init__(self) -> None:
        if not self.prompt_names:
            self.prompt_names = list(self.classnames)
        if len(self.images) != len(self.labels):
            raise BadInputError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> ImageDataset:
        if isinstance(self.images, np.ndarray):
            imgs: Any = self.images[indices]
        elif isinstance(self.images, ImageFiles):
            imgs = self.images.take(indices)  # still decoded on use
        else:
            imgs = [self.images[i] for i in indices]
        return ImageDataset(self.name, self.split, imgs, self.labels[indices], self.classnames, self.prompt_names,
                            self.protocol)

    def stratified(self, n_per_class: int | None, seed: int = 0) -> ImageDataset:
        """The first ``n_per_class`` images of each class in a seeded permutation (None: all)."""
        return self if n_per_class is None else self.subset(self.stratified_indices(n_per_class, seed))

    def stratified_indices(self, n_per_class: int, seed: int = 0) -> np.ndarray:
        """The sorted indices ``stratified(n_per_class, seed)`` keeps."""
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.permutation(np.flatnonzero(self.labels == c))[:n_per_class]
                              for c in range(len(self.classnames))])
        return np.sort(idx)

    def unlabeled_indices(self, n: int, seed: int = 0, exclude: np.ndarray | None = None) -> np.ndarray:
        """``n`` indices drawn uniformly at random without looking at a label (seeded, sorted), none of
        ``exclude``: a pool of unlabelled images (its labels stay in the subset, for scoring only)."""
        pool = np.setdiff1d(np.arange(len(self)), np.asarray([] if exclude is None else exclude, dtype=np.int64))
        if n > len(pool):
            raise BadInputError(f"{n} unlabelled images asked for but {self.name} {self.split} has {len(pool)} "
                                "outside the excluded ones: ask for fewer")
        return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise BadInputError(f"{path} is not an unsigned-byte IDX file; point it at Fashion-MNIST's "
                            "*-ubyte(.gz) files (reinstall the fashion-mnist asset if they are damaged)")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_mnist_dir() -> Path:
    try:
        return ASSETS["fashion-mnist"].path()
    except MissingAssetError:
        # Real users with internet: torchvision downloads the same IDX files.
        root = Path(os.environ.get("LGCLIP_DATA", Path.home() / ".cache" / "lgclip" / "data"))
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
        except Exception as exc:  # no internet and no Debian package
            raise MissingAssetError("fashion-mnist", ASSETS["fashion-mnist"].install, str(exc)) from exc
        return root / "FashionMNIST" / "raw"


def load_fashion_mnist(name: str = "fashion-mnist", split: str = "test") -> ImageDataset:
    if split not in ("train", "test"):
        raise BadInputError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    d = _fashion_mnist_dir()
    prefix = "train" if split == "train" else "t10k"

    def find(kind: str) -> Path:
        for cand in (d / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz",
                     d / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"):
            if cand.exists():
                return cand
        raise MissingAssetError("fashion-mnist", ASSETS["fashion-mnist"].install, f"no {prefix} {kind} in {d}")

    images = _read_idx(find("images"))
    labels = _read_idx(find("labels")).astype(np.int64)
    return ImageDataset("fashion-mnist", split, images, labels, list(FASHION_MNIST_CLASSES),
                        list(FASHION_MNIST_PROMPT_NAMES),
                        protocol="official split: 60,000 train / 10,000 test (28x28 grey)")


# ------------------------------------------------------------------- the paper's datasets: CoOp's splits
# The LGCLIP authors (utils/myDataset.py) and CoOp (datasets/*.py) read fixed splits from CoOp's
# ``split_zhou_<Name>.json`` files: {"train"|"val"|"test": [[path relative to the image folder, label, class], ...]}.
# The split, the labels and the class names all come from that file; torchvision only fetches the images.
COOP_DOC = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"
CUB_URL = "https://data.caltech.edu/records/65de6-vp158"


@dataclass(frozen=True)
class CoopSpec:
    """Where one dataset lives under ``$LGCLIP_DATA``: CoOp's folder, its split file and its image folder."""

    folder: str  # folder under the data root (CoOp's name, so a CoOp ``$DATA`` tree works as is)
    split_file: str  # relative to the folder: what defines the split
    image_dir: str  # relative to the folder: where the split's relative paths start
    doc: str  # where the split file and the images are documented
    kind: str = "coop"  # coop (split_zhou json) | cub (CUB's own split files) | imagenet (train/ and val/ folders)
    torchvision: tuple[str, str] | None = None  # (class that downloads the images, their folder under the root)


COOP_SPECS: dict[str, CoopSpec] = {
    "flowers102": CoopSpec("oxford_flowers", "split_zhou_OxfordFlowers.json", "jpg", f"{COOP_DOC}#flowers102",
                           torchvision=("Flowers102", "flowers-102/jpg")),
    "oxford-pets": CoopSpec("oxford_pets", "split_zhou_OxfordPets.json", "images", f"{COOP_DOC}#oxfordpets",
                            torchvision=("OxfordIIITPet", "oxford-iiit-pet/images")),
    "food101": CoopSpec("food-101", "split_zhou_Food101.json", "images", f"{COOP_DOC}#food101",
                        torchvision=("Food101", "food-101/images")),
    "eurosat": CoopSpec("eurosat", "split_zhou_EuroSAT.json", "2750", f"{COOP_DOC}#eurosat",
                        torchvision=("EuroSAT", "eurosat/2750")),
    # Not in CoOp: the authors read CUB-200-2011's own files (official 5,994 / 5,794 split, classes.txt).
    "cub200": CoopSpec("CUB_200_2011", "train_test_split.txt", "images", CUB_URL, kind="cub"),
    # ImageNet has no split file: CoOp (and the authors) test on the validation set; CLIP's class names.
    "imagenet-val": CoopSpec("imagenet", "images/val", "images", f"{COOP_DOC}#imagenet", kind="imagenet"),
    # Procedural, photo-sized images in CoOp's layout (mechanics only; written into the cache on first use).
    "synthetic-coop": CoopSpec("synthetic-coop", "split_zhou_SyntheticCoop.json", "images",
                               "lgclip_core.data.write_synthetic_coop"),
}
SPLITS = ("train", "val", "test")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The datasets' root: ``root``, else ``$LGCLIP_DATA``, else ``~/.cache/lgclip/data``."""
    return Path(root or os.environ.get("LGCLIP_DATA") or Path.home() / ".cache" / "lgclip" / "data").expanduser()


class ImageFiles(Sequence):
    """Images decoded from files when indexed: a split of 30,000 photos is never held in memory at once."""

    def __init__(self, paths: list[str] | list[Path]):
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    @staticmethod
    def read(path: str) -> np.ndarray:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int | np.integer):
            return self.read(self.paths[index])
        if isinstance(index, slice):
            return [self.read(p) for p in self.paths[index]]
        return [self.read(self.paths[int(i)]) for i in index]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read(p) for p in self.paths)

    def take(self, indices: Any) -> ImageFiles:
        return ImageFiles([self.paths[int(i)] for i in indices])


Item = tuple[str, int, str]  # (path relative to the image folder, label, class name as the split file has it)


def _missing(name: str, what: str, path: Path, install: str) -> MissingAssetError:
    """One line: what is missing, the exact path expected, and how to get it."""
    return MissingAssetError(f"{name} {what}", install, f"{path} does not exist")


def _get_file(path: Path, doc: str) -> str:
    return f"download {path.name} (linked in {doc}) into {path.parent}/"


def _read_coop_json(name: str, path: Path) -> dict[str, list[Item]]:
    with open(path) as f:
        raw = json.load(f)
    if not isinstance(raw, dict) or not {"train", "test"} <= set(raw):
        raise BadInputError(f"{path} is not a CoOp split file: expected keys 'train', 'val', 'test'")
    try:
        return {s: [(str(p), int(y), str(c)) for p, y, c in raw.get(s, [])] for s in SPLITS}
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: every entry must be [relative path, label, class name] ({exc})") from exc


def _read_cub(base: Path) -> dict[str, list[Item]]:
    """CUB-200-2011's own files, as the authors read them: ids -> path, 1-based label, is_training_image."""
    def table(fname: str) -> dict[str, str]:
        p = base / fname
        if not p.exists():
            raise _missing("cub200", fname, p, f"extract CUB_200_2011.tgz ({CUB_URL}) into {base.parent}/")
        return dict(line.split(" ", 1) for line in p.read_text().split("\n") if line.strip())

    is_train, paths, labels, classes = (table(f) for f in ("train_test_split.txt", "images.txt",
                                                          "image_class_labels.txt", "classes.txt"))
    names = {int(k) - 1: re.sub(r"^\d+\.", "", v.strip()) for k, v in classes.items()}
    out: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for i, rel in paths.items():
        y = int(labels[i]) - 1
        out["train" if is_train[i].strip() == "1" else "test"].append((rel.strip(), y, names[y]))
    return out


def _read_imagenet(base: Path, split: str) -> tuple[list[Item], list[Item]]:
    """``images/train`` and ``images/val`` with one folder per WordNet id (CoOp's layout); val is the test set.
    Class names: CoOp's ``classnames.txt`` (CLIP's names) if present, else open_clip's copy of CLIP's list.
    Returns the split's items and one item per class (for the class names)."""
    if split == "val":
        raise BadInputError("imagenet-val has splits 'train' and 'test' (the validation images are the test set)")
    folder = base / "images" / ("val" if split == "test" else "train")
    if not folder.is_dir():
        raise _missing("imagenet-val", f"{split} images", folder,
                       f"put ImageNet's {folder.name} images in {folder}/<wnid>/ as {COOP_DOC}#imagenet describes")
    wnids = sorted(d.name for d in os.scandir(folder) if d.is_dir())
    if not wnids:
        raise BadInputError(f"{folder} has no class folders: sort the images into one folder per WordNet id, as "
                            f"{COOP_DOC}#imagenet describes")
    names_file = base / "classnames.txt"
    if names_file.exists():
        lines = [line.strip().split(" ", 1) for line in names_file.read_text().splitlines() if line.strip()]
        by_wnid = {w: n for w, n in lines}
        order = sorted(by_wnid)
        unknown = [w for w in wnids if w not in by_wnid]
        if unknown:
            raise BadInputError(f"{folder} has folders {unknown[:3]} that {names_file} does not list")
    else:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        if len(wnids) != len(IMAGENET_CLASSNAMES):
            raise _missing("imagenet-val", "classnames.txt", names_file, _get_file(names_file, COOP_DOC + "#imagenet"))
        by_wnid, order = dict(zip(wnids, IMAGENET_CLASSNAMES, strict=True)), wnids
    label = {w: i for i, w in enumerate(order)}
    items = [(f"{folder.name}/{w}/{f}", label[w], by_wnid[w])
             for w in wnids for f in sorted(os.listdir(folder / w)) if not f.startswith(".")]
    return items, [(w, label[w], by_wnid[w]) for w in order]


def _class_names(name: str, source: Path, items: list[Item]) -> list[str]:
    """Label -> class name from the split file; underscores become spaces (the authors' ``change_form``)."""
    names: dict[int, str] = {}
    for _, y, c in items:
        if names.setdefault(y, c) != c:
            raise BadInputError(f"{source}: label {y} is called both {names[y]!r} and {c!r}")
    if sorted(names) != list(range(len(names))):
        raise BadInputError(f"{source}: labels must be 0..K-1, got {sorted(names)[:5]}...")
    return [names[y].replace("_", " ") for y in range(len(names))]


def _image_folder(name: str, spec: CoopSpec, root: Path) -> Path:
    """The split's image folder; torchvision downloads the images where it can (the split stays CoOp's)."""
    own = root / spec.folder / spec.image_dir
    if own.is_dir() or spec.torchvision is None:
        return own
    cls_name, tv_dir = spec.torchvision
    if not (root / tv_dir).is_dir():
        try:
            import torchvision.datasets as tvd

            getattr(tvd, cls_name)(str(root), download=True)
        except Exception as exc:  # no internet
            raise MissingAssetError(f"{name} images", f"put the images in {own}/ as {spec.doc} describes",
                                    f"{own} does not exist and torchvision could not download them: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return root / tv_dir


def load_coop_dataset(name: str, split: str = "test", root: str | os.PathLike | None = None,
                      max_images: int | None = None, **synthetic: Any) -> ImageDataset:
    """One split of a paper dataset with the split, labels and class names of CoOp's split file.

    ``root`` defaults to ``$LGCLIP_DATA``; the file is ``<root>/<COOP_SPECS[name].folder>/<split_file>``.
    ``max_images`` draws a seeded subset (seed 0). Images are decoded when used (``ImageFiles``).
    ``synthetic-coop`` without a root writes itself into the cache on first use (``synthetic`` are
    ``write_synthetic_coop``'s options).
    """
    if name not in COOP_SPECS:
        raise UnknownNameError("CoOp dataset", name, list(COOP_SPECS))
    if split not in SPLITS:
        raise BadInputError(f"split must be one of {SPLITS}, got {split!r}")
    if synthetic and name != "synthetic-coop":
        raise BadInputError(f"{sorted(synthetic)} are options of synthetic-coop, not of {name}")
    spec = COOP_SPECS[name]
    if name == "synthetic-coop" and root is None:
        root = _cached_synthetic_coop(**synthetic)
    root = data_root(root)
    base = root / spec.folder
    source = base / spec.split_file
    rel_source = f"{spec.folder}/{spec.split_file}"
    if spec.kind == "imagenet":
        items, all_items = _read_imagenet(base, split)
        splits = {split: items}
        image_dir = base / spec.image_dir
        how = f"ImageNet {rel_source if split == 'test' else spec.folder + '/images/train'} (the validation set " \
              "is the test set, as in CoOp); CLIP's class names"
    else:
        if spec.kind == "cub":
            splits = _read_cub(base)
            how = f"CUB-200-2011's official split ({rel_source}), as the authors' utils/myDataset.py"
        else:
            authors_copy = base / spec.split_file.replace("split_zhou_", "split_")  # the authors' name for it
            if not source.exists() and authors_copy.exists():
                source, rel_source = authors_copy, f"{spec.folder}/{authors_copy.name}"
            if not source.exists():
                raise _missing(name, "split file", source, _get_file(source, spec.doc) if name != "synthetic-coop"
                               else f"run lgclip_core.data.write_synthetic_coop({str(root)!r})")
            splits = _read_coop_json(name, source)
            how = f"CoOp split file {rel_source}"
        if split == "val" and not splits["val"]:
            raise BadInputError(f"{rel_source} has no 'val' split; use 'train' or 'test'")
        all_items = [it for s in SPLITS for it in splits[s]]
        test_paths = {p for p, _, _ in splits["test"]}
        shared = [p for s in ("train", "val") for p, _, _ in splits[s] if p in test_paths]
        if shared:
            raise BadInputError(f"{source}: {len(shared)} test images are also training/validation images "
                                f"(e.g. {shared[0]}); a reference image must never be a test image")
        image_dir = _image_folder(name, spec, root) if spec.kind == "coop" else base / spec.image_dir
    classnames = _class_names(name, source, all_items)
    items = splits[split]
    idx = np.arange(len(items))
    if max_images is not None and max_images < len(items):
        idx = np.sort(np.random.default_rng(0).permutation(len(items))[:max_images])
    paths = [image_dir / items[i][0] for i in idx]
    absent = [] if spec.kind == "imagenet" else [p for p in paths if not p.exists()]  # ImageNet's were listed
    if absent:
        raise MissingAssetError(f"{name} images", f"put the images in {image_dir}/ as {spec.doc} describes",
                                f"{len(absent)} of {len(paths)} files are missing, e.g. {absent[0]}")
    drawn = f", {len(idx):,} drawn with seed 0" if len(idx) < len(items) else ""
    return ImageDataset(name, split, ImageFiles(paths), np.asarray([items[i][1] for i in idx], np.int64), classnames,
                        protocol=f"{how}: {split} split, {len(items):,} images{drawn}")


# ------------------------------------------------------------------------------- synthetic, CoOp layout
_SYN_SHAPES = ["circle", "square", "triangle", "star", "ring", "cross"]
_SYN_COLOURS = {"red": (215, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 215), "yellow": (235, 200, 30),
                "purple": (140, 50, 170), "orange": (240, 130, 20)}
_SYN_SIZES = [(375, 500), (500, 333), (333, 500), (500, 375)]  # (H, W): the sizes of typical Flickr photos
SYNTHETIC_DEFAULTS: dict[str, Any] = {"n_classes": 4, "per_split": {"train": 4, "val": 2, "test": 3}, "seed": 0}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_ ]+", name) if p)


def synthetic_classnames(n_classes: int) -> list[str]:
    """'red circle', 'green square', ...: every class a distinct (colour, shape) pair."""
    colours = list(_SYN_COLOURS)
    if not 1 <= n_classes <= len(colours) * len(_SYN_SHAPES):
        raise BadInputError(f"n_classes must be 1..{len(colours) * len(_SYN_SHAPES)}, got {n_classes}")
    return [f"{colours[(c + c // len(_SYN_SHAPES)) % len(colours)]} {_SYN_SHAPES[c % len(_SYN_SHAPES)]}"
            for c in range(n_classes)]


def _draw_synthetic(rng: np.random.Generator, classname: str) -> np.ndarray:
    """One photo-sized RGB image: a coloured shape on a random textured background."""
    from PIL import Image, ImageDraw

    h, w = _SYN_SIZES[int(rng.integers(len(_SYN_SIZES)))]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    c0, c1 = rng.integers(60, 200, (2, 3)).astype(np.float32)
    texture = int(rng.integers(4))
    if texture == 0:  # gradient
        t = (yy / h * np.cos(a := rng.uniform(0, np.pi)) + xx / w * np.sin(a))[..., None]
    elif texture == 1:  # stripes
        t = (np.sin((xx * np.cos(a := rng.uniform(0, np.pi)) + yy * np.sin(a)) / rng.uniform(6, 30)) > 0)[..., None]
    elif texture == 2:  # checker
        s = rng.integers(20, 80)
        t = (((xx // s) + (yy // s)) % 2)[..., None]
    else:  # smooth noise
        small = rng.random((h // 32 + 2, w // 32 + 2), dtype=np.float32)
        t = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))[..., None] / 255
    bg = c0 * (1 - t) + c1 * t + rng.normal(0, 6, (h, w, 3))
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    colour_name, shape = classname.split(" ")
    fill = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in _SYN_COLOURS[colour_name])
    r = rng.uniform(0.18, 0.32) * min(h, w)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    rot = rng.uniform(0, 2 * np.pi)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(3, int(r / 3)))
    elif shape == "cross":
        draw.line([cx - r, cy - r, cx + r, cy + r], fill=fill, width=max(3, int(r / 3)))
        draw.line([cx - r, cy + r, cx + r, cy - r], fill=fill, width=max(3, int(r / 3)))
    else:
        k = {"square": 4, "triangle": 3, "star": 10}[shape]
        radii = [r if shape != "star" or j % 2 == 0 else r * 0.45 for j in range(k)]
        draw.polygon([(cx + q * np.cos(rot + 2 * np.pi * j / k), cy + q * np.sin(rot + 2 * np.pi * j / k))
                      for j, q in enumerate(radii)], fill=fill)
    return np.asarray(img)


def write_synthetic_coop(root: str | os.PathLike, name: str = "synthetic-coop", n_classes: int = 4,
                         per_split: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write a dataset in CoOp's layout: ``<root>/<name>/images/<class>/<class>_<i>.jpg`` and
    ``<root>/<name>/split_zhou_<Name>.json``, with photo sizes (375x500, 500x333, ...). Deterministic in
    ``seed``; ``per_split`` is images per class and split. For mechanics at real resolutions, never results."""
    from PIL import Image

    per_split = {**SYNTHETIC_DEFAULTS["per_split"], **(per_split or {})}
    if set(per_split) - set(SPLITS) or any(int(n) < 0 for n in per_split.values()):
        raise BadInputError(f"per_split maps {SPLITS} to image counts >= 0, got {per_split}")
    base = Path(root) / name
    names = synthetic_classnames(n_classes)
    rng = np.random.default_rng(seed)
    split: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for y, cname in enumerate(names):
        folder = cname.replace(" ", "_")
        (base / "images" / folder).mkdir(parents=True, exist_ok=True)
        i = 0
        for s in SPLITS:  # one counter per class: a file's name does not tell its split
            for _ in range(int(per_split.get(s, 0))):
                i += 1
                rel = f"{folder}/{folder}_{i}.jpg"
                Image.fromarray(_draw_synthetic(rng, cname)).save(base / "images" / rel, quality=90)
                split[s].append((rel, y, folder))
    with open(base / f"split_zhou_{_camel(name)}.json", "w") as f:
        json.dump(split, f, indent=1)
    return base


def _cached_synthetic_coop(n_classes: int | None = None, per_split: dict[str, int] | None = None,
                           seed: int | None = None) -> Path:
    """The root holding ``synthetic-coop`` for these options, written once into the cache (atomically)."""
    from .cache import default_cache, stable_hash

    opts = {"n_classes": SYNTHETIC_DEFAULTS["n_classes"] if n_classes is None else n_classes,
            "per_split": {**SYNTHETIC_DEFAULTS["per_split"], **(per_split or {})},
            "seed": SYNTHETIC_DEFAULTS["seed"] if seed is None else seed, "version": 1}
    final = default_cache().root / "datasets" / f"synthetic-coop-{stable_hash(opts)}"
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-synthetic-coop-", dir=final.parent))
        try:
            write_synthetic_coop(tmp, "synthetic-coop", opts["n_classes"], opts["per_split"], opts["seed"])
            os.rename(tmp, final)  # atomic; another process may have won the race
        except OSError:
            if not final.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ------------------------------------------------------------------------------------------ tiny shapes
TINY_SHAPES = ["circle", "square", "triangle"]


def load_tiny_shapes(name: str = "tiny-shapes", split: str = "test", n_per_class: int = 8,
                     size: int = 32) -> ImageDataset:
    """Procedurally drawn white shapes on black, deterministic per split (mechanics tests only)."""
    rng = np.random.default_rng(0 if split == "test" else 1)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for c, shape in enumerate(TINY_SHAPES):
        for _ in range(n_per_class):
            cx, cy = rng.uniform(0.35, 0.65, 2) * size
            r = rng.uniform(0.2, 0.3) * size
            if shape == "circle":
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            elif shape == "square":
                m = (abs(xx - cx) < r) & (abs(yy - cy) < r)
            else:
                m = (yy - cy < r) & (yy - cy > -r) & (abs(xx - cx) < (yy - cy + r) / 2)
            images.append((m * 255).astype(np.uint8))
            labels.append(c)
    return ImageDataset(name, split, np.stack(images), np.asarray(labels, np.int64), list(TINY_SHAPES),
                        protocol="procedural, seed 0 (test) / 1 (train)")


# ------------------------------------------------------------------------------------ handwritten digits
# scikit-learn's ``load_digits``: 1,797 real handwritten digits (UCI "optical recognition of handwritten
# digits", 8x8 grey, values 0..16), shipped inside the scikit-learn wheel. Not natural images: a second real
# data set that needs no download, for the offline datasets x backbones grid.
DIGIT_CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_PROMPT_NAMES = [f"handwritten digit {c}" for c in DIGIT_CLASSES]
DIGITS_SPLIT = Path(__file__).resolve().parent / "assets" / "splits" / "split_zhou_Digits.json"
DIGITS_SPLIT_SEED = 2024
# CoOp's ``read_and_split_data`` proportions: per class, 50 % train, 20 % val, 30 % test
COOP_PROPORTIONS = (0.5, 0.2)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    return images, bunch.target.astype(np.int64)


def write_digits_split(path: str | os.PathLike = DIGITS_SPLIT, seed: int = DIGITS_SPLIT_SEED) -> Path:
    """Write the digits split in CoOp's ``split_zhou_*.json`` format: per class a seeded permutation cut
    50/20/30 into train/val/test (CoOp's proportions); the "path" of an item is its index in ``load_digits``."""
    _, labels = _digits_arrays()
    rng = np.random.default_rng(seed)
    split: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for c, name in enumerate(DIGIT_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train, n_val = round(len(idx) * COOP_PROPORTIONS[0]), round(len(idx) * COOP_PROPORTIONS[1])
        for s, part in zip(SPLITS, np.split(idx, [n_train, n_train + n_val]), strict=True):
            split[s] += [(str(int(i)), c, name) for i in sorted(part)]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({"seed": seed, **split}, indent=0))
    os.replace(tmp, out)
    return out


def digits_split() -> dict[str, list[Item]]:
    """The committed digits split (train / val / test items)."""
    return _read_coop_json("digits", DIGITS_SPLIT)


def load_digits_dataset(name: str = "digits", split: str = "test") -> ImageDataset:
    """One split of scikit-learn's handwritten digits: uint8 (N, 8, 8), the committed CoOp-format split."""
    if split not in SPLITS:
        raise BadInputError(f"digits split must be one of {SPLITS}, got {split!r}")
    images, labels = _digits_arrays()
    splits = digits_split()  # read once: the split's items and every split's size
    items = splits[split]
    idx = np.asarray([int(p) for p, _, _ in items], np.int64)
    if not np.array_equal(labels[idx], [y for _, y, _ in items]):
        raise BadInputError(f"{DIGITS_SPLIT} does not match this scikit-learn's load_digits labels: rewrite it "
                            "with lgclip_core.data.write_digits_split()")
    counts = {s: len(v) for s, v in splits.items()}
    return ImageDataset("digits", split, images[idx], labels[idx], list(DIGIT_CLASSES), list(DIGIT_PROMPT_NAMES),
                        protocol=f"scikit-learn load_digits (real handwritten digits, 8x8 grey, not natural images); "
                                 f"CoOp-format split {DIGITS_SPLIT.name} (seed {DIGITS_SPLIT_SEED}, 50/20/30 per "
                                 f"class: {counts['train']} train / {counts['val']} val / {counts['test']} test)")
