"""The toolkit's config object: an fvcore ``CfgNode`` that fails loudly on unknown keys.

Precedence is the field's usual one: command line ``KEY VALUE`` pairs override the YAML
file, which overrides the defaults in :mod:`sgg.config.defaults`. YAML files may name a
``_BASE_`` file (relative paths resolve against the including file).
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, List

from fvcore.common.config import CfgNode as _FvCfgNode

__all__ = ["CfgNode", "all_keys"]


def all_keys(node: _FvCfgNode, prefix: str = "") -> List[str]:
    """Every leaf key of ``node`` in dotted form (``MODEL.ROI_RELATION_HEAD.PREDICTOR``)."""
    out: List[str] = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        if isinstance(v, _FvCfgNode):
            out.extend(all_keys(v, full + "."))
        else:
            out.append(full)
    return out


class CfgNode(_FvCfgNode):
    """fvcore CfgNode whose merge errors name the unknown key and suggest the closest known one."""

    def _suggest(self, key: str) -> str:
        known = all_keys(self)
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        if not close:
            # also try matching only the last component
            last = key.split(".")[-1]
            close = [k for k in known if k.split(".")[-1] == last][:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"Unknown config key '{key}'.{hint}"

    def _check_keys(self, other: _FvCfgNode, source: str) -> None:
        known = set(all_keys(self))
        for key in all_keys(other):
            if key.startswith("_BASE_"):
                continue
            if key not in known:
                # a key whose parent is a leaf dict-like value is also unknown
                raise KeyError(f"{self._suggest(key)} (in {source})")

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:  # noqa: D102
        loaded = self.load_yaml_with_base(cfg_filename, allow_unsafe=allow_unsafe)
        loaded = type(self)(loaded)
        self._check_keys(loaded, cfg_filename)
        self.merge_from_other_cfg(loaded)

    def merge_from_list(self, cfg_list: List[Any]) -> None:  # noqa: D102
        if len(cfg_list) % 2:
            raise ValueError(
                f"Config overrides must come in KEY VALUE pairs; got an odd number of items: {cfg_list}"
            )
        known = set(all_keys(self))
        for key in cfg_list[0::2]:
            if key not in known:
                raise KeyError(f"{self._suggest(key)} (in command-line overrides)")
        super().merge_from_list(cfg_list)

    def dump_keys(self) -> Iterable[str]:
        """Alias of :func:`all_keys` for this node."""
        return all_keys(self)
