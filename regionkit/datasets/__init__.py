"""Training and evaluation datasets of composed image retrieval, their transforms and collate function.

``cirr`` (:class:`~regionkit.datasets.cirr.CirrDataset`), ``fashioniq``
(:class:`~regionkit.datasets.fashioniq.FashionIQDataset`) and ``photo_edits``
(:class:`~regionkit.datasets.photo_edits.PhotoEditsDataset`, a small real-photo task in CIRR's
layout) are components of kind ``datasets``; each item is a dict that
:func:`~regionkit.datasets.collate.retrieval_collate` batches into the model's inputs.
Images go through SPRC's preprocessing (:class:`~regionkit.datasets.transforms.SprcTransform`)
with their boxes mapped onto the model input.  For the training half: nothing here is imported
by inference.
"""
