#!/usr/bin/env python3
"""Import an Auto-AVSR or Chaplin visual speech recognition checkpoint as a Talkie model package.

Needs PyTorch (Debian's python3-torch) and nothing from upstream: the architecture is Talkie's
own definition (talkie_avsr/), loaded by tensor name, with sizes read from the tensor shapes and
the checkpoint's config where one is given. Writes, into --out:

  encoder.onnx          video (N, 1, T, 88, 88) -> ctc_log_probs (N, T, V), features (N, T, D)
  decoder_memory.onnx   features (1, T, D) -> each decoder layer's cross-attention keys and values
  decoder_step.onnx     one beam-search step for the whole beam, with a key/value history
  model.json            Talkie's manifest (tokens, Auto-AVSR's crop, normalisation, decoding)
  mean-face.json        the mean face the crop registers to (landmarks ROI)
  parity/               PyTorch's outputs for a fixed input (npm run models:verify re-checks them)
  import-report.json    what was imported and the parity figures measured

The package is written only if onnxruntime-node (the runtime the workers use) reproduces every
PyTorch output within 1e-4 (max abs) with the same best token everywhere. See README.md here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Auto-AVSR's preprocessing: a 96x96 mouth crop, centre 88x88, grey, (x/255 - 0.421) / 0.165, 25 fps.
FRAME_RATE = 25
SIZE = 88
CROP = 96
MEAN = 0.421
STD = 0.165
# Auto-AVSR's VideoProcess: registration on these 68-landmark points, a 12-frame smoothing window,
# the crop centred on the mouth (points 48-67) in a 256x256 registered frame.
STABLE_POINTS = [28, 33, 36, 39, 42, 45, 48, 54]
SMOOTHING_WINDOW = 12
REFERENCE_SIZE = 256
MOUTH_POINTS = {"start": 48, "stop": 68}
MEAN_FACE_FILE = "mean-face.json"
MEAN_FACE_NAME = "20words_mean_face.npy"
PARITY_FRAMES = 37
TOLERANCE = 1e-4


class ImportFailure(Exception):
    """Reported as one line, without a traceback."""


def read_units(path: str) -> list[str]:
    """The units of an ESPnet units file (`<unit> <id>` per line, ids 1..n without gaps)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
    except OSError as err:
        raise ImportFailure(f"cannot read the units file {path}: {err.strerror}") from err
    units = []
    for i, line in enumerate(lines):
        fields = line.split()
        expected = i + 1
        unit_id = int(fields[-1]) if len(fields) > 1 and fields[-1].lstrip("-").isdigit() else None
        if len(fields) != 2 or unit_id != expected:
            raise ImportFailure(f'units line {expected}: expected "<unit> {expected}", got {line!r}')
        units.append(fields[0])
    if not units:
        raise ImportFailure(f"the units file {path} is empty")
    return units


def token_list(units: list[str]) -> list[str]:
    """Auto-AVSR's TextTransform.token_list: blank, the units, then <eos> (sos/eos = last id)."""
    return ["<blank>", *units, "<eos>"]


def roi(mean_face: bool) -> dict:
    if not mean_face:
        return {"mode": "center", "scale": {"width": CROP, "height": CROP}}
    return {
        "mode": "landmarks",
        "crop": {"width": CROP, "height": CROP},
        "alignment": {
            "method": "mean_face",
            "mean_face": MEAN_FACE_FILE,
            "reference_size": {"width": REFERENCE_SIZE, "height": REFERENCE_SIZE},
            "stable_points": STABLE_POINTS,
            "smoothing_window": SMOOTHING_WINDOW,
            "mouth_points": MOUTH_POINTS,
        },
    }


def manifest(tokens: list[str], args: argparse.Namespace, decoding, mean_face: bool) -> dict:
    """model.json in Talkie's schema (packages/inference/src/manifest.ts)."""
    from talkie_avsr.export import DECODER_MEMORY_FILE, DECODER_STEP_FILE, ENCODER_FILE

    eos = len(tokens) - 1
    pick = lambda given, configured, default: given if given is not None else configured if configured is not None else default  # noqa: E731
    return {
        "schema": "talkie.model/v1",
        "name": args.name,
        "version": args.version,
        "description": "Auto-AVSR visual speech recognition (Conformer encoder, CTC head, Transformer decoder), "
        "imported by tools/export/export_auto_avsr.py",
        "model_file": ENCODER_FILE,
        "frame_rate": FRAME_RATE,
        "input": {"name": "video", "layout": "NCTHW", "channels": 1, "width": SIZE, "height": SIZE},
        "roi": roi(mean_face),
        "normalize": {"mean": MEAN, "std": STD},
        "output": {
            "name": "ctc_log_probs",
            "kind": "ctc",
            "layout": "NTC",
            "log_probs": True,
            "tokens": tokens,
            "blank": 0,
            "word_delimiter": "\u2581",
            "features": "features",
        },
        "decoder": {
            "kind": "kv_cache",
            "model_file": DECODER_STEP_FILE,
            "memory_file": DECODER_MEMORY_FILE,
            "log_probs": True,
            "sos": eos,
            "eos": eos,
        },
        "decoding": {
            "method": "joint",
            "beam_width": pick(args.beam_width, decoding.beam_width, 40),
            "ctc_weight": pick(args.ctc_weight, decoding.ctc_weight, 0.1),
            "length_bonus": pick(None, decoding.length_bonus, 0),
            **({"max_length_ratio": decoding.max_length_ratio} if decoding.max_length_ratio else {}),
        },
    }


def find_mean_face(args: argparse.Namespace) -> str | None:
    """--mean-face, else upstream's file anywhere in --repo (Auto-AVSR keeps it in preparation/,
    Chaplin and its relatives beside their face detectors)."""
    if args.mean_face or not args.repo:
        return args.mean_face
    for root, dirs, files in os.walk(args.repo):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
        if MEAN_FACE_NAME in files:
            return os.path.join(root, MEAN_FACE_NAME)
    return None


def read_mean_face(path: str) -> list[list[float]]:
    """68 (x, y) points from upstream's .npy or a JSON file ({"points": [[x, y], …]} or a bare list)."""
    import numpy as np

    try:
        if path.endswith(".npy"):
            points = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            points = np.asarray(doc["points"] if isinstance(doc, dict) else doc, dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ImportFailure(f"cannot read the mean face {path}: {err}") from err
    if points.shape != (68, 2) or not np.all(np.isfinite(points)):
        raise ImportFailure(f"the mean face {path} must hold 68 finite (x, y) points; it has shape {tuple(points.shape)}")
    return [[float(x), float(y)] for x, y in points]


def load_state(args: argparse.Namespace):
    import torch

    from talkie_avsr.checkpoint import read_checkpoint

    if args.random_from_shapes:
        # A model of a checkpoint's sizes with random weights, for benchmarks and tests: the shapes
        # file lists name -> shape; PyTorch's default initialisation fills the tensors.
        try:
            with open(args.random_from_shapes, encoding="utf-8") as f:
                shapes = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise ImportFailure(f"cannot read the shapes file {args.random_from_shapes}: {err}") from err
        shapes = shapes.get("state_dict_shapes", shapes)
        return {k: torch.zeros(v) for k, v in shapes.items()}, True
    return read_checkpoint(args.checkpoint, args.trust_checkpoint), False


def build(args: argparse.Namespace):
    import torch

    from talkie_avsr.checkpoint import build_model, infer_config, read_model_config, rel_pos_type_of
    from talkie_avsr.model import AutoAvsrVisual

    state, random = load_state(args)
    config_args, decoding = read_model_config(args.config)
    rel_pos, why = rel_pos_type_of(config_args, args.rel_pos_type)
    config = infer_config(state, config_args, rel_pos)
    if random:
        torch.manual_seed(args.seed)
        model = AutoAvsrVisual(config).eval()
    else:
        model = build_model(state, config)
    return model, config, decoding, why


def run_node_parity(staging: str) -> dict:
    """onnxruntime-node against PyTorch, through the worker's own model loading (tools/export/src/parity.ts)."""
    verify = os.path.join(HERE, "dist", "cli", "verify.js")
    if not os.path.isfile(verify):
        raise ImportFailure(f"{verify} is missing: run `npm run build` in the Talkie checkout first (or use `npm run models:import`)")
    node = shutil.which("node")
    if not node:
        raise ImportFailure("node is not on PATH: the parity check runs the package in onnxruntime-node")
    proc = subprocess.run([node, verify, staging], capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    if report is None:
        raise ImportFailure(f"the parity check in onnxruntime-node failed: {proc.stderr.strip()[-800:]}")
    return report


def cross_check_upstream(args: argparse.Namespace, model) -> str:
    """--repo: upstream's own classes on the same weights and input (Auto-AVSR's constructor)."""
    import torch

    sys.path.insert(0, os.path.abspath(args.repo))
    try:
        from espnet.nets.pytorch_backend.e2e_asr_conformer import E2E  # type: ignore
    except Exception as err:  # noqa: BLE001 - any failure of foreign code is a skipped cross-check
        return f"skipped: cannot import Auto-AVSR's E2E from {args.repo} ({type(err).__name__}: {err})"
    try:
        upstream = E2E(model.config.odim, "video").eval()
        upstream.load_state_dict(model.state_dict(), strict=False)
        gen = torch.Generator().manual_seed(5)
        video = torch.randn(1, 1, 29, SIZE, SIZE, generator=gen)
        with torch.no_grad():
            want = upstream.encoder(upstream.proj_encoder(upstream.frontend(video.transpose(1, 2))), None)[0]
            got = model.encode(video)[2]
        diff = float((want - got).abs().max())
    except Exception as err:  # noqa: BLE001
        return f"skipped: upstream's E2E did not run ({type(err).__name__}: {err})"
    if diff > 1e-5:
        raise ImportFailure(f"Talkie's encoder differs from upstream's by {diff:.2e} on the same weights")
    return f"encoder features within {diff:.1e} of upstream's E2E"


def write_json(path: str, doc) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


def make_readable(folder: str) -> None:
    """0644 files, 0755 folders: workers often run as another user than the one who imports."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def import_package(args: argparse.Namespace) -> dict:
    from talkie_avsr.export import export_onnx, export_prefix_decoder, write_parity_reference

    units = read_units(args.units) if args.units else None
    mean_face_path = None if args.roi == "center" else find_mean_face(args)
    if args.roi == "landmarks" and not mean_face_path:
        raise ImportFailure(
            f"Auto-AVSR's crop registers faces to its mean face: give --mean-face ({MEAN_FACE_NAME}, in auto_avsr's preparation/ "
            "or beside Chaplin's face detectors) or --repo that checkout, or --roi center for videos already cropped to the mouth"
        )
    mean_face = read_mean_face(mean_face_path) if mean_face_path else None

    model, config, decoding, rel_pos_why = build(args)
    if units is None:
        # random weights (benchmarks, tests): placeholder word pieces, so the text is visibly meaningless
        units = [f"\u2581w{i}" for i in range(1, config.odim - 1)]
    tokens = token_list(units)
    if len(tokens) != config.odim:
        raise ImportFailure(f"the model has {config.odim} outputs but the units file gives {len(tokens)} tokens (blank + {len(units)} units + <eos>)")

    parent = os.path.dirname(os.path.abspath(args.out)) or "."
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(args.out) and os.listdir(args.out) and not args.force:
        raise ImportFailure(f"{args.out} exists and is not empty: choose another --out, or add --force to replace it")
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(os.path.abspath(args.out))}.partial-")
    try:
        export_onnx(model, staging, args.opset, SIZE)
        if args.prefix_decoder:
            export_prefix_decoder(model, staging, args.opset)
        write_parity_reference(model, staging, SIZE, PARITY_FRAMES, config.odim - 1)
        write_json(os.path.join(staging, "model.json"), manifest(tokens, args, decoding, mean_face is not None))
        if mean_face:
            write_json(os.path.join(staging, MEAN_FACE_FILE), {"points": mean_face, "source": os.path.basename(mean_face_path)})
        upstream = cross_check_upstream(args, model) if args.repo else None
        make_readable(staging)
        parity = run_node_parity(staging)
        report = {
            "schema": "talkie.import-report/v1",
            "source": "random weights (" + os.path.basename(args.random_from_shapes) + ")" if args.random_from_shapes else os.path.basename(args.checkpoint),
            "architecture": dict(vars(config)),
            "rel_pos_type_because": rel_pos_why,
            "roi": "landmarks (mean face " + os.path.basename(mean_face_path) + ")" if mean_face_path else "center",
            "parity": parity,
            **({"upstream_cross_check": upstream} if upstream else {}),
        }
        write_json(os.path.join(staging, "import-report.json"), report)
        make_readable(staging)
        if not parity.get("ok"):
            worst = max(parity["comparisons"], key=lambda c: c["max_abs_diff"])
            raise ImportFailure(
                f"onnxruntime-node does not reproduce PyTorch: {worst['name']} differs by {worst['max_abs_diff']:.2e} "
                f"({worst['argmax_mismatches']} of {worst['rows']} best tokens differ; tolerance {TOLERANCE:g}); no package written"
            )
        if os.path.exists(args.out):
            shutil.rmtree(args.out)
        os.replace(staging, args.out)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="the checkpoint (.pth): a state dict, a Lightning checkpoint, Auto-AVSR's or Chaplin's model.pth")
    p.add_argument("--units", help="the SentencePiece units file it was trained with (unigram5000_units.txt)")
    p.add_argument("--out", required=True, help="the model package folder to write")
    p.add_argument("--config", help="the checkpoint's config: Chaplin's .ini (e.g. LRS3_V_WER19.1.ini) or its model .json")
    p.add_argument("--rel-pos-type", choices=("latest", "legacy"), help="the relative position encoding the model was trained with (default: from --config, else Auto-AVSR's latest)")
    p.add_argument("--mean-face", help="upstream's 20words_mean_face.npy (or a JSON list of 68 points) for Auto-AVSR's crop")
    p.add_argument("--roi", choices=("landmarks", "center"), default="landmarks", help="landmarks (default): Auto-AVSR's registered mouth crop from face videos; center: videos already cropped to the mouth")
    p.add_argument("--repo", help="an upstream checkout: where to find the mean face, and a cross-check against its own classes")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow a checkpoint that holds Python objects besides tensors (unpickling it can run code)")
    p.add_argument("--random-from-shapes", help="no checkpoint: random weights of the sizes in this name -> shape JSON (benchmarks, tests)")
    p.add_argument("--seed", type=int, default=0, help="with --random-from-shapes")
    p.add_argument("--name", default="auto-avsr-vsr")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--ctc-weight", type=float, help="joint decoding's CTC weight (default: the config's, else Auto-AVSR's 0.1)")
    p.add_argument("--beam-width", type=int, help="beam width (default: the config's, else 40)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--prefix-decoder", action="store_true", help="also write decoder_prefix.onnx (ESPnet's whole-prefix step; unused by the manifest) to cross-check the cached decoder's search")
    args = p.parse_args(argv)
    if bool(args.checkpoint) == bool(args.random_from_shapes):
        p.error("give --checkpoint (or --random-from-shapes for a random model of a checkpoint's sizes)")
    if args.checkpoint and not args.units:
        p.error("--units is required with --checkpoint: the tokens come from the units file the model was trained with")
    if args.ctc_weight is not None and not 0 <= args.ctc_weight <= 1:
        p.error("--ctc-weight must be between 0 and 1")
    if args.beam_width is not None and not 1 <= args.beam_width <= 256:
        p.error("--beam-width must be between 1 and 256")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("export_auto_avsr: PyTorch is not installed for this Python (Debian: apt-get install python3-torch; run it with /usr/bin/python3)", file=sys.stderr)
        return 1
    from talkie_avsr.checkpoint import CheckpointError

    try:
        report = import_package(args)
    except (ImportFailure, CheckpointError) as err:
        print(f"export_auto_avsr: {err}", file=sys.stderr)
        return 1
    arch = report["architecture"]
    print(
        f"model package written to {args.out}: {arch['elayers']} encoder blocks of {arch['adim']}, {arch['dlayers']} decoder blocks, "
        f"{arch['odim']} tokens, rel_pos_type {arch['rel_pos_type']} ({report['rel_pos_type_because']}), ROI {report['roi']}"
    )
    for c in report["parity"]["comparisons"]:
        print(f"  parity {c['name']}: max |PyTorch - onnxruntime-node| = {c['max_abs_diff']:.1e}, best token differs in {c['argmax_mismatches']} of {c['rows']}")
    if "upstream_cross_check" in report:
        print(f"  upstream: {report['upstream_cross_check']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
