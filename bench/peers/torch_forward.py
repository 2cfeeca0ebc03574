#!/usr/bin/env python3
"""PyTorch CPU peer for `bench forward`: the same forward as ours, in eager PyTorch, with random weights.

Builds a ModernBertForMaskedLM- or XLMRobertaForMaskedLM-shaped encoder from a config.json (the computation of
transformers' eager path, written out because Debian's python3-torch comes without transformers), runs
batch x seq tokens through it plus the MLM head at one position per sequence, and prints one JSON line with the
median seconds over the repetitions after a warm-up.
"""
import argparse, json, math, statistics, time
import torch
import torch.nn.functional as F


def rope_tables(theta, head_dim, seq):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = torch.outer(torch.arange(seq).float(), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def attention(q, k, v, mask):
    # q, k, v: [B, heads, S, d]; mask: additive [B or 1, 1, S, S]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask
    return torch.softmax(scores, dim=-1) @ v


class ModernBert(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        self.c, self.heads = c, c["num_attention_heads"]
        self.emb = torch.nn.Parameter(torch.randn(v, h) * 0.02)
        self.emb_norm = torch.nn.Parameter(torch.ones(h))
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            m = torch.nn.Module()
            m.attn_norm = torch.nn.Parameter(torch.ones(h))
            m.wqkv = torch.nn.Linear(h, 3 * h, bias=False)
            m.wo = torch.nn.Linear(h, h, bias=False)
            m.mlp_norm = torch.nn.Parameter(torch.ones(h))
            m.wi = torch.nn.Linear(h, 2 * i, bias=False)
            m.mlp_wo = torch.nn.Linear(i, h, bias=False)
            self.layers.append(m)
        self.final_norm = torch.nn.Parameter(torch.ones(h))
        self.head_dense = torch.nn.Linear(h, h, bias=False)
        self.head_norm = torch.nn.Parameter(torch.ones(h))
        self.decoder_bias = torch.nn.Parameter(torch.zeros(v))

    def forward(self, ids, mask, at):
        c, B, S = self.c, ids.shape[0], ids.shape[1]
        h = c["hidden_size"]; d = h // self.heads; eps = c["norm_eps"]
        ln = lambda x, w: F.layer_norm(x, (h,), w, None, eps)
        x = ln(F.embedding(ids, self.emb), self.emb_norm)
        pad = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        dist = (torch.arange(S)[None, :] - torch.arange(S)[:, None]).abs()
        window = torch.where(dist <= c["local_attention"] // 2, 0.0, torch.finfo(torch.float32).min)[None, None]
        tables = {"global": rope_tables(c["global_rope_theta"], d, S), "local": rope_tables(c["local_rope_theta"], d, S)}
        for n, m in enumerate(self.layers):
            is_global = n % c["global_attn_every_n_layers"] == 0
            cos, sin = tables["global" if is_global else "local"]
            y = x if n == 0 else ln(x, m.attn_norm)
            q, k, v = m.wqkv(y).view(B, S, 3, self.heads, d).permute(2, 0, 3, 1, 4)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            a = attention(q, k, v, pad if is_global else pad + window)
            x = x + m.wo(a.transpose(1, 2).reshape(B, S, h))
            inp, gate = m.wi(ln(x, m.mlp_norm)).chunk(2, dim=-1)
            x = x + m.mlp_wo(F.gelu(inp) * gate)
        x = ln(x, self.final_norm)
        sel = x[torch.arange(B), at]
        sel = ln(F.gelu(self.head_dense(sel)), self.head_norm)
        return sel @ self.emb.t() + self.decoder_bias


class XlmRoberta(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        self.c, self.heads = c, c["num_attention_heads"]
        self.word = torch.nn.Parameter(torch.randn(v, h) * 0.02)
        self.pos = torch.nn.Parameter(torch.randn(c["max_position_embeddings"], h) * 0.02)
        self.token_type = torch.nn.Parameter(torch.randn(1, h) * 0.02)
        self.emb_norm = torch.nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            m = torch.nn.Module()
            m.q, m.k, m.v = (torch.nn.Linear(h, h) for _ in range(3))
            m.o = torch.nn.Linear(h, h)
            m.ln1 = torch.nn.LayerNorm(h, eps=c["layer_norm_eps"])
            m.inter = torch.nn.Linear(h, i)
            m.out = torch.nn.Linear(i, h)
            m.ln2 = torch.nn.LayerNorm(h, eps=c["layer_norm_eps"])
            self.layers.append(m)
        self.head_dense = torch.nn.Linear(h, h)
        self.head_norm = torch.nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.bias = torch.nn.Parameter(torch.zeros(v))

    def forward(self, ids, mask, at):
        c, B, S = self.c, ids.shape[0], ids.shape[1]
        h = c["hidden_size"]; d = h // self.heads; pad_id = c["pad_token_id"]
        nonpad = (ids != pad_id).int()
        positions = torch.cumsum(nonpad, dim=1) * nonpad + pad_id
        x = self.emb_norm(F.embedding(ids, self.word) + F.embedding(positions, self.pos) + self.token_type[0])
        pad = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        split = lambda t: t.view(B, S, self.heads, d).transpose(1, 2)
        for m in self.layers:
            a = attention(split(m.q(x)), split(m.k(x)), split(m.v(x)), pad)
            x = m.ln1(x + m.o(a.transpose(1, 2).reshape(B, S, h)))
            x = m.ln2(x + m.out(F.gelu(m.inter(x))))
        sel = self.head_norm(F.gelu(self.head_dense(x[torch.arange(B), at])))
        return sel @ self.word.t() + self.bias


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = json.load(open(a.config))
    model = (ModernBert if c["model_type"] == "modernbert" else XlmRoberta)(c).eval()
    ids = torch.randint(5, 1000, (a.batch, a.seq))
    mask = torch.ones_like(ids)
    at = torch.full((a.batch,), a.seq - 1)
    times = []
    with torch.inference_mode():
        for r in range(a.reps + 1):
            t = time.perf_counter()
            model(ids, mask, at)
            if r > 0:
                times.append(time.perf_counter() - t)
    median = statistics.median(times)
    print(json.dumps({"peer": f"pytorch {torch.__version__} eager", "threads": torch.get_num_threads(),
                      "median_s": median, "min_s": min(times), "max_s": max(times),
                      "tokens_per_s": a.batch * a.seq / median}))


if __name__ == "__main__":
    main()
