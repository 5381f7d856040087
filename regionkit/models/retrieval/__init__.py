"""Composed image retrieval models (torch only): SPRC's BLIP-2 Q-Former with sentence-level prompts (``sprc``).

Nothing is imported here: importing this package has no side effects.
"""
