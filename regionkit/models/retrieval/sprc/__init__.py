"""SPRC (chunmeifeng/SPRC, ICLR 2024): BLIP-2's Q-Former with sentence-level prompts for composed image retrieval.

Modules: ``model`` (:class:`~regionkit.models.retrieval.sprc.model.SprcModel`, the registered
``sprc`` model), ``qformer`` (the Q-Former with SPRC's two edits), ``checkpoint`` (loading BLIP-2 /
SPRC files safely), ``presets`` (``pretrain``, ``pretrain_vitL``, ``tiny``), ``caption`` (LAVIS's
``BlipCaptionProcessor``) and ``testing`` (seeded weights in SPRC's layout, for tests).  The image
encoders are in :mod:`regionkit.models.backbones` (``eva_vit``, ``clip_vit``), the tokenizer in
:mod:`regionkit.models.text.bert_tokenizer`.  Nothing is imported here: importing this package has
no side effects.
"""
