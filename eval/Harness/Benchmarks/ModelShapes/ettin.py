#!/usr/bin/env python3
"""Writes ettin-{encoder,decoder}-{17m,...,1b}.json: the Ettin suite's shapes for `bench decode` (random weights).

No jhu-clsp config.json could be read here, so these are written from what JHU-CLSP/ettin-encoder-vs-decoder publishes:
the README's "Model Architecture" table (layers, hidden, intermediate, heads; vocabulary 50,368, the ModernBERT
tokenizer) cross-checked against pretraining/configs/standard/<size>/prolong_decay/{encoder,decoder}_<size>.yaml, the
last training stage (vocab_size, num_hidden_layers, hidden_size, intermediate_size, num_attention_heads,
sliding_window 128 = ModernBERT's local_attention, global_attn_every_n_layers 3, max_seq_len 7999, rotary_emb_base
160000, no biases, LayerNorm eps 1e-5 without bias). The special token ids are ModernBERT's tokenizer's (and
transformers' ModernBertDecoderConfig defaults). The local RoPE base differs between the yamls and does not change
speed, so it is left out (the global base then serves every layer). Run: python3 ettin.py
"""
import json

SIZES = {  # name: (yaml size, layers, hidden, intermediate, heads)
    "17m": ("very_tiny", 7, 256, 384, 4),
    "32m": ("tiny", 10, 384, 576, 6),
    "68m": ("mini", 19, 512, 768, 8),
    "150m": ("base", 22, 768, 1152, 12),
    "400m": ("large", 28, 1024, 2624, 16),
    "1b": ("huge", 28, 1792, 3840, 28),
}

for kind in ("encoder", "decoder"):
    for size, (yaml, layers, hidden, inner, heads) in SIZES.items():
        config = {
            "_source": f"written by ettin.py from JHU-CLSP/ettin-encoder-vs-decoder (README 'Model Architecture'; "
                       f"pretraining/configs/standard/{yaml}/prolong_decay/{kind}_{yaml}.yaml), not a copy of "
                       f"jhu-clsp/ettin-{kind}-{size}'s config.json",
            "architectures": ["ModernBertForMaskedLM" if kind == "encoder" else "ModernBertDecoderForCausalLM"],
            "model_type": "modernbert" if kind == "encoder" else "modernbert-decoder",
            "vocab_size": 50368,
            "hidden_size": hidden,
            "intermediate_size": inner,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "hidden_activation": "gelu",
            "classifier_activation": "gelu",
            "max_position_embeddings": 7999,
            "local_attention": 128,
            "global_attn_every_n_layers": 3,
            "global_rope_theta": 160000.0,
            "norm_eps": 1e-05,
            "norm_bias": False,
            "attention_bias": False,
            "mlp_bias": False,
            "classifier_bias": False,
            "decoder_bias": True,
            "tie_word_embeddings": True,
            "pad_token_id": 50283,
            "bos_token_id": 50281,
            "eos_token_id": 50282,
            "cls_token_id": 50281,
            "sep_token_id": 50282,
        }
        with open(f"ettin-{kind}-{size}.json", "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
