"""The decoder split for beam search: the encoder memory's cross-attention keys and values once
per utterance, then one call per step for the whole beam with a key/value cache of the
self-attention.

ESPnet's forward_one_step re-reads the whole prefix every step and, batched over a beam, projects
the same memory once per hypothesis. Here a step reads only each hypothesis' last token and the
keys and values of its prefix (the runtime keeps them, reordered to the surviving hypotheses, and
appends the row each step returns); the memory's keys and values are shared by every hypothesis
through broadcasting. The last position of a causal decoder attends to every earlier one, so this
computes what forward_one_step computes.

Every layer has its own inputs and outputs: slicing one stacked cache inside the graph would copy
it, and the cache is the largest tensor a step touches. The step returns only the new rows, so
nothing of the size of the cache crosses from the runtime back to the caller.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .model import TransformerDecoder


def cache_names(layers: int) -> dict:
    """The step graph's tensor names, in argument order."""
    return {
        "hist_k": [f"hist_k_{i}" for i in range(layers)],
        "hist_v": [f"hist_v_{i}" for i in range(layers)],
        "cross_k": [f"cross_k_{i}" for i in range(layers)],
        "cross_v": [f"cross_v_{i}" for i in range(layers)],
        "new_k": [f"new_k_{i}" for i in range(layers)],
        "new_v": [f"new_v_{i}" for i in range(layers)],
    }


class DecoderMemory(nn.Module):
    """memory (1, T, D) -> cross_k_i, cross_v_i (1, heads, T, d_k) for every layer i."""

    def __init__(self, decoder: TransformerDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, memory):
        out = []
        for layer in self.decoder.decoders:
            out.append(layer.src_attn.heads(layer.src_attn.linear_k, memory))
        for layer in self.decoder.decoders:
            out.append(layer.src_attn.heads(layer.src_attn.linear_v, memory))
        return tuple(out)


class DecoderStep(nn.Module):
    """token (B), index (B, P), then per layer hist_k_i/hist_v_i (heads, S, d_k), then per layer
    cross_k_i/cross_v_i (1, heads, T, d_k) -> logp (B, V), then per layer new_k_i/new_v_i
    (heads, B, d_k): the rows each hypothesis adds to the history.

    The history holds every key and value row any hypothesis has produced, append-only; `index`
    names, for each hypothesis, the rows of its prefix in order. Rows are never reordered or
    copied between steps, so pruning a hypothesis costs nothing and surviving ones share their
    common prefix; the one gather per step is native and lands in the layout attention reads
    (heads first, so no transpose follows). `token` is each hypothesis' last token (sos first,
    with P = 0).
    """

    def __init__(self, decoder: TransformerDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, token, index, *caches):
        dec = self.decoder
        n = len(dec.decoders)
        hist_k, hist_v, cross_k, cross_v = caches[:n], caches[n : 2 * n], caches[2 * n : 3 * n], caches[3 * n :]
        beam, position = index.shape[0], index.shape[1]
        flat = index.reshape(-1)
        x = dec.embed(token).unsqueeze(1) * dec.xscale + dec.pe[:, position : position + 1]
        new_k, new_v = [], []
        for i, layer in enumerate(dec.decoders):
            sa = layer.self_attn
            heads, d_k = sa.h, sa.d_k
            y = layer.norm1(x)
            # (B, 1, D) -> (heads, B, 1, d_k): heads first, like the history
            q, k, v = (lin(y).view(beam, heads, d_k).transpose(0, 1).unsqueeze(2) for lin in (sa.linear_q, sa.linear_k, sa.linear_v))
            # -1, not `position`: ONNX Reshape reads a 0 (the first step's empty prefix) as "keep that dimension"
            past_k = hist_k[i].index_select(1, flat).view(heads, beam, -1, d_k)
            past_v = hist_v[i].index_select(1, flat).view(heads, beam, -1, d_k)
            # the prefix's scores and the new position's side by side: the history is never concatenated
            scores = torch.cat([torch.matmul(q, past_k.transpose(-2, -1)), (q * k).sum(-1, keepdim=True)], dim=-1) / math.sqrt(d_k)
            attn = torch.softmax(scores, dim=-1)
            mixed = torch.matmul(attn[..., :-1], past_v) + attn[..., -1:] * v  # (heads, B, 1, d_k)
            x = x + sa.linear_out(mixed.squeeze(2).transpose(0, 1).reshape(beam, 1, heads * d_k))
            ca = layer.src_attn
            qc = ca.heads(ca.linear_q, layer.norm2(x))
            cross = torch.softmax(torch.matmul(qc, cross_k[i].transpose(-2, -1)) / math.sqrt(ca.d_k), dim=-1)
            mixed = torch.matmul(cross, cross_v[i])
            x = x + ca.linear_out(mixed.transpose(1, 2).reshape(beam, 1, ca.h * ca.d_k))
            x = x + layer.feed_forward(layer.norm3(x))
            new_k.append(k.squeeze(2))
            new_v.append(v.squeeze(2))
        logp = torch.log_softmax(dec.output_layer(dec.after_norm(x[:, 0])), dim=-1)
        return (logp, *new_k, *new_v)
