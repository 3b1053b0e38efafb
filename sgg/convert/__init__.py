"""Converters from other frameworks' checkpoints to this toolkit's run folders (config + weights)."""
from .sgb import convert_sgb
from .sgb_config import SGBConfigError
from .sgb_weights import SGBWeightsError, read_sgb_checkpoint, sgb_init_state

__all__ = ["convert_sgb", "SGBConfigError", "SGBWeightsError", "read_sgb_checkpoint", "sgb_init_state"]
