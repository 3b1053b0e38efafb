"""The generated config reference is up to date; the relation-head walk-through runs as written."""

import re
from pathlib import Path

import yaml

from sgg.config import all_keys, get_cfg
from sgg.config.reference import config_comments, render_config_reference
from sgg.modeling.heads.registry import RELATION_HEAD_REGISTRY

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _blocks(text: str, language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_config_reference_is_generated_and_up_to_date():
    committed = (DOCS / "config_reference.md").read_text(encoding="utf-8")
    assert committed == render_config_reference(), "run: python tools/dump_config_reference.py"
    comments = config_comments()
    keys = all_keys(get_cfg())
    assert set(keys) <= set(comments) and all(comments[k] for k in keys)
    assert (
        "| `MODEL.ROI_RELATION_HEAD.USE_GT_BOX` | `True` | predcls/sgcls: use GT boxes (False = sgdet) |"
        in committed
    )


def test_reference_follows_aliases_in_source():
    source = """
def add(cfg):
    cfg.MODEL.NEW = _C = CN()
    _C.A = 1  # first
    _C.SUB = CN()
    _S = _C.SUB
    _S.B = (1, 2)  # second
    cfg.TOP = "x"  # third
"""
    from sgg.config.reference import _comments_of

    assert _comments_of(source, "<test>") == {
        "MODEL.NEW.A": "first",
        "MODEL.NEW.SUB.B": "second",
        "TOP": "third",
    }


def test_relation_head_walkthrough_runs():
    text = (DOCS / "adding_a_relation_head.md").read_text(encoding="utf-8")
    code = _blocks(text, "python")
    assert len(code) == 3
    RELATION_HEAD_REGISTRY._obj_map.pop("PairMLPHead", None)
    try:
        namespace = {"__name__": "doc_example"}
        for block in code:
            exec(compile(block, "docs/adding_a_relation_head.md", "exec"), namespace)
        assert RELATION_HEAD_REGISTRY.get("PairMLPHead") is namespace["PairMLPHead"]
        (config,) = _blocks(text, "yaml")
        cfg = get_cfg()
        cfg.merge_from_other_cfg(
            type(cfg)(yaml.safe_load(config.replace('_BASE_: "configs/toy/Base-toy.yaml"\n', "")))
        )
        assert cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR == "PairMLPHead"
    finally:
        RELATION_HEAD_REGISTRY._obj_map.pop("PairMLPHead", None)
