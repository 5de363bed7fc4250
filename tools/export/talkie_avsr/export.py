"""ONNX files of a model package, and the PyTorch reference outputs the parity check compares with."""

from __future__ import annotations

import inspect
import json
import os
import warnings

import numpy as np
import torch
from torch import nn

from .decoding import DecoderMemory, DecoderStep, cache_names
from .model import AutoAvsrVisual

ENCODER_FILE = "encoder.onnx"
DECODER_STEP_FILE = "decoder_step.onnx"
DECODER_MEMORY_FILE = "decoder_memory.onnx"
DECODER_PREFIX_FILE = "decoder_prefix.onnx"
PARITY_DIR = "parity"


class Encoder(nn.Module):
    """video (N, 1, T, H, W), Talkie's layout -> ctc_log_probs (N, T, V), features (N, T, D)."""

    def __init__(self, model: AutoAvsrVisual):
        super().__init__()
        self.model = model

    def forward(self, video):
        log_probs, memory, _ = self.model.encode(video)
        return log_probs, memory


def _export(module, args, path, input_names, output_names, dynamic_axes, opset):
    # The exporter puts a module back in the mode it found it in, recursively: a wrapper left in
    # training mode would put the model's batch norms back to batch statistics afterwards.
    module.eval()
    kwargs = {"opset_version": opset, "do_constant_folding": True}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter keeps dynamic_axes as given
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns of every shape it reads; dynamic_axes keeps them symbolic, and parity checks the result
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes, **kwargs)


def export_onnx(model: AutoAvsrVisual, out: str, opset: int, size: int) -> None:
    frames = 50
    video = torch.zeros(1, 1, frames, size, size)
    _export(
        Encoder(model),
        (video,),
        os.path.join(out, ENCODER_FILE),
        ["video"],
        ["ctc_log_probs", "features"],
        {"video": {0: "batch", 2: "time"}, "ctc_log_probs": {0: "batch", 1: "time"}, "features": {0: "batch", 1: "time"}},
        opset,
    )
    with torch.no_grad():
        _, memory = Encoder(model)(video)
    layers = len(model.decoder.decoders)
    names = cache_names(layers)
    memory_graph = DecoderMemory(model.decoder)
    cross_names = names["cross_k"] + names["cross_v"]
    _export(
        memory_graph,
        (memory,),
        os.path.join(out, DECODER_MEMORY_FILE),
        ["memory"],
        cross_names,
        {"memory": {1: "time"}, **{n: {2: "time"} for n in cross_names}},
        opset,
    )
    with torch.no_grad():
        cross = memory_graph(memory)
    attn = model.decoder.decoders[0].self_attn
    # traced with a non-empty history and prefix, so that no length is folded into a constant
    history = torch.zeros(attn.h, 9, attn.d_k)
    hist_names = names["hist_k"] + names["hist_v"]
    new_names = names["new_k"] + names["new_v"]
    _export(
        DecoderStep(model.decoder),
        (torch.tensor([5, 7, 9]), torch.tensor([[0, 3], [0, 4], [1, 5]]), *[history] * (2 * layers), *cross),
        os.path.join(out, DECODER_STEP_FILE),
        ["token", "index", *hist_names, *cross_names],
        ["logp", *new_names],
        {
            "token": {0: "beam"},
            "index": {0: "beam", 1: "length"},
            **{n: {1: "rows"} for n in hist_names},
            **{n: {2: "time"} for n in cross_names},
            "logp": {0: "beam"},
            **{n: {1: "beam"} for n in new_names},
        },
        opset,
    )


class PrefixDecoder(nn.Module):
    """ESPnet's forward_one_step as one graph: ys (B, L), memory (1, T, D) -> logp (B, V)."""

    def __init__(self, model: AutoAvsrVisual):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, ys, memory):
        return self.decoder.forward_one_step(ys, memory)


def export_prefix_decoder(model: AutoAvsrVisual, out: str, opset: int) -> None:
    """The whole-prefix decoder, for cross-checks of the cached one (`--prefix-decoder`)."""
    memory = torch.zeros(1, 20, model.config.ddim)
    _export(
        PrefixDecoder(model),
        (torch.full((2, 3), model.config.odim - 1, dtype=torch.long), memory),
        os.path.join(out, DECODER_PREFIX_FILE),
        ["ys", "memory"],
        ["logp"],
        {"ys": {0: "batch", 1: "length"}, "memory": {1: "time"}, "logp": {0: "batch"}},
        opset,
    )


def beam_script(vocab: int, sos: int) -> list[dict]:
    """A few beam steps that grow, shrink and reorder the beam, as the search does."""
    rng = np.random.default_rng(3)
    tok = lambda n: [int(t) for t in rng.integers(1, vocab - 1, size=n)]  # noqa: E731
    return [
        {"tokens": [sos], "parents": [0]},
        {"tokens": tok(3), "parents": [0, 0, 0]},
        {"tokens": tok(2), "parents": [2, 0]},
        {"tokens": tok(3), "parents": [1, 1, 0]},
        {"tokens": tok(1), "parents": [2]},
    ]


def write_parity_reference(model: AutoAvsrVisual, out: str, size: int, frames: int, sos: int) -> dict:
    """PyTorch's outputs for a fixed input, written beside the package for onnxruntime-node to
    compare with; the decoder's are ESPnet's forward_one_step on each hypothesis' whole prefix."""
    model.eval()
    folder = os.path.join(out, PARITY_DIR)
    os.makedirs(folder, exist_ok=True)
    gen = torch.Generator().manual_seed(11)
    # normalised grey frames: (x/255 - 0.421) / 0.165 spans about [-2.6, 3.5]
    video = (torch.rand(1, 1, frames, size, size, generator=gen) - 0.421) / 0.165
    script = beam_script(model.config.odim, sos)
    with torch.no_grad():
        log_probs, memory, _ = model.encode(video)
        prefixes = [[]]
        steps = []
        for i, step in enumerate(script):
            prefixes = [prefixes[p] + [t] for t, p in zip(step["tokens"], step["parents"])]
            logp = model.decoder.forward_one_step(torch.tensor(prefixes), memory)
            name = f"decoder_logp_step{i}.f32"
            logp.numpy().astype("<f4").tofile(os.path.join(folder, name))
            steps.append({**step, "logp": name, "shape": list(logp.shape)})
    video.numpy().astype("<f4").tofile(os.path.join(folder, "video.f32"))
    log_probs.numpy().astype("<f4").tofile(os.path.join(folder, "ctc_log_probs.f32"))
    memory.numpy().astype("<f4").tofile(os.path.join(folder, "features.f32"))
    doc = {
        "schema": "talkie.parity/v1",
        "about": "PyTorch outputs of this package's model for a fixed input: `npm run models:verify -- <package>` compares onnxruntime-node with them",
        "video": {"file": "video.f32", "shape": list(video.shape)},
        "ctc_log_probs": {"file": "ctc_log_probs.f32", "shape": list(log_probs.shape)},
        "features": {"file": "features.f32", "shape": list(memory.shape)},
        "decoder_steps": steps,
        "tolerance": 1e-4,
    }
    with open(os.path.join(folder, "parity.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return doc
