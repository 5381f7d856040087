"""The CLIP text transformer against a plain re-derivation of its maths."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from regionkit.models.text.clip_text import EOT_TOKEN, SOT_TOKEN, CLIPTextEncoder


def _tiny() -> CLIPTextEncoder:
    torch.manual_seed(0)
    enc = CLIPTextEncoder(embed_dim=16, context_length=12, vocab_size=EOT_TOKEN + 1, width=32, heads=4, layers=3)
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0, 0.2)
    return enc.eval()


def _naive(enc: CLIPTextEncoder, x: torch.Tensor, stepk: int) -> torch.Tensor:
    """Batch-first causal pre-LN transformer written out by hand."""
    n, length, d = x.shape
    h = enc.transformer.resblocks[0].attn.num_heads
    causal = torch.full((length, length), float("-inf")).triu(1)
    for blk in list(enc.transformer.resblocks)[:stepk]:
        y = blk.ln_1(x)
        q, k, v = F.linear(y, blk.attn.in_proj_weight, blk.attn.in_proj_bias).chunk(3, dim=-1)
        split = lambda t: t.view(n, length, h, d // h).transpose(1, 2)  # noqa: E731
        att = (split(q) @ split(k).transpose(-1, -2)) / (d // h) ** 0.5 + causal
        o = (att.softmax(-1) @ split(v)).transpose(1, 2).reshape(n, length, d)
        x = x + blk.attn.out_proj(o)
        z = blk.mlp.c_fc(blk.ln_2(x))
        x = x + blk.mlp.c_proj(z * torch.sigmoid(1.702 * z))
    return x


def test_pseudo_text_encoder_matches_naive_maths():
    enc = _tiny()
    words = torch.randn(5, 3, 32)
    with torch.no_grad():
        got = enc.encode_pseudo_text_endk(words, stepk=3)
        seq = torch.cat([enc.token_embedding.weight[SOT_TOKEN].expand(5, 1, 32), words,
                         enc.token_embedding.weight[EOT_TOKEN].expand(5, 1, 32)], 1)
        want = F.normalize(_naive(enc, seq + enc.positional_embedding[:5], 3)[:, -1], dim=-1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert torch.allclose(got.norm(dim=-1), torch.ones(5))


def test_text_endk_reads_the_eot_position_and_intermediate_blocks():
    enc = _tiny()
    ids = torch.zeros(2, 12, dtype=torch.long)
    ids[0, :4] = torch.tensor([SOT_TOKEN, 5, 6, EOT_TOKEN])
    ids[1, :3] = torch.tensor([SOT_TOKEN, 7, EOT_TOKEN])
    with torch.no_grad():
        for stepk in (1, 3):
            got = enc.encode_text_endk(ids, stepk=stepk)
            full = _naive(enc, enc.token_embedding(ids) + enc.positional_embedding, stepk)
            want = F.normalize(full[torch.arange(2), torch.tensor([3, 2])], dim=-1)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        # padding after EOT cannot influence the EOT output (causal mask)
        ids2 = ids.clone()
        ids2[0, 6] = 9
        torch.testing.assert_close(enc.encode_text_endk(ids2[:1], stepk=3), enc.encode_text_endk(ids[:1], stepk=3))
        assert enc.encode_text(ids).shape == (2, 16)
