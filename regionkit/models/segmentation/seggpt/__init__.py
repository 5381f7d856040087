"""SegGPT (BAAI's in-context segmentation ViT) behind the ``seggpt`` detector, and the parts its fine-tuning uses.

Modules, each small and testable on its own:

* ``palette``: the colours prompt masks are painted with, and nearest-colour decoding of a
  predicted colour map into class ids with a per-pixel confidence margin.
* ``canvas``: prompt masks read from files (0/1, 0/255, class indices, colours, JPEG noise),
  images and masks resized and normalised for the model, two images stacked into one canvas.
* ``masks_to_boxes``: connected components of a class map into scored, labelled
  :class:`~regionkit.structures.boxes.Boxes`.
* ``prompts``: prompt pairs, the mapping file ``{query: [prompt, ...]}``, top-k by
  image-feature cosine similarity, and the image encoders it uses.
* ``convert``: Painter's ``seggpt_vit_large.pth`` key layout to transformers' and back.
* ``model``: loading weights by local path, the forward pass with the chosen feature ensemble.
* ``tiling``: ``split`` tiled inference with a second pass over the seams.
* ``mask_store``: the masks the detector made, kept for the ``seggpt_masks`` writer.
* ``training``: pure functions for the fine-tuning recipe (repaint, patch masks, loss, IoU, schedule).

``palette``, ``canvas``, ``masks_to_boxes``, ``prompts`` (without an encoder) and ``mask_store``
import numpy only; torch and transformers are imported by ``model``, ``convert``, ``tiling`` and
``training``.  Nothing is imported here.
"""
