#!/usr/bin/env python3
"""PyTorch peer of `mlm-eval eval --task mmlu --templates modernbert_instruct_eval_py --scoring eval-py
--precision bf16 --max-batch-tokens N` on a GPU: the same 14,042 MMLU test prompts, rendered and tokenized the same
way (mmlu_prompts.py), the same batching, the same scoring, in transformers + PyTorch bf16 with SDPA attention.

Batching as the harness: per subject, the prompts sorted by token count (then row), cut into batches whose padded
size (rows x longest row) stays within --max-batch-tokens (a longer single prompt is a batch of its own).
Each batch: pad right, copy to the device, the encoder, then the MLM head on the [MASK] rows only; those logits are
copied to the host (float32) and scored as eval.py: P("X") + P(" X") for X in A..D, argmax.

Timed from after the model is loaded and warmed up (one batch) to the last logits on the host: reading the CSVs,
rendering, tokenizing, batching and the forward passes (the harness's run.json `timings.seconds` covers the same
ground, plus its score cache, and minus nothing: its kernels compile inside that time).

FLOPs for MFU (the formula both sides use): per prompt of S real tokens, 2 * P * S + 4 * L * S^2 * H, with P the
non-embedding parameters (the tied decoder counted once, as the embedding), L layers, H hidden size; the [MASK]-row
head (2 * H * (H + V) per prompt) is left out. ModernBERT's local layers attend to 128 tokens only, so the S^2 term
overstates their attention: it is the stated formula, not a count of the kernels' work. Peak: --peak-tflops
(default 989, the H100 and H200 SXM's dense BF16 tensor-core peak without sparsity).

With --ours DIR (our run folder) it also reads our run.json and samples_mmlu.jsonl: our seconds, prompts/s, tokens/s
and MFU on the same token counts, and how often our predictions equal the peer's (random weights and bf16 on both
sides: near-ties flip, so agreement is a sanity figure, not a pass criterion).
"""
import argparse, json, os, sys, time

# No torch.compile (transformers' ModernBERT compiles its embeddings and head when triton is there): set before torch
# is imported; reference_compile=False below as well. bench/gpu/run exports the same.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mmlu_prompts  # noqa: E402


def batches_by_budget(lengths, budget):
    """Index lists: sorted by (length, index), each batch's rows x longest <= budget (or a single row)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    out, cur = [], []
    for i in order:
        if cur and (len(cur) + 1) * lengths[i] > budget:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def flops(lengths, params, layers, hidden):
    return sum(2.0 * params * s + 4.0 * layers * s * s * hidden for s in lengths)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder (from transformers_reference.py)")
    p.add_argument("--tokenizer", required=True, help="folder with the ModernBERT tokenizer.json")
    p.add_argument("--data-dir", required=True, help="folder holding mmlu/test/<subject>_test.csv")
    p.add_argument("--max-batch-tokens", type=int, default=65536)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense peak for MFU (989: H100/H200 SXM BF16)")
    p.add_argument("--ours", help="our run folder (run.json, samples_mmlu.jsonl) to put beside the peer")
    p.add_argument("--ours-wall", type=float, help="wall seconds of our whole eval command (start to exit)")
    p.add_argument("--limit", type=int, help="first N prompts of each subject (a quick try; the check runs all)")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()

    import torch
    import transformers
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    result = {"peer": {"torch": torch.__version__, "transformers": transformers.__version__, "dtype": a.dtype,
                       "attn_implementation": "sdpa", "max_batch_tokens": a.max_batch_tokens, "device": a.device,
                       "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None},
              "peak_tflops": a.peak_tflops,
              "flops_formula": "sum over prompts of 2*P_nonembedding*S + 4*L*S^2*H (S real tokens)"}

    t_load = time.time()
    config = transformers.AutoConfig.from_pretrained(a.model)
    config.reference_compile = False
    result["peer"]["compile"] = "off (TORCHDYNAMO_DISABLE=1, reference_compile=False)"
    try:
        model = transformers.AutoModelForMaskedLM.from_pretrained(a.model, config=config, attn_implementation="sdpa", dtype=dtype)
    except TypeError:
        model = transformers.AutoModelForMaskedLM.from_pretrained(a.model, config=config, attn_implementation="sdpa", torch_dtype=dtype)
    model = model.to(device=a.device, dtype=dtype).eval()
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    P, L, H = params - emb, cfg.num_hidden_layers, cfg.hidden_size
    result["model"] = {"path": a.model, "parameters": params, "non_embedding_parameters": P, "layers": L, "hidden": H,
                       "vocab": cfg.vocab_size, "load_s": round(time.time() - t_load, 2)}
    tok = mmlu_prompts.tokenizer(a.tokenizer)
    spaced, bare = mmlu_prompts.choice_ids(tok)
    mask_id = tok.token_to_id(mmlu_prompts.MASK)
    pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else tok.token_to_id("[PAD]")
    choice_index = torch.tensor(spaced + bare, device=a.device)
    add_bare = torch.tensor([1.0 if b != s else 0.0 for s, b in zip(spaced, bare)], device=a.device)

    def head_logits(ids, att, mask_rows):
        """Encoder, then the MLM head on the [MASK] rows only (ModernBertForMaskedLM: head, then decoder)."""
        hidden = model.base_model(input_ids=ids, attention_mask=att).last_hidden_state
        sel = hidden[mask_rows[:, 0], mask_rows[:, 1]]
        if hasattr(model, "head") and hasattr(model, "decoder"):
            return model.decoder(model.head(sel))
        return model.get_output_embeddings()(sel)  # other masked LMs: only the decoder is known to be there

    def run_batch(seqs):
        S = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), S), pad_id, dtype=torch.int64)
        att = torch.zeros((len(seqs), S), dtype=torch.int64)
        rows = []
        for b, s in enumerate(seqs):
            ids[b, :len(s)] = torch.tensor(s)
            att[b, :len(s)] = 1
            rows.append([b, len(s) - 1 - s[::-1].index(mask_id)])  # the last [MASK]
        if a.device.startswith("cuda"):
            ids, att = ids.pin_memory(), att.pin_memory()
        ids, att = ids.to(a.device, non_blocking=True), att.to(a.device, non_blocking=True)
        rows = torch.tensor(rows, device=a.device)
        with torch.no_grad():
            logits = head_logits(ids, att, rows).float()
            logp = torch.log_softmax(logits, dim=-1)[:, choice_index].exp()
            scores = logp[:, :4] + logp[:, 4:] * add_bare
        return logits.cpu(), scores.cpu()

    # Warm-up (cuBLAS handles, SDPA kernel choice, allocator), not timed.
    warm = mmlu_prompts.tokenize(tok, [mmlu_prompts.render("Warm-up question?", ["a", "b", "c", "d"])])[0]
    for _ in range(2):
        run_batch([warm] * 8)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()

    t0 = time.time()
    docs = mmlu_prompts.load(a.data_dir)
    if a.limit:
        docs = [d for d in docs if d[1] < a.limit]
    t_read = time.time()
    seqs = mmlu_prompts.tokenize(tok, [d[2] for d in docs])
    t_tok = time.time()
    predictions = [None] * len(docs)
    n_batches = padded = 0
    by_subject = {}
    for i, d in enumerate(docs):
        by_subject.setdefault(d[0], []).append(i)
    logits = None
    for subject, idx in by_subject.items():
        for batch in batches_by_budget([len(seqs[i]) for i in idx], a.max_batch_tokens):
            members = [idx[j] for j in batch]
            logits, scores = run_batch([seqs[i] for i in members])
            for i, s in zip(members, scores.argmax(dim=-1).tolist()):
                predictions[i] = s
            n_batches += 1
            padded += len(members) * max(len(seqs[i]) for i in members)
    seconds = time.time() - t0
    lengths = [len(s) for s in seqs]
    tokens = sum(lengths)
    fl = flops(lengths, P, L, H)
    correct = sum(1 for d, pr in zip(docs, predictions) if pr == d[3])
    result["prompts"] = len(docs)
    result["real_tokens"] = tokens
    result["padded_tokens"] = padded
    # Our eval batches by the same rule (per subject, sorted by length, rows x longest <= the budget, no count cap), so
    # over the same lengths it pads the same number of tokens: one padding share for both sides.
    result["padding_share"] = round(1 - tokens / padded, 4) if padded else None
    result["longest"] = max(lengths)
    result["flops"] = fl
    result["peer"].update({
        "seconds": round(seconds, 3), "read_render_s": round(t_read - t0, 3), "tokenize_s": round(t_tok - t_read, 3),
        "forward_s": round(time.time() - t_tok, 3), "batches": n_batches,
        "prompts_per_s": round(len(docs) / seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
        "mfu": round(fl / seconds / (a.peak_tflops * 1e12), 4), "accuracy": round(correct / len(docs), 4),
        "last_logits_shape": list(logits.shape) if logits is not None else None,
    })
    print(f"peer: {len(docs)} prompts, {tokens} real tokens ({padded} padded) in {n_batches} batches, {seconds:.2f} s "
          f"(read+render {t_read - t0:.2f} s, tokenize {t_tok - t_read:.2f} s) -> {len(docs) / seconds:.0f} prompts/s, "
          f"{tokens / seconds:.0f} tok/s, MFU {100 * result['peer']['mfu']:.1f}% of {a.peak_tflops:g} TFLOP/s", flush=True)

    if a.ours:
        ours = {"folder": a.ours}
        result["ours"] = ours
        try:
            with open(os.path.join(a.ours, "run.json")) as f:
                run = json.load(f)
            t = run.get("timings", {})
            ours.update(device=run.get("device"), timings=t, options=run.get("options", {}).get("command_line"))
            # Our padding share as run.json states it (timings.padding_share, or padded and real token counts) when it
            # does; otherwise the peer's, which batches by our rule (summary.py says which).
            share = t.get("padding_share", run.get("padding_share"))
            if share is None and t.get("padded_tokens") and t.get("real_tokens") is not None:
                share = 1 - t["real_tokens"] / t["padded_tokens"]
            ours.update(padding_share=round(share, 4) if share is not None else None,
                        padding_share_from="run.json" if share is not None else "the peer's (same batching rule)")
            sec = t.get("seconds")
            if sec:
                ours.update(seconds=sec, prompts_per_s=round(t.get("scored", 0) / sec, 1), tokens_per_s=round(tokens / sec, 1),
                            mfu=round(fl / sec / (a.peak_tflops * 1e12), 4))
            if a.ours_wall:
                ours.update(wall_s=a.ours_wall, wall_prompts_per_s=round(len(docs) / a.ours_wall, 1),
                            wall_mfu=round(fl / a.ours_wall / (a.peak_tflops * 1e12), 4))
            ours_pred = {}
            with open(os.path.join(a.ours, "samples_mmlu.jsonl")) as f:
                for line in f:
                    s = json.loads(line)
                    ours_pred[(s["language"], s["doc_id"])] = s["prediction"]
            both = [(pr, ours_pred.get((d[0], d[1]))) for d, pr in zip(docs, predictions)]
            found = [x for x in both if x[1] is not None]
            ours.update(examples=len(ours_pred), matched=len(found),
                        prediction_agreement=round(sum(1 for p_, o in found if p_ == o) / max(1, len(found)), 4),
                        accuracy=round(sum(1 for d in docs if ours_pred.get((d[0], d[1])) == d[3]) / len(docs), 4))
            if t.get("scored") is not None and t.get("scored") != len(docs):
                ours["note"] = f"ours scored {t.get('scored')} prompts, the peer {len(docs)}"
            print(f"ours: {ours.get('seconds')} s in run.json ({ours.get('prompts_per_s')} prompts/s, MFU "
                  f"{100 * ours.get('mfu', 0):.1f}%), wall {a.ours_wall} s; predictions equal to the peer's on "
                  f"{100 * ours['prediction_agreement']:.1f}% of {len(found)}", flush=True)
        except (OSError, ValueError, KeyError) as e:
            ours["error"] = f"{type(e).__name__}: {e}"
            print(f"ours: could not read {a.ours}: {e}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
