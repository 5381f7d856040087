"""FG-CLIP's attention-free last block: every block style against the real block, and parity with FG-CLIP's code."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from regionkit.models.region_features.dense import (
    AttentionFreeBlock,
    attention_free_block,
    block_style,
    dense_feature_map,
    dense_patch_features,
)
from regionkit.models.region_features.grid import boxes_norm_to_grid
from regionkit.models.region_features.roi import roi_align_tokens
from tests.models.region_features._fixtures import load_cases, unpack

D, HEADS = 8, 2


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = q.shape
    split = [t.reshape(b, n, heads, d // heads).transpose(1, 2) for t in (q, k, v)]
    return F.scaled_dot_product_attention(*split).transpose(1, 2).reshape(b, n, d)


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class QuickGELUMLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))


class HFSelfAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), HEADS))


class HFCLIPLayer(nn.Module):
    """Attribute names and forward of Hugging Face / FG-CLIP ``CLIPEncoderLayer`` (batch first)."""

    seq_first = False

    def __init__(self, dim: int = D) -> None:
        super().__init__()
        self.self_attn = HFSelfAttention(dim)
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = QuickGELUMLP(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class OpenAIBlock(nn.Module):
    """OpenAI CLIP / open_clip ``ResidualAttentionBlock`` (sequence first), optionally with layer scale."""

    seq_first = True

    def __init__(self, dim: int = D, layer_scale: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, HEADS)
        self.ln_1, self.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ls_1 = LayerScale(dim) if layer_scale else nn.Identity()
        self.ls_2 = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.ls_1(self.attn(y, y, y, need_weights=False)[0])
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class QkvAttention(nn.Module):
    def __init__(self, dim: int, eva: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=not eva)
        if eva:  # LAVIS eva_vit: q and v biases, no k bias
            self.q_bias, self.v_bias = nn.Parameter(torch.randn(dim)), nn.Parameter(torch.randn(dim))
        self.proj = nn.Linear(dim, dim)
        self.eva = eva

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias]) if self.eva else self.qkv.bias
        q, k, v = F.linear(x, self.qkv.weight, bias).chunk(3, dim=-1)
        return self.proj(_attention(q, k, v, HEADS))


class QkvBlock(nn.Module):
    """EVA (``gamma_1``/``gamma_2`` parameters) or timm (``ls1``/``ls2`` modules) ViT block (batch first)."""

    seq_first = False

    def __init__(self, dim: int = D, eva: bool = True) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = QkvAttention(dim, eva)
        self.mlp = nn.Sequential(nn.Linear(dim, 3 * dim), nn.GELU(), nn.Linear(3 * dim, dim))
        if eva:
            self.gamma_1, self.gamma_2 = nn.Parameter(torch.rand(dim) + 0.5), nn.Parameter(torch.rand(dim) + 0.5)
        else:
            self.ls1, self.ls2 = LayerScale(dim), LayerScale(dim)
        self.eva = eva

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.eva:
            x = x + self.gamma_1 * self.attn(self.norm1(x))
            return x + self.gamma_2 * self.mlp(self.norm2(x))
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


def _randomise_norms(block: nn.Module) -> nn.Module:
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.add_(0.5 * torch.randn_like(module.weight))
                module.bias.add_(0.5 * torch.randn_like(module.bias))
    return block.double().eval()


BLOCKS = {
    "hf_clip": lambda: HFCLIPLayer(),
    "openai_clip": lambda: OpenAIBlock(),
    "openai_clip_layer_scale": lambda: OpenAIBlock(layer_scale=True),
    "eva": lambda: QkvBlock(eva=True),
    "timm": lambda: QkvBlock(eva=False),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_attention_free_equals_the_block_on_single_token_sequences(name):
    torch.manual_seed(0)
    block = _randomise_norms(BLOCKS[name]())
    x = torch.randn(3, 10, D, dtype=torch.float64)
    singles = x.reshape(1, 30, D) if block.seq_first else x.reshape(30, 1, D)
    with torch.no_grad():
        expected = block(singles).reshape(3, 10, D)
        got = attention_free_block(block, x)
        full = block(x.transpose(0, 1)).transpose(0, 1) if block.seq_first else block(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert (got - full).abs().max() > 1e-3  # with real token mixing the block differs


def test_block_styles_and_unknown_blocks():
    assert block_style(HFCLIPLayer()) == "hf_clip"
    assert block_style(OpenAIBlock()) == "openai_clip"
    assert block_style(QkvBlock()) == "qkv"
    with pytest.raises(TypeError, match="CLIP-style"):
        attention_free_block(nn.Linear(4, 4), torch.randn(2, 4))
    with pytest.raises(TypeError):
        AttentionFreeBlock(nn.Linear(4, 4))


def test_attention_free_module_shares_the_block_parameters():
    block = OpenAIBlock()
    wrapper = AttentionFreeBlock(block)
    wrapper(torch.randn(2, 5, D)).sum().backward()
    assert block.attn.in_proj_weight.grad is not None and block.attn.out_proj.weight.grad is not None
    assert block.attn.in_proj_weight.grad[: 2 * D].abs().max() == 0  # q and k rows are unused


def test_dense_feature_map_layout():
    block = HFCLIPLayer().double()
    hidden = torch.randn(2, 1 + 3 * 4, D, dtype=torch.float64)
    tokens = dense_patch_features(hidden, block, grid_size=(3, 4))
    fmap = dense_feature_map(hidden, block, grid_size=(3, 4))
    assert tokens.shape == (2, 12, D) and fmap.shape == (2, D, 3, 4)
    assert torch.equal(fmap[1, :, 2, 1], tokens[1, 2 * 4 + 1])


# ---------------------------------------------------------------------- parity with FG-CLIP's own code
REFERENCE = load_cases("fgclip_dense_roi.pt")


def _fgclip_modules(dtype: torch.dtype) -> tuple[nn.Module, nn.Module, nn.Module]:
    weights = REFERENCE["weights"]
    layer = HFCLIPLayer(D)
    layer.load_state_dict({k.removeprefix("layer."): v for k, v in weights.items() if k.startswith("layer.")})
    post = nn.LayerNorm(D)
    post.load_state_dict({k.removeprefix("post_layernorm."): v for k, v in weights.items()
                          if k.startswith("post_layernorm.")})
    proj = nn.Linear(D, weights["visual_projection.weight"].shape[0], bias=False)
    proj.load_state_dict({"weight": weights["visual_projection.weight"]})
    return layer.to(dtype), post.to(dtype), proj.to(dtype)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_dense_and_roi_features_match_fgclip(dtype, tol):
    case = REFERENCE[str(dtype).removeprefix("torch.")]
    layer, post, proj = _fgclip_modules(dtype)
    hidden = case["hidden_states"].to(dtype)
    with torch.no_grad():
        dense = dense_patch_features(hidden, layer, post_norm=post, projection=proj)
    torch.testing.assert_close(dense, case["dense_tokens"].to(dtype), rtol=0, atol=tol)
    grid_boxes = boxes_norm_to_grid(case["boxes_norm"].float(), (5, 5))
    torch.testing.assert_close(grid_boxes, case["grid_boxes"].float(), rtol=0, atol=0)
    regions = roi_align_tokens(dense, list(grid_boxes), has_cls=False)  # padded boxes kept, as FG-CLIP
    # FG-CLIP always pools in fp32 (feature_map.type(torch.float32)), hence 1e-5 for both dtypes
    torch.testing.assert_close(regions.features.double(), case["roi_features"], rtol=0, atol=1e-5)
    padding = [k >= n for n in case["box_nums"].long().tolist() for k in range(4)]
    assert not regions.valid[torch.tensor(padding)].any()  # FG-CLIP's zero padding boxes: zero features, invalid
    assert regions.valid.tolist() == [True, True, False, False, True, True, True, False, True, False, False, False]


def test_fixture_unpacks():
    raw = torch.load(__import__("pathlib").Path(__file__).parent / "fixtures" / "fgclip_dense_roi.pt",
                     weights_only=True)
    assert raw["source"].startswith("360CVGroup/FG-CLIP@0fcea59")
    assert set(unpack(raw["float32"])) >= {"hidden_states", "dense_tokens", "roi_features"}
