"""The relation stage: pair proposal and sampling, pair features, label NMS, post-processing."""
from .features import (
    ObjectFeatureExtractor,
    SpatialMaskEncoder,
    UnionFeatureExtractor,
    encode_box_info,
    spatial_masks,
    union_boxes,
)
from .label_nms import greedy_label_nms
from .pairs import (
    RelationPairSampler,
    SampledPairs,
    assign_labels_by_iou,
    overlap_matrix,
    propose_pairs,
)
from .postprocess import RelationPostProcessor

__all__ = [
    "ObjectFeatureExtractor",
    "SpatialMaskEncoder",
    "UnionFeatureExtractor",
    "encode_box_info",
    "spatial_masks",
    "union_boxes",
    "greedy_label_nms",
    "RelationPairSampler",
    "SampledPairs",
    "assign_labels_by_iou",
    "overlap_matrix",
    "propose_pairs",
    "RelationPostProcessor",
]
