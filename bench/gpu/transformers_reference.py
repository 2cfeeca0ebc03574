#!/usr/bin/env python3
"""Reference forward passes from Hugging Face transformers on full-size shapes, for `mlm-eval forward` to match.

For each of ModernBERT-large, XLM-R-large and SmolLM2-360M (config.json from shared/configs):
  1. builds the model from the config with seeded random weights (torch.manual_seed(0), from_config, float32, eval
     mode, attn_implementation="eager" named, reference_compile=False: no torch.compile) on --device, and saves it as
     a model folder <work>/models/<name>/ (config.json + model.safetensors, save_pretrained) that our engine loads;
     config.json is then the original file again (transformers 5 re-writes rope_theta & co. as rope_parameters; its
     version is kept as config.transformers.json, and the keys it added or dropped go into the summary). A folder an
     earlier call built (built.json beside it) is loaded instead of built again: the same weights;
  2. writes <work>/<name>.input.safetensors: `input_ids`, `attention_mask` int64 [B,S] and `logits_at` int64 [N,2]
     (first, [MASK] and last real position of each row), the golden layout `mlm-eval forward --input` reads;
  3. runs the transformers forward in float32 (TF32 off) and writes <work>/<name>.ref.safetensors: the inputs plus
     `hidden.embeddings` and `hidden.layer.{i}` for i < L-1 (transformers' hidden_states[0..L-1]: the input of each
     layer; its last entry is after the final norm in some models and before it in others, so it is left out),
     `hidden.last_hidden_state` [B,S,H] and `logits` [N,V] at the logits_at rows, the layout `forward --output` has;
  4. the same in bfloat16 (the parameters cast to bfloat16, as from_pretrained(dtype=torch.bfloat16) leaves them;
     buffers such as RoPE's inv_freq stay float32: transformers' own bf16 inference) into
     <work>/<name>.ref-bf16.safetensors: the yardstick for our bf16 error.
With --build-only, step 1 alone (the MMLU speed step needs only the ModernBERT-large folder).

The batch: 8 real MMLU test prompts in ModernBERT-Instruct's eval.py format (mmlu_prompts.py), one from each of 8
subjects spread over the 57 (the first row of each at most --max-tokens long), tokenized with the ModernBERT
tokenizer and right-padded. The other two models get the same token ids, made valid for them: XLM-R's own specials
(<s>=0, </s>=2, <pad>=1, <mask>=250001) replace [CLS], [SEP], [PAD], [MASK]; SmolLM2, a causal LM, gets the prompt up
to "Answer:" (no [CLS], anchor, mask or [SEP]) with ids folded into its 49,152 (id mod V), padded with 0. Weights are
random, so which token an id is does not matter; lengths and padding are real.

Writes a summary to --json (parameters, shapes, seconds, versions). Exit 1 on any error.
"""
import argparse, json, os, shutil, sys, time

# No torch.compile anywhere (bench/gpu/run exports the same): set before torch is imported.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mmlu_prompts  # noqa: E402

MODELS = {
    # name: (config file in shared/configs, kind)
    "modernbert-large": ("answerdotai__ModernBERT-large.config.json", "masked"),
    "xlm-roberta-large": ("FacebookAI__xlm-roberta-large.config.json", "masked"),
    "smollm2-360m": ("HuggingFaceTB__SmolLM2-360M.config.json", "causal"),
}
CLS, SEP, PAD, MASK_ID = 50281, 50282, 50283, 50284  # the ModernBERT tokenizer's
XLMR = {CLS: 0, SEP: 2, PAD: 1, MASK_ID: 250001}


def pick_prompts(data_dir, tok, batch, max_tokens):
    subjects = mmlu_prompts.SUBJECTS
    step = max(1, len(subjects) // batch)
    chosen = []
    for s in subjects[::step][:batch]:
        docs = mmlu_prompts.load(data_dir, subjects=[s])
        for subject, doc_id, text, _ in docs:
            ids = mmlu_prompts.tokenize(tok, [text])[0]
            if len(ids) <= max_tokens:
                chosen.append((subject, doc_id, text, ids))
                break
        else:
            raise ValueError(f"no {s} test prompt of at most {max_tokens} tokens")
    return chosen


def build_inputs(kind, name, seqs, vocab):
    """input_ids, attention_mask [B,S] and logits_at [N,2] as lists, for one model."""
    if kind == "causal":
        rows = []
        for ids in seqs:
            m = ids.index(MASK_ID)
            body = ids[1:m - 1]  # drop [CLS]; stop before "[unused0]" "[MASK]" "[SEP]": the prompt ends at "Answer:"
            if ids[m - 1] != 50285:
                raise ValueError("expected [unused0] right before [MASK]")
            rows.append([i % vocab for i in body])
        pad = 0
    elif name.startswith("xlm"):
        rows = [[XLMR.get(i, i) for i in ids] for ids in seqs]
        if any(i in (0, 1, 2) for ids in seqs for i in ids):
            raise ValueError("a ModernBERT text token id collides with XLM-R's <s>/<pad>/</s>")
        pad = XLMR[PAD]
    else:
        rows = [list(ids) for ids in seqs]
        pad = PAD
    S = max(len(r) for r in rows)
    input_ids = [r + [pad] * (S - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (S - len(r)) for r in rows]
    at = []
    mask_token = XLMR[MASK_ID] if name.startswith("xlm") else MASK_ID
    for b, r in enumerate(rows):
        positions = [0] + ([r.index(mask_token)] if kind == "masked" else []) + [len(r) - 1]
        at += [[b, s] for s in sorted(set(positions))]
    return input_ids, mask, at


def no_compile(config):
    """transformers' ModernBERT compiles its embeddings and head when triton is there unless this is False."""
    config.reference_compile = False
    return config


def build_or_load(transformers, torch, name, cfg_file, kind, configs, model_dir, device, info):
    auto = transformers.AutoModelForCausalLM if kind == "causal" else transformers.AutoModelForMaskedLM
    marker = os.path.join(model_dir, "built.json")
    t0 = time.time()
    if os.path.exists(marker):
        config = no_compile(transformers.AutoConfig.from_pretrained(model_dir))
        try:
            model = auto.from_pretrained(model_dir, config=config, attn_implementation="eager", dtype=torch.float32)
        except TypeError:  # transformers 4.x says torch_dtype
            model = auto.from_pretrained(model_dir, config=config, attn_implementation="eager", torch_dtype=torch.float32)
        with open(marker) as f:
            info.update(json.load(f))
        info["loaded_s"] = round(time.time() - t0, 2)
        return model.to(device).float().eval(), config
    shutil.rmtree(model_dir, ignore_errors=True)
    os.makedirs(model_dir)
    shutil.copy(os.path.join(configs, cfg_file), os.path.join(model_dir, "config.json"))
    config = no_compile(transformers.AutoConfig.from_pretrained(model_dir))
    torch.manual_seed(0)
    # Initialised where it runs: on the GPU the random init of 400M parameters takes a fraction of the CPU's time.
    with torch.device(device):
        try:
            model = auto.from_config(config, attn_implementation="eager", dtype=torch.float32)
        except TypeError:
            model = auto.from_config(config, attn_implementation="eager", torch_dtype=torch.float32)
    model = model.float().eval()
    info["init_s"] = round(time.time() - t0, 2)

    t0 = time.time()
    try:
        model.save_pretrained(model_dir, safe_serialization=True)
    except TypeError:  # a transformers that always writes safetensors and dropped the flag
        model.save_pretrained(model_dir)
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors") or f.endswith(".json"))
    if not any(f.endswith(".safetensors") for f in files):
        raise RuntimeError(f"save_pretrained wrote no safetensors in {model_dir}: {files}")
    # Newer transformers re-write the config (rope_parameters / layer_types instead of rope_theta,
    # global_rope_theta, ...). The model was built from the original file, which is what real checkpoints
    # carry, so that is the config.json our engine gets; transformers' own is kept beside it.
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)
    with open(os.path.join(configs, cfg_file)) as f:
        original = json.load(f)
    built = {"saved_config_added_keys": sorted(set(saved) - set(original)),
             "saved_config_dropped_keys": sorted(set(original) - set(saved)), "files": files, "seed": 0}
    os.replace(os.path.join(model_dir, "config.json"), os.path.join(model_dir, "config.transformers.json"))
    shutil.copy(os.path.join(configs, cfg_file), os.path.join(model_dir, "config.json"))
    with open(marker, "w") as f:
        json.dump(built, f)
    info.update(built)
    info["save_s"] = round(time.time() - t0, 2)
    return model, config


def forward(torch, model, ids_t, mask_t, at_t, device, layers):
    """The tensors of the golden layout: hidden.embeddings, hidden.layer.{i < L-1}, last hidden state, logits rows."""
    with torch.no_grad():
        dev_ids, dev_mask = ids_t.to(device), mask_t.to(device)
        base = model.base_model(input_ids=dev_ids, attention_mask=dev_mask, output_hidden_states=True)
        logits = model(input_ids=dev_ids, attention_mask=dev_mask).logits
        rows = logits[at_t[:, 0].to(device), at_t[:, 1].to(device)]
    states = base.hidden_states
    if states is None or len(states) < layers:
        raise RuntimeError(f"expected {layers + 1} hidden states, got {None if states is None else len(states)}")
    out = {"hidden.embeddings": states[0]}
    for i in range(1, layers):
        out[f"hidden.layer.{i - 1}"] = states[i]
    out["hidden.last_hidden_state"] = base.last_hidden_state
    out["logits"] = rows
    return {k: v.float().cpu().contiguous() for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", required=True, help="folder with the config.json files (shared/configs)")
    p.add_argument("--tokenizer", required=True, help="folder with the ModernBERT tokenizer.json")
    p.add_argument("--data-dir", required=True, help="folder holding mmlu/test/<subject>_test.csv")
    p.add_argument("--work", required=True, help="output folder (models/, *.input/ref/ref-bf16.safetensors)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=320, help="longest prompt taken (ModernBERT tokens; XLM-R takes 512)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--build-only", action="store_true", help="build and save the model folders, no forward")
    p.add_argument("--json", help="write the summary here")
    a = p.parse_args()

    summary = {"models": {}, "batch": a.batch}
    t_start = time.time()
    import torch
    import transformers
    from safetensors.torch import save_file
    summary.update(torch=torch.__version__, transformers=transformers.__version__,
                   cuda=torch.version.cuda, device=a.device, compile="off (TORCHDYNAMO_DISABLE=1, reference_compile=False)",
                   gpu=torch.cuda.get_device_name(0) if a.device.startswith("cuda") and torch.cuda.is_available() else None)
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, device {a.device}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")

    seqs = None
    if not a.build_only:
        tok = mmlu_prompts.tokenizer(a.tokenizer)
        chosen = pick_prompts(a.data_dir, tok, a.batch, a.max_tokens)
        seqs = [c[3] for c in chosen]
        summary["prompts"] = [{"subject": c[0], "doc_id": c[1], "tokens": len(c[3])} for c in chosen]
        print("prompts: " + ", ".join(f"{c[0]}#{c[1]} ({len(c[3])} tok)" for c in chosen), flush=True)

    os.makedirs(os.path.join(a.work, "models"), exist_ok=True)
    failed = []
    for name in [m.strip() for m in a.models.split(",") if m.strip()]:
        cfg_file, kind = MODELS[name]
        info = {"kind": kind}
        summary["models"][name] = info
        try:
            model, config = build_or_load(transformers, torch, name, cfg_file, kind, a.configs,
                                          os.path.join(a.work, "models", name), a.device, info)
            params = sum(p.numel() for p in model.parameters())
            emb = model.get_input_embeddings().weight.numel()
            info.update(parameters=params, embedding_parameters=emb, non_embedding_parameters=params - emb,
                        hidden=config.hidden_size, layers=config.num_hidden_layers, vocab=config.vocab_size,
                        attn_implementation=getattr(model.config, "_attn_implementation", None))
            if a.build_only:
                info["ok"] = True
                print(f"{name}: {params / 1e6:.1f}M parameters; built in {info.get('init_s')} s, saved in {info.get('save_s')} s"
                      if "init_s" in info else f"{name}: already built (loaded in {info.get('loaded_s')} s)", flush=True)
                del model
                continue

            input_ids, mask, at = build_inputs(kind, name, seqs, config.vocab_size)
            ids_t = torch.tensor(input_ids, dtype=torch.int64)
            mask_t = torch.tensor(mask, dtype=torch.int64)
            at_t = torch.tensor(at, dtype=torch.int64)
            info.update(batch=len(input_ids), seq=ids_t.shape[1], real_tokens=int(mask_t.sum()), logits_rows=len(at))
            inputs = {"input_ids": ids_t, "attention_mask": mask_t, "logits_at": at_t}
            save_file(inputs, os.path.join(a.work, f"{name}.input.safetensors"))

            model = model.to(a.device)
            for dtype, suffix in ((torch.float32, "ref"), (torch.bfloat16, "ref-bf16")):
                t0 = time.time()
                # The parameters only, as from_pretrained(dtype=torch.bfloat16) leaves a model: buffers computed at
                # init (RoPE's inv_freq) stay float32; model.to(bfloat16) would round those too.
                for param in model.parameters():
                    param.data = param.data.to(dtype)
                out = forward(torch, model, ids_t, mask_t, at_t, a.device, config.num_hidden_layers)
                if a.device.startswith("cuda"):
                    torch.cuda.synchronize()
                info[f"forward_{suffix}_s"] = round(time.time() - t0, 2)
                save_file({**inputs, **out}, os.path.join(a.work, f"{name}.{suffix}.safetensors"),
                          metadata={"note": f"transformers {transformers.__version__} {str(dtype)} eager forward, random weights seed 0"})
            info["ok"] = True
            print(f"{name}: {params / 1e6:.1f}M parameters ({(params - emb) / 1e6:.1f}M non-embedding), batch "
                  f"{ids_t.shape[0]}x{ids_t.shape[1]}, {len(at)} logits rows; forward fp32 {info['forward_ref_s']} s, "
                  f"bf16 {info['forward_ref-bf16_s']} s", flush=True)
            del model, out
            if a.device.startswith("cuda"):
                torch.cuda.empty_cache()
        except Exception as e:  # keep going with the next model; the run script reports which failed
            info["ok"] = False
            info["error"] = f"{type(e).__name__}: {e}"
            failed.append(name)
            print(f"{name}: FAILED {type(e).__name__}: {e}", flush=True)
    summary["seconds"] = round(time.time() - t_start, 2)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
