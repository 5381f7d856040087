"""Region features from ViT token grids: RoI Align with FG-CLIP's conventions, box mapping through preprocessing.

``grid`` turns a ``[B, N, D]`` token tensor into its patch grid (CLS token detected from the
token count) and converts boxes to grid units; ``roi`` pools one feature per box for a whole
batch in one vectorised call (``torchvision.ops.roi_align(output_size=(1, 1), spatial_scale=1,
sampling_ratio=-1, aligned=True)`` semantics, computed in fp32); ``separable`` is the exact,
faster reformulation of that RoI Align used by default; ``geometry`` describes preprocessing
pipelines (SPRC's TargetPad/SquarePad, CLIP's resize + crop, plain resizes) as affine maps and
``box_mapping`` maps boxes normalised on the original image through them into model-input
pixels, clipped and flagged; ``dense`` is FG-CLIP's attention-free last block for dense patch features;
``embedder`` pools, projects and L2-normalises region features for a region loss.  Nothing is
imported here: importing this package has no side effects.
"""
