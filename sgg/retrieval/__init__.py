"""Nearest-neighbour retrieval over scene-graph embeddings (exact Lorentz, tangent HNSW + re-rank, cosine)."""
from .index import (  # noqa: F401
    CosineIndex,
    ExactLorentzIndex,
    IndexFormatError,
    RetrievalIndex,
    TangentHNSWIndex,
    load_index,
)
