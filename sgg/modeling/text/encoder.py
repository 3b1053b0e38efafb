"""Caption encoder trained from scratch: mean-of-embeddings ("bag") or a 1-layer GRU."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

__all__ = ["CaptionEncoder"]


class CaptionEncoder(nn.Module):
    """Map padded token ids (B, L) with lengths (B,) to caption features (B, out_dim).

    Args:
        vocab_size: size of the :class:`WordTokenizer` vocabulary (id 0 = padding).
        embed_dim: word-embedding width.
        out_dim: output width.
        kind: ``"bag"`` (masked mean of word embeddings + linear) or ``"gru"`` (last hidden state).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, out_dim: int = 256, kind: str = "bag"):
        super().__init__()
        if kind not in ("bag", "gru"):
            raise ValueError(f"CaptionEncoder kind must be 'bag' or 'gru', got {kind!r}")
        if vocab_size < 3:
            raise ValueError(f"CaptionEncoder needs a vocabulary of at least 3 entries, got {vocab_size}")
        self.kind = kind
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.gru = nn.GRU(embed_dim, embed_dim, batch_first=True) if kind == "gru" else None
        self.out = nn.Linear(embed_dim, out_dim)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        emb = self.embedding(ids)
        if self.kind == "bag":
            mask = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).to(emb.dtype)
            pooled = (emb * mask[..., None]).sum(1) / lengths.clamp_min(1)[:, None].to(emb.dtype)
        else:
            packed = pack_padded_sequence(emb, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
            _, hidden = self.gru(packed)
            pooled = hidden[-1]
        return self.out(pooled)
