#!/usr/bin/env python3
"""Writes gpu-check.md for bench/gpu/run: the table of every check (from the run's steps.tsv and the compare
records in checks.jsonl), the MMLU speed comparison (speed.json, or our run.json alone when the peer did not run)
and the decode benchmark's rows (decode-*.csv). Standard library only."""
import argparse, csv, glob, json, os


def fmt(v, spec=None):
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if spec:
        return format(v, spec)
    if isinstance(v, int) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", required=True)
    p.add_argument("--checks", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--speed")
    p.add_argument("--run-ours")
    p.add_argument("--reference")
    p.add_argument("--decode-dir")
    p.add_argument("--meta", action="append", default=[], help="key=value lines for the header")
    a = p.parse_args()

    records = {}
    try:
        with open(a.checks) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    records[r["name"]] = r
    except OSError:
        pass
    rows = []
    try:
        with open(a.steps) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 5:
                    rows.append(parts[:5])
    except OSError:
        pass

    md = ["# GPU check", ""]
    for m in a.meta:
        k, _, v = m.partition("=")
        md.append(f"- {k}: {v}")
    counts = {}
    for r in rows:
        counts[r[2]] = counts.get(r[2], 0) + 1
    md += ["- results: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), ""]

    md += ["## Checks", "",
           "max abs diff, min cos: against the reference (fp32 modes), the emulated run (emulated) or transformers fp32 "
           "(peer); ratio: the worst tensor's relative RMS error over the yardstick (emulated: the emulated run's own "
           "bf16 error, pass <= 1; peer: transformers bf16's error, pass <= 2).", "",
           "| step | check | status | s | max abs diff | min cos | ratio (worst tensor) | argmax same (near-tie, mismatch) | note |",
           "|---|---|---|---:|---:|---:|---:|---|---|"]
    for step, name, status, secs, note in rows:
        r = records.get(name)
        diff = cos = arg = ratio = "–"
        if r and r.get("summary"):
            s = r["summary"]
            diff = fmt(s.get("max_abs_diff"), ".2e")
            cos = fmt(s.get("min_cos"), ".6f")
            if s.get("max_rel_rms_ratio") is not None:
                ratio = f"{fmt(s['max_rel_rms_ratio'], '.2f')}"
            if s.get("argmax"):
                arg = f"{s['argmax']} ({s.get('argmax_near_tie')}, {s.get('argmax_mismatch')})"
        if r and r.get("problems") and status in ("fail", "error"):
            note = (note + "; " if note else "") + "failed: " + ", ".join(map(str, r["problems"][:4]))
        shown = status.upper() if status in ("fail", "error", "timeout") else status
        md.append(f"| {step} | {name} | {shown} | {secs} | {diff} | {cos} | {ratio} | {arg} | {note.replace('|', '/')} |")
    md.append("")

    ref = load_json(a.reference) if a.reference else None
    if ref:
        md += ["## Reference models (fidelity)", "",
               f"transformers {ref.get('transformers')}, torch {ref.get('torch')} (CUDA {ref.get('cuda')}), {ref.get('gpu') or ref.get('device')}; "
               "prompts: " + ", ".join(f"{x['subject']}#{x['doc_id']} ({x['tokens']})" for x in ref.get("prompts", [])), "",
               "| model | parameters | non-embedding | batch x seq | real tokens | logits rows | config keys transformers re-wrote (added / dropped) | status |",
               "|---|---:|---:|---|---:|---:|---|---|"]
        for name, m in ref.get("models", {}).items():
            keys = f"{', '.join(m.get('saved_config_added_keys', [])) or '–'} / {', '.join(m.get('saved_config_dropped_keys', [])) or '–'}"
            md.append(f"| {name} | {fmt(m.get('parameters'))} | {fmt(m.get('non_embedding_parameters'))} | "
                      f"{m.get('batch', '–')} x {m.get('seq', '–')} | {fmt(m.get('real_tokens'))} | {fmt(m.get('logits_rows'))} | "
                      f"{keys} | {'ok' if m.get('ok') else str(m.get('error', 'failed')).replace('|', '/')} |")
        md.append("")

    speed = load_json(a.speed) if a.speed else None
    run = load_json(a.run_ours) if a.run_ours else None
    md += ["## MMLU speed (speed): the MMLU test prompts, eval.py format, eval-py scoring, bf16", ""]
    if speed:
        peer, ours = speed.get("peer", {}), speed.get("ours", {})
        md += [f"Same prompts on both sides: {fmt(speed.get('prompts'))} prompts, {fmt(speed.get('real_tokens'))} real tokens "
               f"({fmt(speed.get('padded_tokens'))} with padding; longest {fmt(speed.get('longest'))}); padding share "
               f"{fmt(100 * speed['padding_share'], '.1f') + '%' if speed.get('padding_share') is not None else '–'} of the peer's padded tokens "
               f"(its batching rule is ours: per subject, sorted by length, rows × longest ≤ the budget; our row gives run.json's own figure when it has one); FLOPs {fmt(speed.get('flops'), '.3e')} by {speed.get('flops_formula')}; "
               f"MFU against {fmt(speed.get('peak_tflops'))} TFLOP/s (H100/H200 SXM dense BF16). Our device string says which attention ran "
               f"(tensor-core: cuBLAS batched GEMMs around a masked softmax; EVAL_ATTENTION_SCORE_MIB=0 forces the flash kernel).", "",
               "| side | seconds | prompts/s | tokens/s | MFU | padding | accuracy | note |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        pct = lambda x: fmt(100 * x, '.1f') + '%' if x is not None else '–'
        our_padding = ours.get('padding_share', speed.get('padding_share')) if ours else None
        md.append(f"| peer: PyTorch {peer.get('torch')} {peer.get('dtype')} SDPA, transformers {peer.get('transformers')} | {fmt(peer.get('seconds'))} | "
                  f"{fmt(peer.get('prompts_per_s'))} | {fmt(peer.get('tokens_per_s'))} | {fmt(100 * peer['mfu'], '.2f') + '%' if peer.get('mfu') is not None else '–'} | "
                  f"{pct(speed.get('padding_share'))} | {fmt(peer.get('accuracy'))} | read+render {fmt(peer.get('read_render_s'))} s, tokenize {fmt(peer.get('tokenize_s'))} s, "
                  f"{fmt(peer.get('batches'))} batches; timed after load and warm-up |")
        if ours:
            md.append(f"| ours: run.json timings.seconds | {fmt(ours.get('seconds'))} | {fmt(ours.get('prompts_per_s'))} | "
                      f"{fmt(ours.get('tokens_per_s'))} | {fmt(100 * ours['mfu'], '.2f') + '%' if ours.get('mfu') is not None else '–'} | "
                      f"{pct(our_padding)} | {fmt(ours.get('accuracy'))} | {ours.get('device')}; padding share from {ours.get('padding_share_from', 'the peer')}; predictions equal to the peer's: "
                      f"{fmt(100 * ours['prediction_agreement'], '.1f') + '%' if ours.get('prediction_agreement') is not None else '–'} "
                      f"of {fmt(ours.get('matched'))} {ours.get('note', '')} {ours.get('error', '')} |")
            work = (ours.get("timings") or {}).get("device_work")
            if work:
                md.append(f"| ours on the device while scoring (run.json timings.device_work) | – | – | – | – | – | – | "
                          f"{work.get('kernels')} kernel launches, {work.get('cublas_calls')} cuBLAS calls, {work.get('compute_stream_uploads')} uploads "
                          f"on the compute stream ({work.get('taken_ahead')} of {work.get('sent_ahead')} sent ahead taken), "
                          f"{work.get('device_allocations')} device allocations |")
            if ours.get("wall_s"):
                md.append(f"| ours: whole command (start, load, run, write) | {fmt(ours.get('wall_s'))} | {fmt(ours.get('wall_prompts_per_s'))} | – | "
                          f"{fmt(100 * ours['wall_mfu'], '.2f') + '%' if ours.get('wall_mfu') is not None else '–'} | – | – | |")
    elif run:
        t = run.get("timings", {})
        md += [f"Peer did not run; ours alone (run.json): {t.get('scored')} prompts in {t.get('seconds')} s "
               f"({t.get('scored_per_second')} prompts/s), device {run.get('device')}."]
        if t.get("device_work"):
            w = t["device_work"]
            md += [f"On the device while scoring: {w.get('kernels')} kernel launches, {w.get('cublas_calls')} cuBLAS calls, "
                   f"{w.get('compute_stream_uploads')} uploads on the compute stream ({w.get('taken_ahead')} of {w.get('sent_ahead')} sent ahead taken), "
                   f"{w.get('device_allocations')} device allocations."]
    else:
        md += ["Neither side produced results."]
    md.append("")

    md += ["## Decode benchmark (decode)", ""]
    files = sorted(glob.glob(os.path.join(a.decode_dir, "decode-*.csv"))) if a.decode_dir else []
    if files:
        with open(files[-1], newline="") as f:
            data = list(csv.DictReader(f))
        md += [f"`{os.path.basename(files[-1])}` ({len(data)} rows; backend {data[0].get('backend') if data else '–'})", "",
               "| section | model | method | prompt | L | T | batch | median ms | tokens/s | peer | speed-up | status |",
               "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
        for r in data:
            md.append(f"| {r['section']} | {r['model']} | {r['method']} | {r['prompt_tokens']} | {r['new_tokens']} | {r['iterations']} | "
                      f"{r['batch']} | {r['median_ms']} | {r['tokens_per_s']} | {r['peer']} | {r['speedup_vs_peer']} | {r['status']} |")
    else:
        md.append("No decode CSV.")
    md.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
