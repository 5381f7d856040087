# SegGPT in-context segmentation (prompt image + mask -> boxes of the same thing) -> Patch Matters four boxes.
# Each connected component of a predicted class becomes a box (score: mean colour-decoding margin, label: class id);
# the masks are saved as PNGs by the seggpt_masks writer.
#   regionkit infer configs/seggpt_four_box.py --images DIR -o detector.model=checkpoints/seggpt-vit-large \
#       -o "detector.prompts=['prompts/images/scratch_1.png']"
# Weights are local (nothing is downloaded): a transformers folder (a copy of BAAI/seggpt-vit-large) or Painter's
# seggpt_vit_large.pth. A prompt's mask is found in prompt_label_dir, in a labels/ folder beside its images/ folder, or
# given as a pair: "detector.prompts=[['a.png','a_mask.png']]". Prompt selection: select='fixed' (all prompts),
# 'mapping' (mapping={query: [prompt, ...]} JSON, query_root=DIR) or 'similarity' (top_k nearest by CLIP features
# from clip_model=DIR, written to mapping_out=FILE).
_base_ = ['../_base_/patch_matters_divide.py']

detector = dict(
    type='seggpt',
    model='checkpoints/seggpt-vit-large',
    prompts=[],
    prompt_label_dir=None,
    select='fixed', mapping=None, top_k=2, query_root=None, mapping_out=None,
    mask_mode='auto',          # 'binary', 'index' (class ids) or 'color'; auto-detected per mask
    class_names=None,          # names of class ids 1..K (binary masks: 'foreground')
    embedding_type='auto',     # 'semantic' for SegGPT-FineTune checkpoints, else 'instance'
    ensemble='painter',        # Painter's multi-prompt feature ensemble ('transformers', 'off')
    split=1, seam_pass=True, stitch_width=4,    # split=2: 2x2 tiles for small objects, seams redrawn
    min_area_norm=0.0001, min_area_px=4.0, min_score=0.0, max_boxes=100,
    device='cpu',              # 'cuda' on a GPU machine
)

writers = [
    dict(type='patch_matters_four_box', filename='four_box.json',
         object_boxes='merged', four_box='four_box', two_box='two_box'),
    dict(type='patch_matters_object_box', filename='object_box.json', boxes='kept'),
    dict(type='seggpt_masks', folder='masks', format='index'),   # class-id PNGs + masks/index.json
]

runtime = dict(batch_size=1, num_workers=2, seed=0)
