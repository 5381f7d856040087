# Patch Matters' divide stage: BARON -> four_box.json and object_box.json (needs the BARON checkpoint).
# The BARON open-vocabulary detector on the checkpoint's 80 COCO classes -> score filter (> 0.3) -> neighbour merge -> four and two
# boxes -> four_box.json and object_box.json, as divide/generate_four_box.py wrote them.
#   regionkit infer configs/ovd_four_box.py --images DIR
# The checkpoint is a local file (nothing is downloaded): this_repo_R-50-FPN_CLIP_iter_90000.pth
# from ovdet's README, placed in checkpoints/ (or set -o detector.checkpoint=PATH).
_base_ = ['../_base_/patch_matters_divide.py']

detector = dict(
    type='baron',
    checkpoint='checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth',
    vocabulary=None,          # None: the checkpoint's COCO classes; or a .npy from `regionkit vocab build`
    device='cpu',             # 'cuda' on a GPU machine
    score_thr=0.01, nms_iou=0.5, max_per_img=100,
    batch_size=2,
)

runtime = dict(batch_size=2, num_workers=2, seed=0)
