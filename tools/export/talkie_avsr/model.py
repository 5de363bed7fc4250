"""The Auto-AVSR visual model (E2E(odim, "video") of auto_avsr, and the VSR-for-multiple-languages
/ Chaplin variant), as modules whose parameter names match upstream's state dicts.

Only what inference needs: no dropout (eval mode), no losses. Numerical choices that change
outputs are upstream's: LayerNorm eps 1e-12, BatchNorm eps 1e-5, Swish activations in the
front-end and the convolution module, ReLU in the feed-forward blocks, the masked softmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ArchConfig:
    """Sizes and variants; the checkpoint importer fills them from tensor shapes and configs."""

    odim: int = 5049
    adim: int = 768
    aheads: int = 12
    eunits: int = 3072
    elayers: int = 12
    cnn_module_kernel: int = 31
    macaron_style: bool = True
    use_cnn_module: bool = True
    # `latest`: ESPnet's RelPositionalEncoding/RelPositionMultiHeadedAttention; `legacy`: the
    # LegacyRel* pair (same tensor names, other positions): a checkpoint trained with one gives
    # wrong outputs with the other, so the importer never guesses it silently.
    rel_pos_type: str = "latest"
    zero_triu: bool = False
    # `swish` (Auto-AVSR) or `prelu` (some VSR-for-multiple-languages models): the front-end's activation
    relu_type: str = "swish"
    ddim: int = 768
    dheads: int = 12
    dunits: int = 3072
    dlayers: int = 6
    # present when the encoder's width differs from the decoder's
    proj_decoder: bool = False
    frontend_channels: int = 64


class LayerNorm(nn.LayerNorm):
    """ESPnet's LayerNorm: eps 1e-12 (torch's default 1e-5 changes outputs measurably)."""

    def __init__(self, nout: int):
        super().__init__(nout, eps=1e-12)


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def activation(kind: str, channels: int) -> nn.Module:
    if kind == "swish":
        return Swish()
    if kind == "prelu":
        return nn.PReLU(num_parameters=channels)
    if kind == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown front-end activation {kind!r}")


# --- front-end: Conv3d stem + ResNet-18 trunk applied per frame ---------------------------------


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, relu_type: str):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = activation(relu_type, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = activation(relu_type, planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + residual)


class ResNetTrunk(nn.Module):
    def __init__(self, relu_type: str, inplanes: int = 64):
        super().__init__()
        layers = []
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(inplanes, planes, stride, relu_type), BasicBlock(planes, planes, 1, relu_type)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


class Conv3dResNet(nn.Module):
    """(N, C, T, H, W) grey frames -> (N, T, 512): the 3-D stem, then the 2-D trunk on every frame."""

    def __init__(self, relu_type: str, channels: int = 64):
        super().__init__()
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, channels, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(channels),
            activation(relu_type, channels),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        self.trunk = ResNetTrunk(relu_type, channels)

    def forward(self, x):
        n = x.shape[0]
        x = self.frontend3D(x)
        t = x.shape[2]
        x = x.transpose(1, 2).reshape(n * t, x.shape[1], x.shape[3], x.shape[4])
        return self.trunk(x).view(n, t, -1)


# --- Conformer encoder ----------------------------------------------------------------------------


def sinusoids(positions: torch.Tensor, d_model: int) -> torch.Tensor:
    """ESPnet's sinusoidal table for the given (float) positions: sin on even, cos on odd channels."""
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
    pe = torch.zeros(positions.numel(), d_model)
    pe[:, 0::2] = torch.sin(positions.unsqueeze(1) * div_term)
    pe[:, 1::2] = torch.cos(positions.unsqueeze(1) * div_term)
    return pe


class RelPositionalEncoding(nn.Module):
    """x·√d and the relative position embeddings of a sequence of T frames.

    `latest`: positions T-1 … -(T-1) (2T-1 rows). `legacy`: ESPnet's PositionalEncoding(reverse=True)
    table of max_len rows, positions max_len-1 … 0, of which the first T rows are used.
    """

    def __init__(self, d_model: int, rel_pos_type: str, max_len: int = 5000):
        super().__init__()
        self.d_model = d_model
        self.xscale = math.sqrt(d_model)
        self.rel_pos_type = rel_pos_type
        self.max_len = max_len
        if rel_pos_type == "latest":
            position = torch.arange(0, max_len, dtype=torch.float32)
            positive = torch.flip(sinusoids(position, d_model), [0])
            negative = sinusoids(-position, d_model)[1:]
            pe = torch.cat([positive, negative], dim=0)
        elif rel_pos_type == "legacy":
            pe = sinusoids(torch.arange(max_len - 1, -1, -1.0, dtype=torch.float32), d_model)
        else:
            raise ValueError(f"unknown rel_pos_type {rel_pos_type!r}")
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

    def forward(self, x):
        t = x.shape[1]
        if self.rel_pos_type == "latest":
            centre = self.pe.shape[1] // 2
            pos_emb = self.pe[:, centre - t + 1 : centre + t]
        else:
            pos_emb = self.pe[:, :t]
        return x * self.xscale, pos_emb


class MultiHeadedAttention(nn.Module):
    def __init__(self, n_head: int, n_feat: int):
        super().__init__()
        assert n_feat % n_head == 0
        self.d_k = n_feat // n_head
        self.h = n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat)
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)

    def heads(self, linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        """(N, T, D) -> (N, H, T, d_k)"""
        return linear(x).view(x.shape[0], -1, self.h, self.d_k).transpose(1, 2)

    def attend(self, v: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """ESPnet's forward_attention: masked positions get the float minimum, then 0 after softmax."""
        if mask is not None:
            masked = mask.unsqueeze(1).eq(0)
            scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)
            attn = torch.softmax(scores, dim=-1).masked_fill(masked, 0.0)
        else:
            attn = torch.softmax(scores, dim=-1)
        x = torch.matmul(attn, v)  # a (1, T, D) memory broadcasts over a batch of queries
        return self.linear_out(x.transpose(1, 2).reshape(x.shape[0], -1, self.h * self.d_k))

    def forward(self, query, key, value, mask=None):
        q, k, v = self.heads(self.linear_q, query), self.heads(self.linear_k, key), self.heads(self.linear_v, value)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)
        return self.attend(v, scores, mask)


class RelPositionMultiHeadedAttention(MultiHeadedAttention):
    """Self-attention with Transformer-XL style relative positions (content bias u, position bias v)."""

    def __init__(self, n_head: int, n_feat: int, rel_pos_type: str, zero_triu: bool):
        super().__init__(n_head, n_feat)
        self.rel_pos_type = rel_pos_type
        self.zero_triu = zero_triu
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(self.h, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(self.h, self.d_k))

    def rel_shift(self, x):
        zero_pad = torch.zeros((*x.shape[:3], 1), dtype=x.dtype)
        x_padded = torch.cat([zero_pad, x], dim=-1).view(x.shape[0], x.shape[1], x.shape[3] + 1, x.shape[2])
        x = x_padded[:, :, 1:].reshape(x.shape)
        if self.rel_pos_type == "latest":
            x = x[:, :, :, : x.shape[-1] // 2 + 1]
        if self.zero_triu:
            ones = torch.ones((x.shape[2], x.shape[3]))
            x = x * torch.tril(ones, x.shape[3] - x.shape[2])[None, None, :, :]
        return x

    def forward(self, query, key, value, pos_emb, mask=None):
        q = self.heads(self.linear_q, query).transpose(1, 2)  # (N, T, H, d_k)
        k, v = self.heads(self.linear_k, key), self.heads(self.linear_v, value)
        p = self.linear_pos(pos_emb).view(pos_emb.shape[0], -1, self.h, self.d_k).transpose(1, 2)
        matrix_ac = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(-2, -1))
        matrix_bd = self.rel_shift(torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(-2, -1)))
        return self.attend(v, (matrix_ac + matrix_bd) / math.sqrt(self.d_k), mask)


class PositionwiseFeedForward(nn.Module):
    def __init__(self, idim: int, hidden: int):
        super().__init__()
        self.w_1 = nn.Linear(idim, hidden)
        self.w_2 = nn.Linear(hidden, idim)

    def forward(self, x):
        return self.w_2(torch.relu(self.w_1(x)))


class ConvolutionModule(nn.Module):
    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.pointwise_cov1 = nn.Conv1d(channels, 2 * channels, 1)
        self.depthwise_conv = nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2, groups=channels)
        self.norm = nn.BatchNorm1d(channels)
        self.pointwise_cov2 = nn.Conv1d(channels, channels, 1)
        self.activation = Swish()

    def forward(self, x):
        x = nn.functional.glu(self.pointwise_cov1(x.transpose(1, 2)), dim=1)
        x = self.activation(self.norm(self.depthwise_conv(x)))
        return self.pointwise_cov2(x).transpose(1, 2)


class ConformerLayer(nn.Module):
    """Pre-norm Conformer block: ½ FF (macaron), self-attention, convolution, ½ FF, final norm."""

    def __init__(self, c: ArchConfig):
        super().__init__()
        self.self_attn = RelPositionMultiHeadedAttention(c.aheads, c.adim, c.rel_pos_type, c.zero_triu)
        self.feed_forward = PositionwiseFeedForward(c.adim, c.eunits)
        self.feed_forward_macaron = PositionwiseFeedForward(c.adim, c.eunits) if c.macaron_style else None
        self.conv_module = ConvolutionModule(c.adim, c.cnn_module_kernel) if c.use_cnn_module else None
        self.norm_ff = LayerNorm(c.adim)
        self.norm_mha = LayerNorm(c.adim)
        self.ff_scale = 0.5 if c.macaron_style else 1.0
        if c.macaron_style:
            self.norm_ff_macaron = LayerNorm(c.adim)
        if c.use_cnn_module:
            self.norm_conv = LayerNorm(c.adim)
            self.norm_final = LayerNorm(c.adim)

    def forward(self, x, pos_emb, mask=None):
        if self.feed_forward_macaron is not None:
            x = x + self.ff_scale * self.feed_forward_macaron(self.norm_ff_macaron(x))
        y = self.norm_mha(x)
        x = x + self.self_attn(y, y, y, pos_emb, mask)
        if self.conv_module is not None:
            x = x + self.conv_module(self.norm_conv(x))
        x = x + self.ff_scale * self.feed_forward(self.norm_ff(x))
        if self.conv_module is not None:
            x = self.norm_final(x)
        return x


class ConformerEncoder(nn.Module):
    def __init__(self, c: ArchConfig):
        super().__init__()
        self.embed = RelPositionalEncoding(c.adim, c.rel_pos_type)
        self.encoders = nn.ModuleList([ConformerLayer(c) for _ in range(c.elayers)])
        self.after_norm = LayerNorm(c.adim)

    def forward(self, x, mask=None):
        x, pos_emb = self.embed(x)
        for layer in self.encoders:
            x = layer(x, pos_emb, mask)
        return self.after_norm(x)


# --- Transformer decoder --------------------------------------------------------------------------


class DecoderLayer(nn.Module):
    def __init__(self, c: ArchConfig):
        super().__init__()
        self.self_attn = MultiHeadedAttention(c.dheads, c.ddim)
        self.src_attn = MultiHeadedAttention(c.dheads, c.ddim)
        self.feed_forward = PositionwiseFeedForward(c.ddim, c.dunits)
        self.norm1 = LayerNorm(c.ddim)
        self.norm2 = LayerNorm(c.ddim)
        self.norm3 = LayerNorm(c.ddim)

    def forward(self, x, tgt_mask, memory):
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, tgt_mask)
        y = self.norm2(x)
        x = x + self.src_attn(y, memory, memory, None)
        return x + self.feed_forward(self.norm3(x))


class TransformerDecoder(nn.Module):
    """Embedding + absolute positions, pre-norm layers, output layer (ESPnet's Decoder)."""

    def __init__(self, c: ArchConfig, max_len: int = 5000):
        super().__init__()
        self.embed = nn.Sequential(nn.Embedding(c.odim, c.ddim))
        self.decoders = nn.ModuleList([DecoderLayer(c) for _ in range(c.dlayers)])
        self.after_norm = LayerNorm(c.ddim)
        self.output_layer = nn.Linear(c.ddim, c.odim)
        self.xscale = math.sqrt(c.ddim)
        self.register_buffer("pe", sinusoids(torch.arange(0, max_len, dtype=torch.float32), c.ddim).unsqueeze(0), persistent=False)

    def embed_tokens(self, ys, offset: int = 0):
        return self.embed(ys) * self.xscale + self.pe[:, offset : offset + ys.shape[1]]

    def forward_one_step(self, ys, memory):
        """ESPnet's forward_one_step without a cache: the next token's log-probabilities after each prefix."""
        length = ys.shape[1]
        mask = torch.tril(torch.ones(length, length, dtype=torch.bool)).unsqueeze(0)
        x = self.embed_tokens(ys)
        for layer in self.decoders:
            x = layer(x, mask, memory)
        return torch.log_softmax(self.output_layer(self.after_norm(x[:, -1])), dim=-1)


class AutoAvsrVisual(nn.Module):
    """The whole model, named as Auto-AVSR's E2E: frontend, proj_encoder, encoder, decoder, ctc."""

    def __init__(self, c: ArchConfig):
        super().__init__()
        self.config = c
        self.frontend = Conv3dResNet(c.relu_type, c.frontend_channels)
        self.proj_encoder = nn.Linear(512, c.adim)
        self.encoder = ConformerEncoder(c)
        self.proj_decoder = nn.Linear(c.adim, c.ddim) if c.proj_decoder else None
        self.decoder = TransformerDecoder(c)
        self.ctc = nn.Module()
        self.ctc.ctc_lo = nn.Linear(c.adim, c.odim)

    def encode(self, video_ncthw):
        """(N, 1, T, H, W) normalised frames -> CTC log-probabilities (N, T, V) and the decoder's memory (N, T, D)."""
        features = self.encoder(self.proj_encoder(self.frontend(video_ncthw)))
        log_probs = torch.log_softmax(self.ctc.ctc_lo(features), dim=-1)
        memory = self.proj_decoder(features) if self.proj_decoder is not None else features
        return log_probs, memory, features
