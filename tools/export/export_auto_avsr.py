#!/usr/bin/env python3
"""Export an Auto-AVSR visual checkpoint to a Talkie model package (issue 5).

Writes, into --out:

  encoder.onnx  video (N, 1, T, 88, 88) float -> ctc_log_probs (N, T, V), features (N, T, D):
                the ResNet front-end, the Conformer encoder and the CTC head (log-softmaxed)
  decoder.onnx  ys (B, L) int64, memory (1 or B, T, D) float -> logp (B, V): one step of the
                Transformer decoder (ESPnet's forward_one_step, causal mask built inside)
  model.json    Talkie's manifest: the token list from the SentencePiece units file, blank 0,
                <eos> (ESPnet's sos/eos) last, and Auto-AVSR's decoding settings (joint
                CTC/attention, beam 40, CTC weight 0.1, no length bonus)

It needs PyTorch and a checkout of the Auto-AVSR code (https://github.com/mpc001/auto_avsr, or
Chaplin's copy of it) for the model classes, given with --repo. `--manifest-only` writes
model.json alone and needs neither (what Talkie's tests run). See README.md beside this file.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile

# Auto-AVSR's visual backbone (configs: model/visual_backbone), the LRS3 VSR models' settings.
AUTO_AVSR_VSR_ARGS = {
    "adim": 768,
    "aheads": 12,
    "eunits": 3072,
    "elayers": 12,
    "transformer_input_layer": "conv3d",
    "dropout_rate": 0.1,
    "transformer_attn_dropout_rate": 0.1,
    "transformer_encoder_attn_layer_type": "rel_mha",
    "macaron_style": True,
    "use_cnn_module": True,
    "cnn_module_kernel": 31,
    "zero_triu": False,
    "a_upsample_ratio": 1,
    "relu_type": "swish",
    "ddim": 768,
    "dheads": 12,
    "dunits": 3072,
    "dlayers": 6,
    "lsm_weight": 0.1,
    "transformer_length_normalized_loss": False,
    "mtlalpha": 0.1,
    "ctc_type": "builtin",
    "rel_pos_type": "latest",
}

# Auto-AVSR's preprocessing: a 96x96 mouth crop, centre 88x88, grey, (x/255 - 0.421) / 0.165, 25 fps.
FRAME_RATE = 25
SIZE = 88
CROP = 96
MEAN = 0.421
STD = 0.165

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"


class ExportError(Exception):
    """A problem the operator can fix (a missing file, a bad units file): reported without a traceback."""


def read_units(path: str) -> list[str]:
    """The units of an ESPnet units file (`<unit> <id>` per line, ids 1..n without gaps)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
    except OSError as err:
        raise ExportError(f"cannot read the units file {path}: {err.strerror}") from err
    units = []
    for i, line in enumerate(lines):
        fields = line.split()
        expected = i + 1
        unit_id = int(fields[-1]) if len(fields) > 1 and fields[-1].lstrip("-").isdigit() else None
        if len(fields) != 2 or unit_id != expected:
            raise ExportError(f'units line {expected}: expected "<unit> {expected}", got {line!r}')
        units.append(fields[0])
    if not units:
        raise ExportError(f"the units file {path} is empty")
    return units


def token_list(units: list[str]) -> list[str]:
    """Auto-AVSR's TextTransform.token_list: blank, the units, then <eos> (sos/eos = last id)."""
    return ["<blank>", *units, "<eos>"]


def manifest(tokens: list[str], name: str, version: str, ctc_weight: float, beam_width: int) -> dict:
    """model.json in Talkie's schema (packages/inference/src/manifest.ts)."""
    eos = len(tokens) - 1
    return {
        "schema": "talkie.model/v1",
        "name": name,
        "version": version,
        "description": "Auto-AVSR visual speech recognition (Conformer encoder, CTC head, Transformer decoder), "
        "exported by tools/export/export_auto_avsr.py",
        "model_file": ENCODER_FILE,
        "frame_rate": FRAME_RATE,
        "input": {"name": "video", "layout": "NCTHW", "channels": 1, "width": SIZE, "height": SIZE},
        "roi": {"mode": "center", "scale": {"width": CROP, "height": CROP}},
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
            "model_file": DECODER_FILE,
            "inputs": {"tokens": "ys", "memory": "memory"},
            "output": "logp",
            "log_probs": True,
            # the step wrapper expands a (1, T, D) memory over the beam itself
            "memory_batch": "shared",
            "sos": eos,
            "eos": eos,
        },
        "decoding": {"method": "joint", "beam_width": beam_width, "ctc_weight": ctc_weight, "length_bonus": 0},
    }


def write_atomic(path: str, data: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model.json.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.replace(tmp, path)


def export_onnx(args: argparse.Namespace, vocab: int) -> None:
    """Loads the checkpoint with Auto-AVSR's E2E class and writes encoder.onnx and decoder.onnx."""
    try:
        import torch
    except ImportError as err:
        raise ExportError("exporting the ONNX files needs PyTorch (pip install torch); --manifest-only does not") from err
    if args.repo:
        sys.path.insert(0, os.path.abspath(args.repo))
    try:
        from espnet.nets.pytorch_backend.e2e_asr_conformer import E2E
    except ImportError as err:
        raise ExportError(f"cannot import Auto-AVSR's model code ({err}); give its checkout with --repo") from err
    if not os.path.isfile(args.checkpoint):
        raise ExportError(f"no checkpoint at {args.checkpoint}")

    model_args = dict(AUTO_AVSR_VSR_ARGS)
    if args.model_args:
        with open(args.model_args, encoding="utf-8") as f:
            model_args.update(json.load(f))
    model = E2E(vocab, argparse.Namespace(**model_args))
    state = torch.load(args.checkpoint, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:  # a Lightning checkpoint: strip "model."
        state = {k[len("model."):]: v for k, v in state["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    model.eval()

    class EncoderWithCtc(torch.nn.Module):
        """NCTHW video in (Talkie's layout); CTC log-probabilities and the decoder's memory out."""

        def __init__(self, e2e):
            super().__init__()
            self.e2e = e2e

        def forward(self, video):
            x = video.transpose(1, 2)  # (N, T, 1, H, W), as Auto-AVSR's front-end takes it
            frontend = getattr(self.e2e, "frontend", None)
            if frontend is not None:  # auto_avsr: ResNet front-end and projection outside the encoder
                x = self.e2e.proj_encoder(frontend(x))
            features, _ = self.e2e.encoder(x, None)
            log_probs = torch.log_softmax(self.e2e.ctc.ctc_lo(features), dim=-1)
            proj = getattr(self.e2e, "proj_decoder", None)
            memory = proj(features) if proj is not None else features
            return log_probs, memory

    class DecoderStep(torch.nn.Module):
        """ESPnet's forward_one_step without a cache: the whole prefix each step, causal mask inside."""

        def __init__(self, decoder):
            super().__init__()
            self.decoder = decoder

        def forward(self, ys, memory):
            length = ys.size(1)
            mask = torch.tril(torch.ones(length, length, dtype=torch.bool, device=ys.device)).unsqueeze(0)
            # (1, T, D) or (B, T, D) -> (B, T, D): one memory serves the whole beam
            memory = memory.expand(ys.size(0), -1, -1)
            logp, _ = self.decoder.forward_one_step(ys, mask, memory, cache=None)
            return logp

    export_kwargs = {"opset_version": args.opset, "do_constant_folding": True}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        export_kwargs["dynamo"] = False  # the TorchScript exporter handles dynamic_axes as below
    frames = 2 * FRAME_RATE
    video = torch.zeros(1, 1, frames, SIZE, SIZE)
    with torch.no_grad():
        torch.onnx.export(
            EncoderWithCtc(model),
            (video,),
            os.path.join(args.out, ENCODER_FILE),
            input_names=["video"],
            output_names=["ctc_log_probs", "features"],
            dynamic_axes={"video": {0: "batch", 2: "time"}, "ctc_log_probs": {0: "batch", 1: "time"}, "features": {0: "batch", 1: "time"}},
            **export_kwargs,
        )
        _, memory = EncoderWithCtc(model)(video)
        ys = torch.full((2, 3), vocab - 1, dtype=torch.long)
        torch.onnx.export(
            DecoderStep(model.decoder),
            (ys, memory),
            os.path.join(args.out, DECODER_FILE),
            input_names=["ys", "memory"],
            output_names=["logp"],
            dynamic_axes={"ys": {0: "batch", 1: "length"}, "memory": {0: "memory_batch", 1: "time"}, "logp": {0: "batch"}},
            **export_kwargs,
        )
    verify(args.out, EncoderWithCtc(model), DecoderStep(model.decoder), vocab)


def verify(out: str, encoder, decoder, vocab: int) -> None:
    """Runs both ONNX files on another length than the export's and compares with PyTorch, when onnxruntime is installed."""
    try:
        import numpy as np
        import onnxruntime as ort
        import torch
    except ImportError:
        print("onnxruntime (python) is not installed: skipping the comparison with PyTorch", file=sys.stderr)
        return
    video = torch.randn(1, 1, 37, SIZE, SIZE)
    with torch.no_grad():
        want_lp, want_mem = encoder(video)
        ys = torch.tensor([[vocab - 1, 5, 9], [vocab - 1, 7, 7]])
        want_logp = decoder(ys, want_mem)
    enc = ort.InferenceSession(os.path.join(out, ENCODER_FILE), providers=["CPUExecutionProvider"])
    got_lp, got_mem = enc.run(None, {"video": video.numpy()})
    dec = ort.InferenceSession(os.path.join(out, DECODER_FILE), providers=["CPUExecutionProvider"])
    (got_logp,) = dec.run(None, {"ys": ys.numpy(), "memory": got_mem})
    for label, want, got in (("ctc_log_probs", want_lp, got_lp), ("features", want_mem, got_mem), ("logp", want_logp, got_logp)):
        diff = float(np.max(np.abs(want.numpy() - got)))
        print(f"{label}: max |PyTorch - ONNX Runtime| = {diff:.2e}", file=sys.stderr)
        if diff > 1e-3:
            raise ExportError(f"{label} differs from PyTorch by {diff:.2e}: the export is not faithful")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", required=True, help="the SentencePiece units file (unigram5000_units.txt)")
    p.add_argument("--out", required=True, help="the model package folder to write")
    p.add_argument("--checkpoint", help="the Auto-AVSR visual checkpoint (.pth); not needed with --manifest-only")
    p.add_argument("--repo", help="a checkout of the Auto-AVSR code (for its espnet package)")
    p.add_argument("--model-args", help="JSON with model arguments overriding Auto-AVSR's visual backbone settings")
    p.add_argument("--name", default="auto-avsr-vsr")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--ctc-weight", type=float, default=0.1, help="joint decoding's CTC weight (Auto-AVSR: 0.1)")
    p.add_argument("--beam-width", type=int, default=40, help="beam width (Auto-AVSR: 40)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--manifest-only", action="store_true", help="write model.json only: no PyTorch, no checkpoint")
    args = p.parse_args(argv)
    if not args.manifest_only and not args.checkpoint:
        p.error("--checkpoint is required unless --manifest-only")
    if not 0 <= args.ctc_weight <= 1:
        p.error("--ctc-weight must be between 0 and 1")
    if not 1 <= args.beam_width <= 256:
        p.error("--beam-width must be between 1 and 256")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        tokens = token_list(read_units(args.units))
        os.makedirs(args.out, exist_ok=True)
        if not args.manifest_only:
            export_onnx(args, len(tokens))
        doc = manifest(tokens, args.name, args.version, args.ctc_weight, args.beam_width)
        write_atomic(os.path.join(args.out, "model.json"), json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    except ExportError as err:
        print(f"export_auto_avsr: {err}", file=sys.stderr)
        return 1
    print(f"model package written to {args.out} ({len(tokens)} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
