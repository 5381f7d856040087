"""Region-level and composed-retrieval losses as plugins (kind ``losses``).

SPRC's ``itc``, ``rtc`` and ``align`` (``sprc``), a region contrastive loss that uses the boxes
(``region_itc``), FG-CLIP's region-text and hard-negative losses (``fgclip``), a learnable
temperature shared between losses (``temperature``), the base class with ``loss_weight`` and
``consumes`` (``base``) and ``LossSet``, which calls each loss with the model outputs it consumes
and returns an mmengine ``parse_losses``-compatible dict (``loss_set``).  Nothing is imported
here: importing this package has no side effects.
"""
