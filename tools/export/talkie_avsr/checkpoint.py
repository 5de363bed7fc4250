"""Reading a checkpoint into AutoAvsrVisual: unwrapping, renaming, sizes from the tensors, and a
clear message for anything that does not fit."""

from __future__ import annotations

import configparser
import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass

import torch

from .model import ArchConfig, AutoAvsrVisual


class CheckpointError(Exception):
    """A problem the operator can fix: reported as one message, never as a traceback."""


@dataclass
class Decoding:
    """Decoding settings a checkpoint's own config carries (Chaplin's .ini); None where it says nothing."""

    beam_width: int | None = None
    ctc_weight: float | None = None
    length_bonus: float | None = None
    max_length_ratio: float | None = None


# Chaplin / Visual_Speech_Recognition_for_Multiple_Languages keep the front-end and its projection
# inside the encoder (`transformer_input_layer: conv3d`); Auto-AVSR has them at the top.
RENAMES = (
    (re.compile(r"^encoder\.frontend\."), "frontend."),
    (re.compile(r"^encoder\.embed\.0\."), "proj_encoder."),
)
WRAPPER_PREFIXES = ("model.", "module.")
# Tensors of training-only parts a checkpoint may carry beside the visual model.
IGNORED = re.compile(r"^(lm|criterion)\.|num_batches_tracked$")


def read_checkpoint(path: str, trust: bool) -> dict:
    """The tensors of `path`. Unpickling can run code, so only tensors and plain containers are
    accepted unless the operator vouches for the file (`trust`)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint file at {path}")
    with open(path, "rb") as f:
        head = f.read(2)
    # torch.save writes a zip archive (PyTorch >= 1.6) or, before, a pickle (protocol 2+: 0x80)
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":
        raise CheckpointError(f"{path} is not a PyTorch checkpoint that can be read (neither torch.save's zip archive nor its legacy pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        if trust:
            raise CheckpointError(f"{path} is not a PyTorch checkpoint that can be read: {_first_line(err)}") from err
        reason = _first_line(err).split("WeightsUnpickler error:")[-1].strip()
        raise CheckpointError(
            f"{path} holds Python objects besides tensors ({reason[:160]}); unpickling them could run code. "
            "If you trust where the file came from, add --trust-checkpoint"
        ) from err
    except (RuntimeError, AttributeError, EOFError, ValueError, OSError) as err:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint that can be read: {_first_line(err)}") from err
    return state_dict_of(obj, path)


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] if text else type(err).__name__


def state_dict_of(obj, path: str = "checkpoint") -> dict:
    """Plain state dicts, Lightning checkpoints (`state_dict` with `model.`), `{"model": …}` wrappers."""
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{path} holds no state dict (a mapping of tensor names to tensors)")
    state = {k: v for k, v in obj.items() if torch.is_tensor(v)}
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
        elif any(k.startswith(prefix + "frontend.") or k.startswith(prefix + "encoder.") for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    renamed = {}
    for name, tensor in state.items():
        for pattern, replacement in RENAMES:
            name = pattern.sub(replacement, name)
        renamed[name] = tensor
    return renamed


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def _shape(state: dict, name: str, dim: int) -> int:
    if name not in state:
        raise CheckpointError(f"the checkpoint has no tensor {name}: it is not an Auto-AVSR visual model{_hint(state)}")
    return int(state[name].shape[dim])


def _hint(state: dict) -> str:
    names = sorted(state)[:5]
    return f" (its first tensors: {', '.join(names)})" if names else ""


def read_model_config(path: str | None) -> tuple[dict, Decoding]:
    """Model arguments and decoding settings from Chaplin's .ini (which names its model .json),
    an ESPnet model.json (`[idim, odim, {args}]`) or a plain JSON object of arguments."""
    if not path:
        return {}, Decoding()
    if not os.path.isfile(path):
        raise CheckpointError(f"no config file at {path}")
    if path.endswith(".ini"):
        ini = configparser.ConfigParser()
        try:
            ini.read(path, encoding="utf-8")
        except configparser.Error as err:
            raise CheckpointError(f"{path} is not a readable .ini file: {err}") from err
        decode = ini["decode"] if ini.has_section("decode") else {}
        decoding = Decoding(
            beam_width=int(decode["beam_size"]) if "beam_size" in decode else None,
            ctc_weight=float(decode["ctc_weight"]) if "ctc_weight" in decode else None,
            length_bonus=float(decode["penalty"]) if "penalty" in decode else None,
            max_length_ratio=float(decode["maxlenratio"]) if "maxlenratio" in decode else None,
        )
        conf = ini.get("model", "model_conf", fallback=None)
        if not conf:
            return {}, decoding
        found = _resolve_beside(path, conf)
        if not found:
            raise CheckpointError(f"{path} names model_conf {conf}, which is neither beside it nor under the current folder")
        return read_model_config(found)[0], decoding
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not readable JSON: {err}") from err
    if isinstance(doc, list) and len(doc) == 3 and isinstance(doc[2], dict):
        return doc[2], Decoding()
    if isinstance(doc, dict):
        return doc, Decoding()
    raise CheckpointError(f"{path}: expected ESPnet's [idim, odim, {{args}}] or an object of model arguments")


def _resolve_beside(ini_path: str, name: str) -> str | None:
    here = os.path.dirname(os.path.abspath(ini_path))
    candidates = [name, os.path.join(here, name), os.path.join(here, os.path.basename(name))]
    # Chaplin's paths are relative to its checkout, two or three folders above its configs.
    for up in (1, 2, 3):
        candidates.append(os.path.join(here, *[".."] * up, name))
    return next((c for c in candidates if os.path.isfile(c)), None)


def rel_pos_type_of(args: dict, override: str | None) -> tuple[str, str]:
    """(type, why). ESPnet's rule: `rel_mha` with no `rel_pos_type` is the legacy encoding."""
    if override:
        return override, "given with --rel-pos-type"
    layer = args.get("transformer_encoder_attn_layer_type")
    if layer == "legacy_rel_mha":
        return "legacy", "the config's attention type is legacy_rel_mha"
    if "rel_pos_type" in args:
        kind = args["rel_pos_type"]
        if kind not in ("latest", "legacy"):
            raise CheckpointError(f"the config's rel_pos_type {kind!r} is neither latest nor legacy")
        return kind, "the config's rel_pos_type"
    if layer == "rel_mha":
        return "legacy", "the config has rel_mha without rel_pos_type, which ESPnet reads as legacy"
    if args:
        raise CheckpointError("the config names no relative-position attention (transformer_encoder_attn_layer_type); this importer handles Conformer rel_mha models only")
    return "latest", "no config given, so Auto-AVSR's; --rel-pos-type legacy for a model trained with the legacy encoding"


def infer_config(state: dict, args: dict, rel_pos_type: str) -> ArchConfig:
    """Sizes from tensor shapes; what shapes cannot say (decoder heads) from the config, else the encoder's."""
    adim = _shape(state, "proj_encoder.weight", 0)
    aheads = _shape(state, "encoder.encoders.0.self_attn.pos_bias_u", 0)
    ddim = _shape(state, "decoder.embed.0.weight", 1)
    odim = _shape(state, "decoder.embed.0.weight", 0)
    if "ctc.ctc_lo.weight" in state and _shape(state, "ctc.ctc_lo.weight", 0) != odim:
        raise CheckpointError("the CTC head and the decoder have different vocabularies")
    dheads = int(args.get("dheads", args.get("aheads", aheads)))
    if ddim % dheads:
        raise CheckpointError(f"decoder width {ddim} does not divide into {dheads} heads; give dheads in --config")
    prelu = "frontend.frontend3D.2.weight" in state
    return ArchConfig(
        odim=odim,
        adim=adim,
        aheads=aheads,
        eunits=_shape(state, "encoder.encoders.0.feed_forward.w_1.weight", 0),
        elayers=_count(state, r"^encoder\.encoders\.(\d+)\."),
        cnn_module_kernel=_shape(state, "encoder.encoders.0.conv_module.depthwise_conv.weight", 2)
        if "encoder.encoders.0.conv_module.depthwise_conv.weight" in state
        else 31,
        macaron_style="encoder.encoders.0.feed_forward_macaron.w_1.weight" in state,
        use_cnn_module="encoder.encoders.0.conv_module.pointwise_cov1.weight" in state,
        rel_pos_type=rel_pos_type,
        zero_triu=bool(args.get("zero_triu", False)),
        relu_type="prelu" if prelu else "relu" if args.get("relu_type") == "relu" else "swish",
        ddim=ddim,
        dheads=dheads,
        dunits=_shape(state, "decoder.decoders.0.feed_forward.w_1.weight", 0),
        dlayers=_count(state, r"^decoder\.decoders\.(\d+)\."),
        proj_decoder="proj_decoder.weight" in state,
        frontend_channels=_shape(state, "frontend.frontend3D.0.weight", 0),
    )


def build_model(state: dict, config: ArchConfig) -> AutoAvsrVisual:
    """The model with every tensor of `state` in place, or a message naming what does not fit."""
    model = AutoAvsrVisual(config)
    expected = model.state_dict()
    given = {k: v for k, v in state.items() if not IGNORED.search(k) or k in expected}
    missing = sorted(k for k in expected if k not in given and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in given if k not in expected)
    wrong = sorted(f"{k} {tuple(given[k].shape)} (expected {tuple(expected[k].shape)})" for k in given if k in expected and given[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong)):
            if names:
                shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
                parts.append(f"{len(names)} tensor(s) {label}: {shown}")
        raise CheckpointError("the checkpoint does not fit the Auto-AVSR visual architecture; " + "; ".join(parts))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in given.items()}, strict=False)
    return model.eval()
