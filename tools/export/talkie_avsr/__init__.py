"""Talkie's own PyTorch definition of the Auto-AVSR visual speech recognition architecture.

Written from the published architecture (a ResNet-18 3-D front-end, a Conformer encoder with
relative positional self-attention and a CTC head, a Transformer decoder), so that importing a
checkpoint needs no upstream checkout and Talkie ships no upstream code. Tensor names follow
upstream's state dicts so that a checkpoint loads by name.
"""
