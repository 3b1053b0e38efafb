"""Registry of auxiliary heads."""
from fvcore.common.registry import Registry

AUX_HEAD_REGISTRY = Registry("AUX_HEAD")
AUX_HEAD_REGISTRY.__doc__ = """
Registry of auxiliary heads, keyed by the names listed in ``MODEL.AUXILIARY.HEADS``
(``hyp_retrieval``, ``hyp_hierarchy``, ``xmodal_masln``, ``xmodal_cdpae``).

A registered class subclasses :class:`sgg.modeling.auxiliary.base.AuxiliaryHead`, takes plain
values in ``__init__``, maps the config with ``from_config(cfg, metadata, rel_embed_dim)`` and
implements ``forward(inputs, outputs) -> AuxiliaryOutputs``. It reads ``outputs.rel_embed``,
labels, boxes and word vectors, returns its losses already weighted, and must never modify
``outputs.rel_logits``.
"""


def build_auxiliary_heads(cfg, metadata, rel_embed_dim):
    """Build the auxiliary heads listed in ``cfg.MODEL.AUXILIARY.HEADS`` (a name -> module dict)."""
    heads = {}
    for name in cfg.MODEL.AUXILIARY.HEADS:
        cls = AUX_HEAD_REGISTRY.get(name)
        heads[name] = cls(**cls.from_config(cfg, metadata, rel_embed_dim))
    return heads
