"""The artifact cache: hits, misses, corruption, interrupted builds, atomic writes; atomic model folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lgclip_core import cache as cache_mod
from lgclip_core.cache import ArtifactCache, atomic_write_bytes, stable_hash
from lgclip_core.tokenizers import COMPLETE, build_directory


def _counting(value):
    calls = []

    def build():
        calls.append(1)
        return value

    return build, calls


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp-")]


def test_arrays_miss_then_hit(tmp_cache: ArtifactCache) -> None:
    value = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([1, 2], np.int64)}
    build, calls = _counting(value)
    first = tmp_cache.arrays("features", {"model": "m", "seed": 1}, build)
    second = tmp_cache.arrays("features", {"seed": 1, "model": "m"}, build)  # same parts, other order
    assert len(calls) == 1 and (tmp_cache.misses, tmp_cache.hits) == (1, 1)
    for out in (first, second):
        np.testing.assert_array_equal(out["x"], value["x"])
        np.testing.assert_array_equal(out["y"], value["y"])
        assert out["y"].dtype == np.int64
    assert len(tmp_cache.manifest()["entries"]) == 1


def test_json_miss_then_hit(tmp_cache: ArtifactCache) -> None:
    build, calls = _counting({"cat": ["a photo of a cat."], "n": 1})
    assert tmp_cache.json("prompts", ["k"], build) == tmp_cache.json("prompts", ["k"], build)
    assert len(calls) == 1 and tmp_cache.hits == 1


def test_corrupt_entry_is_detected_and_rebuilt(tmp_cache: ArtifactCache) -> None:
    build, calls = _counting({"a": np.ones(5, np.float32)})
    tmp_cache.arrays("features", "p", build)
    payload = tmp_cache.root / "features" / f"{stable_hash('p')}.safetensors"
    data = bytearray(payload.read_bytes())
    data[-1] ^= 0xFF  # flip bits in the last float
    payload.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt"):
        out = tmp_cache.arrays("features", "p", build)
    np.testing.assert_array_equal(out["a"], np.ones(5, np.float32))
    assert len(calls) == 2 and tmp_cache.rebuilt == 1
    out = tmp_cache.arrays("features", "p", build)  # the rebuilt entry is healthy again
    assert len(calls) == 2


def test_missing_manifest_counts_as_miss(tmp_cache: ArtifactCache) -> None:
    build, calls = _counting([1, 2, 3])
    tmp_cache.json("k", "p", build)
    (tmp_cache.root / "k" / f"{stable_hash('p')}.json").unlink()
    assert tmp_cache.json("k", "p", build) == [1, 2, 3] and len(calls) == 2


def test_interrupted_build_leaves_no_entry(tmp_cache: ArtifactCache) -> None:
    def broken():
        raise KeyboardInterrupt  # what Ctrl-C in the middle of a generation looks like

    with pytest.raises(KeyboardInterrupt):
        tmp_cache.arrays("images", {"chunk": 0}, broken)
    assert not tmp_cache.has("images", {"chunk": 0})
    assert not list((tmp_cache.root).rglob("*.safetensors"))
    build, calls = _counting({"img": np.zeros((2, 4, 4, 3), np.uint8)})
    out = tmp_cache.arrays("images", {"chunk": 0}, build)
    assert len(calls) == 1 and out["img"].shape == (2, 4, 4, 3)


def test_keys_differ_when_parts_differ() -> None:
    base = {"model": "efficientnet-lite0", "revision": "57934424", "size": 112, "seed": 0}
    keys = {stable_hash(base)}
    for k, v in [("model", "efficientnet-lite1"), ("revision", "x"), ("size", 224), ("seed", 1)]:
        keys.add(stable_hash({**base, k: v}))
    keys.add(stable_hash({**base, "extra": None}))
    assert len(keys) == 6
    assert stable_hash(base) == stable_hash(dict(reversed(list(base.items()))))
    assert stable_hash([1, 2]) != stable_hash([2, 1])


def test_atomic_writes_leave_no_temp_files(tmp_cache: ArtifactCache) -> None:
    for i in range(3):
        tmp_cache.arrays("a", i, lambda i=i: {"v": np.full(3, i)})
        tmp_cache.json("j", i, lambda i=i: {"i": i})
    assert _temp_files(tmp_cache.root) == []
    assert len(list((tmp_cache.root / "a").glob("*.safetensors"))) == 3


def test_atomic_write_failure_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.json"
    atomic_write_bytes(target, b"old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and _temp_files(tmp_path) == []


def test_manifest_records_entries(tmp_cache: ArtifactCache) -> None:
    tmp_cache.json("prompts", {"c": "cat"}, lambda: ["x"])
    m = tmp_cache.manifest()
    assert m["misses"] == 1 and m["root"] == str(tmp_cache.root)
    ((name, digest),) = m["entries"].items()
    assert name.startswith("prompts/") and len(digest) == 64
    meta = json.loads((tmp_cache.root / "prompts" / f"{stable_hash({'c': 'cat'})}.json").read_text())
    assert meta["parts"] == {"c": "cat"} and meta["sha256"] == digest


# ------------------------------------------------------------------ atomic folders (converted models)
def test_build_directory_once(tmp_cache: ArtifactCache) -> None:
    calls = []

    def build(d: Path) -> None:
        calls.append(d)
        (d / "weights.bin").write_bytes(b"\0" * 100)
        (d / "sub").mkdir()
        (d / "sub" / "cfg.json").write_text("{}")

    a = build_directory("m", {"v": 1}, build, cache=tmp_cache)
    b = build_directory("m", {"v": 1}, build, cache=tmp_cache)
    assert a == b and len(calls) == 1 and (a / COMPLETE).is_file() and (a / "sub" / "cfg.json").is_file()
    assert json.loads((a / COMPLETE).read_text())["files"] == {"sub/cfg.json": 2, "weights.bin": 100}
    assert _temp_files(tmp_cache.root) == []
    assert build_directory("m", {"v": 2}, build, cache=tmp_cache) != a and len(calls) == 2


def test_build_directory_interrupted_then_rebuilt(tmp_cache: ArtifactCache) -> None:
    def broken(d: Path) -> None:
        (d / "weights.bin").write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        build_directory("m", "p", broken, cache=tmp_cache)
    root = tmp_cache.directory("m", "p")
    assert not (root / "files").exists() and os.listdir(root) == []
    d = build_directory("m", "p", lambda d: (d / "weights.bin").write_bytes(b"full"), cache=tmp_cache)
    assert (d / "weights.bin").read_bytes() == b"full"


def test_build_directory_damaged_is_rebuilt(tmp_cache: ArtifactCache) -> None:
    d = build_directory("m", "p", lambda d: (d / "w.bin").write_bytes(b"12345678"), cache=tmp_cache)
    (d / "w.bin").write_bytes(b"1234")  # truncated file: size no longer matches the sentinel
    calls = []
    d2 = build_directory("m", "p", lambda d: calls.append(1) or (d / "w.bin").write_bytes(b"12345678"),
                         cache=tmp_cache)
    assert d2 == d and calls == [1] and (d / "w.bin").read_bytes() == b"12345678"
