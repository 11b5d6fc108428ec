"""Datasets: Fashion-MNIST offline (Debian IDX files), the paper's six datasets for hub users, tiny shapes for
tests. Every loader returns an ``ImageDataset`` with uint8 images, int labels, class names and a written-down
split protocol, so that the same test images are used by every method in a run.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BadInputError, MissingAssetError
from .zoo import ASSETS

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
# Names a person (and an LLM) would use in a sentence; index-aligned with FASHION_MNIST_CLASSES.
FASHION_MNIST_PROMPT_NAMES = ["t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                              "bag", "ankle boot"]


@dataclass
class ImageDataset:
    """Images as a uint8 array (N,H,W[,3]) or a list of arrays of any size; labels (N,) int64."""

    name: str
    split: str
    images: np.ndarray | list[np.ndarray]
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
        imgs = self.images[indices] if isinstance(self.images, np.ndarray) else [self.images[i] for i in indices]
        return ImageDataset(self.name, self.split, imgs, self.labels[indices], self.classnames, self.prompt_names,
                            self.protocol)

    def stratified(self, n_per_class: int | None, seed: int = 0) -> ImageDataset:
        """The first ``n_per_class`` images of each class in a seeded permutation (None: all)."""
        if n_per_class is None:
            return self
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.permutation(np.flatnonzero(self.labels == c))[:n_per_class]
                              for c in range(len(self.classnames))])
        return self.subset(np.sort(idx))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
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


# ----------------------------------------------------------------------------------- the paper's datasets
_TORCHVISION = {
    # name: (class, kwargs for the test split, protocol)
    "flowers102": ("Flowers102", {"split": "test"}, "torchvision Flowers102 official test split (6,149 images)"),
    "oxford-pets": ("OxfordIIITPet", {"split": "test"}, "torchvision OxfordIIITPet official test split (3,669)"),
    "food101": ("Food101", {"split": "test"}, "torchvision Food101 official test split (25,250)"),
    "eurosat": ("EuroSAT", {}, "torchvision EuroSAT RGB (27,000); test = a seeded 20% stratified split, seed 0"),
}


def load_torchvision_dataset(name: str, split: str = "test", root: str | None = None,
                             max_images: int | None = None) -> ImageDataset:
    import torchvision.datasets as tvd

    cls_name, kwargs, protocol = _TORCHVISION[name]
    root = root or os.environ.get("LGCLIP_DATA", str(Path.home() / ".cache" / "lgclip" / "data"))
    ds = getattr(tvd, cls_name)(root, download=True, **kwargs)
    classes = [c.replace("_", " ") for c in getattr(ds, "classes", [])]
    n = len(ds)
    idx = np.arange(n)
    if name == "eurosat":
        labels_all = np.asarray(ds.targets)
        rng = np.random.default_rng(0)
        idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels_all == c))[: int(0.2 * (labels_all == c)
                                      .sum())] for c in range(len(classes))]))
    if max_images:
        idx = idx[np.random.default_rng(0).permutation(len(idx))[:max_images]]
    images, labels = [], []
    for i in idx:
        img, y = ds[int(i)]
        images.append(np.asarray(img.convert("RGB")))
        labels.append(int(y))
    return ImageDataset(name, split, images, np.asarray(labels, np.int64), classes, protocol=protocol)


def load_folder_dataset(name: str, split: str = "test", root: str | None = None,
                        max_images: int | None = None) -> ImageDataset:
    """CUB-200 / ImageNet-val laid out as ImageFolder trees under ``$LGCLIP_DATA/<name>/<class>/*.jpg``."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    root_dir = Path(root or os.environ.get("LGCLIP_DATA", Path.home() / ".cache" / "lgclip" / "data")) / name
    if not root_dir.exists():
        raise MissingAssetError(name, f"place the {name} test images as {root_dir}/<class name>/<image> "
                                "(see the book's 'How to run' page)")
    ds = ImageFolder(str(root_dir))
    idx = np.arange(len(ds))
    if max_images:
        idx = idx[np.random.default_rng(0).permutation(len(idx))[:max_images]]
    images = [np.asarray(Image.open(ds.samples[i][0]).convert("RGB")) for i in idx]
    labels = np.asarray([ds.samples[i][1] for i in idx], np.int64)
    classes = [c.split(".", 1)[-1].replace("_", " ") for c in ds.classes]
    return ImageDataset(name, split, images, labels, classes, protocol=f"all images under {root_dir}")


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
