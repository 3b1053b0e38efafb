"""Configuration: fvcore CfgNode defaults with SGB-compatible keys."""
from .config import CfgNode, all_keys
from .defaults import get_cfg

__all__ = ["CfgNode", "get_cfg", "all_keys"]
