"""A small caption tokenizer and text encoder trained from scratch (nothing downloaded)."""
from .encoder import CaptionEncoder
from .tokenizer import WordTokenizer

__all__ = ["WordTokenizer", "CaptionEncoder"]
