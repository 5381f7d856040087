# The original Patch Matters recipe: BARON open-vocabulary detector -> four boxes.
# The BARON detector is planned for a later release; today this config stops with a clear message.
_base_ = ['../_base_/patch_matters_divide.py']

detector = dict(
    type='baron',
    config='checkpoints/baron_kd_faster_rcnn_r50_fpn_syncbn_90kx2.py',
    checkpoint='checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth',
    device='cpu',
)
