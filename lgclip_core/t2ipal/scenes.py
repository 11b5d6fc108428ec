"""Multi-label scenes: the offline benchmark's compositor, and loaders for the paper's multi-label datasets.

Offline there is no multi-label photo collection, so the benchmark builds one from Fashion-MNIST: a canvas of
``grid x grid`` cells (2 x 2 cells of 28 px = 56 x 56) holds 1..4 items of *distinct* classes, one per cell;
the target of a scene is the set of classes on it (multi-hot). Everything is a function of the seed:
the number of items, their classes, the cells and (for real items) which image of the class is used.
Evaluation scenes take their items from the TEST split only (``make_test_scenes`` refuses any other split);
training scenes are composed from *generated* renders (``compose_scenes``), so no real image is used for
training. The paper's own data (VOC2007, MS-COCO, NUS-WIDE) load through ``load_voc2007``, ``load_coco`` and
``load_nus_wide`` into the same ``MultiLabelSet``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import ImageDataset
from ..errors import BadInputError, MissingAssetError, check_class_names

__all__ = ["MultiLabelSet", "write_voc2007_standin", "sample_layouts", "compose", "compose_scenes", "make_test_scenes",
           "to_grey", "load_voc2007", "load_coco", "load_nus_wide", "load_multilabel", "VOC_CLASSES", "data_root"]


@dataclass
class MultiLabelSet:
    """Images (uint8 array or list of arrays) with multi-hot ``targets`` (N, C) in {0, 1} (-1 = ignore).

    ``items`` (scenes only): per image, a list of ``(class index, source index, cell)`` — what was placed
    where, so a scene can be traced back to the exact test image (or render) it shows.
    """

    name: str
    images: np.ndarray | list[np.ndarray]
    targets: np.ndarray
    classnames: list[str]
    protocol: str = ""
    items: list[list[tuple[int, int, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        if self.targets.ndim != 2 or self.targets.shape[1] != len(self.classnames):
            raise BadInputError(f"targets must be (N, {len(self.classnames)}), got {self.targets.shape}")
        if len(self.images) != len(self.targets):
            raise BadInputError(f"{len(self.images)} images but {len(self.targets)} target rows")

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, indices: Sequence[int]) -> MultiLabelSet:
        idx = np.asarray(indices, dtype=np.int64)
        imgs = self.images[idx] if isinstance(self.images, np.ndarray) else [self.images[i] for i in idx]
        items = [self.items[i] for i in idx] if self.items else []
        return MultiLabelSet(self.name, imgs, self.targets[idx], self.classnames, self.protocol, items)


# ------------------------------------------------------------------------------------------- compositor
def to_grey(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) or (N, H, W) uint8 -> (N, H, W) uint8 (channel mean; renders are grey already)."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise BadInputError(f"images must be uint8, got {x.dtype}")
    if x.ndim == 4:
        return np.round(x.astype(np.float32).mean(-1)).astype(np.uint8)
    if x.ndim == 3:
        return x
    raise BadInputError(f"images must be (N, H, W) or (N, H, W, 3), got shape {x.shape}")


def sample_layouts(n_scenes: int, n_classes: int, seed: int, grid: int = 2, min_items: int = 1,
                   max_items: int = 4) -> list[tuple[list[int], list[int]]]:
    """``n_scenes`` x (distinct classes, distinct cells), the item count uniform in min..max_items."""
    if not 1 <= min_items <= max_items <= min(grid * grid, n_classes):
        raise BadInputError(f"need 1 <= min_items <= max_items <= min(grid*grid={grid * grid}, classes="
                            f"{n_classes}), got {min_items}..{max_items}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_scenes):
        k = int(rng.integers(min_items, max_items + 1))
        classes = sorted(int(c) for c in rng.choice(n_classes, size=k, replace=False))
        cells = [int(c) for c in rng.choice(grid * grid, size=k, replace=False)]
        out.append((classes, cells))
    return out


def compose(items: np.ndarray, cells: Sequence[int], grid: int = 2) -> np.ndarray:
    """Place ``items`` (k, h, w) uint8 into the given cells of a black ``grid*h x grid*w`` canvas."""
    items = to_grey(np.asarray(items))
    k, h, w = items.shape
    if k != len(cells) or len(set(cells)) != k or not all(0 <= c < grid * grid for c in cells):
        raise BadInputError(f"need {k} distinct cells in 0..{grid * grid - 1}, got {list(cells)}")
    canvas = np.zeros((grid * h, grid * w), np.uint8)
    for img, cell in zip(items, cells, strict=True):
        r, c = divmod(int(cell), grid)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return canvas


def make_test_scenes(dataset: ImageDataset, n_scenes: int, seed: int, grid: int = 2, min_items: int = 1,
                     max_items: int = 4) -> MultiLabelSet:
    """Evaluation scenes from the items of a TEST split (raises on any other split: no training leakage)."""
    if dataset.split != "test":
        raise BadInputError(f"evaluation scenes must be built from the test split, got split {dataset.split!r}; "
                            "load it with zoo.load('dataset', split='test')")
    names = check_class_names(dataset.prompt_names)
    images = to_grey(np.asarray(dataset.images))
    by_class = [np.flatnonzero(dataset.labels == c) for c in range(len(names))]
    empty = [names[c] for c, ix in enumerate(by_class) if len(ix) == 0]
    if empty:
        raise BadInputError(f"classes {empty} have no test image; scenes need every class")
    layouts = sample_layouts(n_scenes, len(names), seed, grid, min_items, max_items)
    rng = np.random.default_rng([seed, 1])  # a stream separate from the layouts: layouts do not shift
    canvases, targets, items = [], np.zeros((n_scenes, len(names)), np.int64), []
    for i, (classes, cells) in enumerate(layouts):
        src = [int(rng.choice(by_class[c])) for c in classes]
        canvases.append(compose(images[src], cells, grid))
        targets[i, classes] = 1
        items.append(list(zip(classes, src, cells, strict=True)))
    return MultiLabelSet(f"{dataset.name}-scenes-test", np.stack(canvases), targets, names,
                         protocol=f"{n_scenes} scenes, {grid}x{grid} grid, {min_items}-{max_items} distinct classes, "
                                  f"items from the {dataset.name} test split, seed {seed}", items=items)


def compose_scenes(renders: np.ndarray, render_classes: Sequence[int], groups: Sequence[Sequence[int]],
                   classnames: Sequence[str], seed: int, grid: int = 2, name: str = "generated-scenes"
                   ) -> MultiLabelSet:
    """Training scenes: scene ``i`` holds the renders ``groups[i]`` (indices into ``renders``) in random
    distinct cells; its target = the classes of those renders."""
    names = check_class_names(classnames)
    renders = to_grey(np.asarray(renders))
    rng = np.random.default_rng([seed, 2])
    canvases, targets, items = [], np.zeros((len(groups), len(names)), np.int64), []
    for i, group in enumerate(groups):
        group = [int(g) for g in group]
        if not 1 <= len(group) <= grid * grid:
            raise BadInputError(f"scene {i} has {len(group)} items; a {grid}x{grid} canvas holds 1..{grid * grid}")
        cells = [int(c) for c in rng.choice(grid * grid, size=len(group), replace=False)]
        canvases.append(compose(renders[group], cells, grid))
        cls = [int(render_classes[g]) for g in group]
        targets[i, cls] = 1
        items.append(list(zip(cls, group, cells, strict=True)))
    return MultiLabelSet(name, np.stack(canvases), targets, names,
                         protocol=f"{len(groups)} scenes of generated renders, {grid}x{grid} grid, seed {seed}",
                         items=items)


# ---------------------------------------------------------------------------------- the paper's datasets
VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]
# Names for prompts (the captions say "dining table", not "diningtable").
VOC_PROMPT_NAMES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                    "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train",
                    "tv monitor"]


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("LGCLIP_DATA", Path.home() / ".cache" / "lgclip" / "data"))


def _pick(n: int, max_images: int | None) -> np.ndarray:
    idx = np.arange(n)
    if max_images and max_images < n:  # a seeded subset, kept in file order
        idx = np.sort(np.random.default_rng(0).permutation(n)[:max_images])
    return idx


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_voc2007(root: str | os.PathLike | None = None, split: str = "test", max_images: int | None = None,
                 download: bool = False) -> MultiLabelSet:
    """PASCAL VOC 2007 through torchvision's ``VOCDetection`` (``<root>/VOCdevkit/VOC2007``).

    Target of a class: 1 if a non-difficult object of it is annotated, -1 if only difficult ones are (VOC's
    ``<class>_test.txt`` label 0), else 0. What a -1 counts as is the metrics' ``difficult`` rule (``protocols``
    key ``t2ipal.voc_difficult``): left out of AP, CF1 and OF1 (ours), or a negative (TaI-DPT's mAP; ML-GCN's
    CF1/OF1 — ML-GCN's AP leaves it out).
    """
    from torchvision.datasets import VOCDetection

    base = data_root(root)
    try:
        ds = VOCDetection(str(base), year="2007", image_set=split, download=download)
    except RuntimeError as exc:
        raise MissingAssetError("voc2007", f"download VOCtest_06-Nov-2007.tar and extract it under {base} "
                                "(giving VOCdevkit/VOC2007), or pass download=True with internet", str(exc)) from exc
    idx = _pick(len(ds), max_images)
    targets = np.zeros((len(idx), len(VOC_CLASSES)), np.int64)
    images = []
    for row, i in enumerate(idx):
        img, target = ds[int(i)]
        ann = target["annotation"]
        objects = ann.get("object", [])
        objects = objects if isinstance(objects, list) else [objects]
        for obj in objects:
            c = VOC_CLASSES.index(obj["name"])
            if str(obj.get("difficult", "0")) == "1":
                targets[row, c] = targets[row, c] if targets[row, c] == 1 else -1
            else:
                targets[row, c] = 1
        images.append(np.asarray(img.convert("RGB")))
    return MultiLabelSet("voc2007", images, targets, list(VOC_PROMPT_NAMES),
                         protocol=f"VOC2007 {split} ({len(idx)} images); difficult-only labels marked -1")


def write_voc2007_standin(root: str | os.PathLike, n_images: int = 8, n_classes: int = 4, seed: int = 0) -> Path:
    """A procedural stand-in of VOC2007 test in the devkit's layout (``<root>/VOCdevkit/VOC2007``: JPEGImages,
    Annotations in VOC's XML, ImageSets/Main/test.txt), read by ``load_voc2007`` like the real one. Photo-sized
    RGB images, each with 1-3 of the first ``n_classes`` VOC classes drawn as coloured shapes (one object of
    each is marked difficult now and then). For mechanics only (``lgclip hub-fixture``)."""
    from PIL import Image, ImageDraw

    base = Path(root) / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, (n_classes, 3))
    ids = []
    for i in range(n_images):
        w, h = [(500, 375), (375, 500), (500, 333), (353, 500)][i % 4]
        im = Image.fromarray(rng.integers(0, 80, (h, w, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(im)
        objects = []
        for c in rng.choice(n_classes, int(rng.integers(1, min(3, n_classes) + 1)), replace=False):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            x1, y1 = x0 + int(rng.integers(w // 5, w // 2)), y0 + int(rng.integers(h // 5, h // 2))
            (draw.ellipse, draw.rectangle)[int(c) % 2]((x0, y0, x1, y1), fill=tuple(int(v) for v in colours[c]))
            objects.append(f"<object><name>{VOC_CLASSES[int(c)]}</name><difficult>{int(rng.random() < 0.15)}"
                           f"</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
                           f"<ymax>{y1}</ymax></bndbox></object>")
        ident = f"{i + 1:06d}"
        ids.append(ident)
        im.save(base / "JPEGImages" / f"{ident}.jpg", quality=90)
        (base / "Annotations" / f"{ident}.xml").write_text(
            f"<annotation><folder>VOC2007</folder><filename>{ident}.jpg</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size>{''.join(objects)}</annotation>")
    (base / "ImageSets" / "Main" / "test.txt").write_text("\n".join(ids) + "\n")
    return base


def load_coco(root: str | os.PathLike | None = None, split: str = "val2014",
              max_images: int | None = None) -> MultiLabelSet:
    """MS-COCO from ``<root>/coco/{split}/*.jpg`` + ``<root>/coco/annotations/instances_{split}.json``
    (read with the json module; pycocotools is not needed). 80 classes in category-id order."""
    base = data_root(root) / "coco"
    ann_path = base / "annotations" / f"instances_{split}.json"
    if not ann_path.exists():
        raise MissingAssetError("coco", f"download {split}.zip and annotations_trainval2014.zip from cocodataset.org "
                                f"and extract them into {base} (giving {base}/{split}/ and {ann_path})")
    ann = json.loads(ann_path.read_text())
    cats = sorted(ann["categories"], key=lambda c: c["id"])
    col = {c["id"]: j for j, c in enumerate(cats)}
    imgs = sorted(ann["images"], key=lambda im: im["id"])
    row_of = {im["id"]: r for r, im in enumerate(imgs)}
    full = np.zeros((len(imgs), len(cats)), np.int64)
    for a in ann["annotations"]:
        full[row_of[a["image_id"]], col[a["category_id"]]] = 1
    idx = _pick(len(imgs), max_images)
    images = [_read_rgb(base / split / imgs[i]["file_name"]) for i in idx]
    return MultiLabelSet("coco", images, full[idx], [c["name"] for c in cats],
                         protocol=f"MS-COCO {split} ({len(idx)} of {len(imgs)} images), 80 classes")


def load_nus_wide(root: str | os.PathLike | None = None, max_images: int | None = None) -> MultiLabelSet:
    """NUS-WIDE test split, 81 concepts, laid out as the official release:
    ``<root>/nus-wide/Concepts81.txt``, ``ImageList/TestImagelist.txt`` (Windows-style relative paths),
    ``TrueLabel/Labels_<concept>_Test.txt`` (one 0/1 per test image) and the images under ``images/``.
    Images that are missing on disk (many NUS-WIDE URLs are dead) are skipped, and the count is recorded."""
    base = data_root(root) / "nus-wide"
    concepts_file = base / "Concepts81.txt"
    if not concepts_file.exists():
        raise MissingAssetError("nus-wide", f"place the NUS-WIDE release under {base}: Concepts81.txt, "
                                "ImageList/TestImagelist.txt, TrueLabel/Labels_*_Test.txt and images/")
    concepts = [c.strip() for c in concepts_file.read_text().split() if c.strip()]
    rel = [ln.strip().replace("\\", "/") for ln in (base / "ImageList" / "TestImagelist.txt").read_text().splitlines()
           if ln.strip()]
    labels = np.stack([np.loadtxt(base / "TrueLabel" / f"Labels_{c}_Test.txt", dtype=np.int64, ndmin=1)
                       for c in concepts], axis=1)
    if len(labels) != len(rel):
        raise BadInputError(f"NUS-WIDE: {len(rel)} test images listed but {len(labels)} label rows")
    present = np.array([(base / "images" / r).exists() for r in rel])
    keep = np.flatnonzero(present)
    idx = keep[_pick(len(keep), max_images)]
    images = [_read_rgb(base / "images" / rel[i]) for i in idx]
    return MultiLabelSet("nus-wide", images, labels[idx], concepts,
                         protocol=f"NUS-WIDE test ({len(idx)} images; {int((~present).sum())} listed images missing)")


def load_multilabel(name: str, root: str | os.PathLike | None = None, max_images: int | None = None
                    ) -> MultiLabelSet:
    """One of ``voc2007``, ``coco``, ``nus-wide`` by name."""
    loaders = {"voc2007": lambda: load_voc2007(root, max_images=max_images),
               "coco": lambda: load_coco(root, max_images=max_images),
               "nus-wide": lambda: load_nus_wide(root, max_images=max_images)}
    if name not in loaders:
        from ..errors import UnknownNameError

        raise UnknownNameError("multi-label dataset", name, list(loaders))
    return loaders[name]()
