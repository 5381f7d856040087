"""Text encoders and tokenizers of the native models (for example the CLIP text transformer
with ovdet's pseudo-word and block-k encoders in ``clip_text``, and the lazily imported CLIP
BPE tokenizer in ``clip_tokenizer``).  No imports here.
"""
