"""Registry of relation heads."""
from fvcore.common.registry import Registry

RELATION_HEAD_REGISTRY = Registry("RELATION_HEAD")
RELATION_HEAD_REGISTRY.__doc__ = """
Registry of relation heads (one per model), keyed by the value of
``MODEL.ROI_RELATION_HEAD.PREDICTOR`` (e.g. ``MotifPredictor``, ``CoRE``, ``CReaL``).

A registered class is an ``nn.Module`` subclass of :class:`sgg.modeling.heads.base.RelationHead`:

* its ``__init__`` takes plain values (class counts, widths, statistics tensors, word vectors),
  never a config, so a head can be built in a test without a dataset;
* its classmethod ``from_config(cfg, metadata, in_dims)`` returns the ``__init__`` kwargs, where
  ``metadata`` is the training dataset's :class:`sgg.data.catalog.DatasetMetadata` and
  ``in_dims`` a dict with ``obj_feat_dim`` and ``union_feat_dim``;
* ``forward(inputs: RelationHeadInputs) -> RelationHeadOutputs``; losses only in training.
"""


def build_relation_head(cfg, metadata, in_dims):
    """Build the relation head named by ``cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR``."""
    cls = RELATION_HEAD_REGISTRY.get(cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR)
    return cls(**cls.from_config(cfg, metadata, in_dims))
