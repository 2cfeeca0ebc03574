#!/usr/bin/env python3
"""Compares a forward dump of ours (`mlm-eval forward --output`) with a reference in the golden layout.

Reference and ours are safetensors files: `input_ids`, `attention_mask` [B,S] int64, optionally `logits_at` [N,2];
float tensors `hidden.*` [B,S,H] (compared only where attention_mask is 1) and `logits` ([N,V] rows at logits_at,
or [B,S,V] per position). Every float tensor of the reference that --keys selects is compared row by row:

  max |diff|, max |ref|, the smallest cosine similarity of a row, the relative RMS error ||ours - ref|| / ||ref|| over
  all compared rows, and for `logits` the argmax of every row. An argmax that differs is a near-tie when both sides had
  the two candidates within e of each other, e = 3 x the RMS of that row's |diff| (the row's noise level; one wrong
  logit barely moves it): the numbers agree to within their error, so it is counted apart and does not fail the check.

Modes (pass criteria; bench/gpu/README.md says why these and how they were calibrated):
  fp32      every tensor max |diff| <= --tol (with --relative: <= tol * max(1, max |ref|)), no argmax mismatch but
            near-ties
  emulated  --emulated is our bf16 run of the same model and input on ILGPU's CPU accelerator, which rounds where the
            CUDA bf16 path rounds; --ref is float32. Ours (CUDA bf16) is compared with the emulated run: per tensor,
            relative RMS difference <= --factor (default 1) x the emulated run's own relative RMS error against --ref
            (+ --floor), every row's cosine >= --cos (default 0.999), no argmax mismatch but near-ties
  peer      --peer is another implementation's reduced-precision dump of the same model and input (transformers bf16):
            per tensor, our relative RMS error against --ref <= --factor (default 2) x the peer's (+ --floor), and no
            more argmax mismatches (beyond near-ties) than the peer has
  info      reports only

Prints one line per tensor, appends one JSON record to --json, exits 0 on pass (and for info), 1 on fail, 2 when the
files do not match (missing tensor, shape, inputs). Needs only the standard library; uses numpy when it is there.
"""
import argparse, json, math, os, struct, sys
from array import array

try:
    import numpy as np
except ImportError:  # the CPU dry run on a machine without numpy
    np = None

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1}
INPUT_KEYS = ("input_ids", "attention_mask", "logits_at")


class Safetensors:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        self.base = 8 + n
        self.metadata = header.pop("__metadata__", None)
        self.entries = header

    def shape(self, key):
        return list(self.entries[key]["shape"])

    def dtype(self, key):
        return self.entries[key]["dtype"]

    def load(self, key):
        """The tensor as a flat numpy array (float32 / int64), or an array.array without numpy."""
        e = self.entries[key]
        start, end = e["data_offsets"]
        count = (end - start) // SIZES[e["dtype"]]
        dt = e["dtype"]
        if np is not None:
            if dt == "BF16":
                raw = np.fromfile(self.path, dtype="<u2", count=count, offset=self.base + start)
                return (raw.astype(np.uint32) << 16).view(np.float32)
            npdt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1", "BOOL": "u1"}[dt]
            a = np.fromfile(self.path, dtype=npdt, count=count, offset=self.base + start)
            return a.astype(np.float32) if dt in ("F64", "F16") else a
        code = {"F64": "d", "F32": "f", "I64": "q", "I32": "i", "U8": "B", "I8": "b", "BOOL": "B"}.get(dt)
        with open(self.path, "rb") as f:
            f.seek(self.base + start)
            raw = f.read(end - start)
        if dt == "BF16":
            return array("f", struct.unpack(f"<{count}f", b"".join(b"\0\0" + raw[i:i + 2] for i in range(0, len(raw), 2))))
        if dt == "F16":
            return array("f", struct.unpack(f"<{count}e", raw))
        if code is None:
            raise ValueError(f"{self.path}: dtype {dt} of '{key}' is not supported")
        a = array(code)
        a.frombytes(raw)
        if sys.byteorder != "little":
            a.byteswap()
        return a


def order(key):
    """embeddings, layers in order, last hidden state, logits, anything else."""
    if key == "hidden.embeddings":
        return (0, 0, key)
    if key.startswith("hidden.layer.") and key.rsplit(".", 1)[1].isdigit():
        return (1, int(key.rsplit(".", 1)[1]), key)
    return ({"hidden.last_hidden_state": 2, "logits": 3}.get(key, 4), 0, key)


def row_indices(shape, mask):
    """Rows to compare: real positions of a [B,S,X] tensor, every row of an [N,X] one."""
    if len(shape) == 3:
        return [i for i, m in enumerate(mask) if m != 0]
    rows = 1
    for d in shape[:-1]:
        rows *= d
    return list(range(rows))


def compare_tensor(ref, ours, shape, mask, is_logits):
    width = shape[-1]
    rows = row_indices(shape, mask)
    out = {"rows": len(rows), "shape": shape}
    if np is not None:
        r = np.asarray(ref, dtype=np.float64).reshape(-1, width)[rows]
        o = np.asarray(ours, dtype=np.float64).reshape(-1, width)[rows]
        finite = bool(np.isfinite(o).all())
        d = np.abs(r - o)
        row_max = d.max(axis=1) if len(rows) else np.zeros(0)
        out["max_abs_diff"] = float(row_max.max()) if len(rows) else 0.0
        out["max_abs_ref"] = float(np.abs(r).max()) if len(rows) else 0.0
        rn, on = np.linalg.norm(r, axis=1), np.linalg.norm(o, axis=1)
        dot = (r * o).sum(axis=1)
        cos = np.where((rn == 0) & (on == 0), 1.0, dot / np.maximum(rn * on, 1e-300))
        out["min_cos"] = float(cos.min()) if len(rows) else 1.0
        ref_sq = float((r * r).sum())
        out["rel_rms"] = math.sqrt(float((d * d).sum()) / ref_sq) if ref_sq > 0 else (0.0 if not len(rows) or float(d.max()) == 0 else math.inf)
        if is_logits:
            ra, oa = r.argmax(axis=1), o.argmax(axis=1)
            n = np.arange(len(rows))
            eps = 3 * np.sqrt((d * d).mean(axis=1)) + 1e-7
            mismatch = ra != oa
            near = mismatch & (r[n, ra] - r[n, oa] <= eps) & (o[n, oa] - o[n, ra] <= eps)
            out["argmax_same"] = int((~mismatch).sum())
            out["argmax_near_tie"] = int(near.sum())
            out["argmax_mismatch"] = int((mismatch & ~near).sum())
    else:
        finite, max_diff, max_ref, min_cos = True, 0.0, 0.0, 1.0
        same = near_tie = bad = 0
        all_sq = all_ref_sq = 0.0
        for row in rows:
            a, b = ref[row * width:(row + 1) * width], ours[row * width:(row + 1) * width]
            row_max = dot = na = nb = sq = 0.0
            for x, y in zip(a, b):
                if not math.isfinite(y):
                    finite = False
                diff = abs(x - y)
                sq += diff * diff
                if diff > row_max:
                    row_max = diff
                if abs(x) > max_ref:
                    max_ref = abs(x)
                dot += x * y
                na += x * x
                nb += y * y
            max_diff = max(max_diff, row_max)
            all_sq += sq
            all_ref_sq += na
            cos = 1.0 if na == 0 and nb == 0 else dot / max(math.sqrt(na * nb), 1e-300)
            min_cos = min(min_cos, cos)
            if is_logits:
                ra = max(range(width), key=a.__getitem__)
                oa = max(range(width), key=b.__getitem__)
                eps = 3 * math.sqrt(sq / width) + 1e-7
                if ra == oa:
                    same += 1
                elif a[ra] - a[oa] <= eps and b[oa] - b[ra] <= eps:
                    near_tie += 1
                else:
                    bad += 1
        out.update(max_abs_diff=max_diff, max_abs_ref=max_ref, min_cos=min_cos,
                   rel_rms=math.sqrt(all_sq / all_ref_sq) if all_ref_sq > 0 else (0.0 if all_sq == 0 else math.inf))
        if is_logits:
            out.update(argmax_same=same, argmax_near_tie=near_tie, argmax_mismatch=bad)
    out["finite"] = finite
    return out


def same_input(ref, other, what):
    for k in ("input_ids", "attention_mask"):
        if k not in ref.entries or k not in other.entries:
            raise ValueError(f"'{k}' missing from {'the reference' if k not in ref.entries else what}")
        if ref.shape(k) != other.shape(k) or list(ref.load(k)) != list(other.load(k)):
            raise ValueError(f"'{k}' differs between the reference and {what}: not the same input")


def selected_keys(ref, wanted):
    keys = [k for k in ref.entries if k not in INPUT_KEYS and ref.dtype(k) in ("F32", "F16", "BF16", "F64")]
    if wanted != "all":
        names = [k.strip() for k in wanted.split(",") if k.strip()]
        missing = [k for k in names if k not in ref.entries]
        if missing:
            raise ValueError(f"reference lacks {missing}")
        keys = names
    return sorted(keys, key=order)


def load_checked(ref, dump, key, what):
    if key not in dump.entries:
        raise ValueError(f"{what} lacks '{key}'")
    if ref.shape(key) != dump.shape(key):
        raise ValueError(f"'{key}': reference shape {ref.shape(key)}, {what} {dump.shape(key)}")
    return dump.load(key)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="reference safetensors (golden layout)")
    p.add_argument("--ours", required=True, help="our forward dump")
    p.add_argument("--peer", help="peer mode: another implementation's dump of the same model and input")
    p.add_argument("--emulated", help="emulated mode: our bf16 run on ILGPU's CPU accelerator (the CUDA path's roundings)")
    p.add_argument("--name", required=True, help="label for the record (e.g. 'modernbert-tiny cuda fp32 vs golden')")
    p.add_argument("--step", default="", help="step id for the record (parity, fidelity)")
    p.add_argument("--mode", choices=["fp32", "emulated", "peer", "info"], required=True)
    p.add_argument("--tol", type=float, default=1e-3, help="fp32: max |diff| allowed (default 1e-3)")
    p.add_argument("--relative", action="store_true", help="fp32: the tolerance scales with max(1, max |ref|) per tensor")
    p.add_argument("--cos", type=float, default=0.999, help="emulated: smallest cosine per row against the emulated run (default 0.999)")
    p.add_argument("--factor", type=float, help="emulated: ours vs emulated <= factor x emulated vs ref (default 1); "
                   "peer: ours vs ref <= factor x peer vs ref (default 2)")
    p.add_argument("--floor", type=float, default=1e-6, help="emulated, peer: plus this relative RMS (for exact tensors)")
    p.add_argument("--keys", default="all", help="'all' float tensors of the reference, or a comma-separated list")
    p.add_argument("--json", help="append the record (one JSON line) to this file")
    a = p.parse_args()
    if (a.mode == "peer") != (a.peer is not None) or (a.mode == "emulated") != (a.emulated is not None):
        p.error("--peer goes with --mode peer and --emulated with --mode emulated, and only there")
    if a.factor is None:
        a.factor = 2.0 if a.mode == "peer" else 1.0

    record = {"step": a.step, "name": a.name, "mode": a.mode, "ref": a.ref, "ours": a.ours, "peer": a.peer,
              "emulated": a.emulated, "tensors": {}, "problems": []}
    if a.mode == "peer":
        record["criterion"] = f"rel RMS vs ref <= {a.factor:g} x the peer's + {a.floor:g}; argmax mismatches <= the peer's"
    elif a.mode == "emulated":
        record["criterion"] = (f"rel RMS vs emulated <= {a.factor:g} x emulated's vs ref + {a.floor:g}; row cos vs emulated "
                               f">= {a.cos:g}; argmax as emulated (near-ties aside)")
    status = "pass"
    try:
        ref, ours = Safetensors(a.ref), Safetensors(a.ours)
        peer = Safetensors(a.peer) if a.peer else None
        emulated = Safetensors(a.emulated) if a.emulated else None
        same_input(ref, ours, "our dump")
        if peer:
            same_input(ref, peer, "the peer's dump")
        if emulated:
            same_input(ref, emulated, "the emulated dump")
        mask = list(ref.load("attention_mask"))
        keys = selected_keys(ref, a.keys)
        if not keys:
            raise ValueError("no float tensors to compare")
        for k in keys:
            shape, is_logits = ref.shape(k), k == "logits"
            r = ref.load(k)
            o = load_checked(ref, ours, k, "our dump")
            if a.mode == "emulated":
                # Ours against the emulated run; the bf16 error the emulated run has against the float32 reference
                # is the yardstick.
                e = load_checked(ref, emulated, k, "the emulated dump")
                m = compare_tensor(e, o, shape, mask, is_logits)
                em = compare_tensor(r, e, shape, mask, is_logits)
                m["emulated_vs_ref"] = {x: em[x] for x in ("rel_rms", "min_cos", "max_abs_diff") if x in em}
                # The ratio only where the yardstick is above the floor (an exact tensor has none to speak of).
                m["rel_rms_ratio"] = m["rel_rms"] / em["rel_rms"] if em["rel_rms"] > a.floor else None
            else:
                m = compare_tensor(r, o, shape, mask, is_logits)
            ok = m["finite"]
            why = ""
            if a.mode == "fp32":
                limit = a.tol * (max(1.0, m["max_abs_ref"]) if a.relative else 1.0)
                ok = ok and m["max_abs_diff"] <= limit
                why = f"max|diff| > {limit:.1e}"
            elif a.mode == "emulated":
                bf16_err = m["emulated_vs_ref"]["rel_rms"]
                ok = ok and m["rel_rms"] <= a.factor * bf16_err + a.floor and m["min_cos"] >= a.cos
                why = f"rel RMS > {a.factor:g} x bf16's {bf16_err:.2e} or cos < {a.cos:g}"
            elif a.mode == "peer":
                pm = compare_tensor(r, load_checked(ref, peer, k, "the peer's dump"), shape, mask, is_logits)
                m["peer"] = {x: pm[x] for x in ("rel_rms", "min_cos", "max_abs_diff", "argmax_mismatch", "argmax_near_tie", "argmax_same") if x in pm}
                m["rel_rms_ratio"] = m["rel_rms"] / pm["rel_rms"] if pm["rel_rms"] > a.floor else None
                ok = ok and m["rel_rms"] <= a.factor * pm["rel_rms"] + a.floor
                why = f"rel RMS > {a.factor:g} x peer's {pm['rel_rms']:.2e}"
                if is_logits and m["argmax_mismatch"] > pm["argmax_mismatch"]:
                    ok = False
                    why += f" or argmax mismatches {m['argmax_mismatch']} > peer's {pm['argmax_mismatch']}"
            if is_logits and a.mode in ("fp32", "emulated"):
                ok = ok and m["argmax_mismatch"] == 0
                why += " or argmax"
            m["ok"] = bool(ok) if a.mode != "info" else None
            record["tensors"][k] = m
            line = (f"  {k:28s} rows {m['rows']:6d}  max|diff| {m['max_abs_diff']:.3e}  max|ref| {m['max_abs_ref']:.3e}"
                    f"  min cos {m['min_cos']:.6f}  rel RMS {m['rel_rms']:.2e}")
            ratio = "–" if m.get("rel_rms_ratio") is None else f"{m['rel_rms_ratio']:.2f}"
            if "peer" in m:
                line += f" (peer {m['peer']['rel_rms']:.2e}, ratio {ratio})"
            if "emulated_vs_ref" in m:
                line += f" (bf16's own {m['emulated_vs_ref']['rel_rms']:.2e}, ratio {ratio})"
            if is_logits:
                line += f"  argmax same {m['argmax_same']}/{m['rows']} (near-tie {m['argmax_near_tie']}, mismatch {m['argmax_mismatch']})"
            if not m["finite"]:
                line += "  NON-FINITE values in ours"
            if a.mode != "info":
                line += "  ok" if ok else f"  FAIL ({why})"
            print(line)
            if not ok and a.mode != "info":
                status = "fail"
                record["problems"].append(k)
    except (OSError, ValueError, KeyError) as e:
        status = "error"
        record["problems"].append(str(e))
        print(f"  error: {e}")
    if a.mode == "info" and status == "pass":
        status = "info"
    t = record["tensors"]
    ratios = [m["rel_rms_ratio"] for m in t.values() if m.get("rel_rms_ratio") is not None]
    record["status"] = status
    record["summary"] = {
        "max_abs_diff": max((m["max_abs_diff"] for m in t.values()), default=None),
        "min_cos": min((m["min_cos"] for m in t.values()), default=None),
        "max_rel_rms": max((m["rel_rms"] for m in t.values()), default=None),
        "max_rel_rms_ratio": max(ratios, default=None),
        "worst_tensor": min(t, key=lambda k: t[k]["min_cos"]) if t else None,
        "last_hidden_max_abs_diff": t.get("hidden.last_hidden_state", {}).get("max_abs_diff"),
        "logits_max_abs_diff": t.get("logits", {}).get("max_abs_diff"),
        "argmax": (f"{t['logits']['argmax_same']}/{t['logits']['rows']}" if "logits" in t else None),
        "argmax_near_tie": t.get("logits", {}).get("argmax_near_tie"),
        "argmax_mismatch": t.get("logits", {}).get("argmax_mismatch"),
    }
    sm = record["summary"]
    print(f"{a.name}: {status.upper()}  max|diff| {sm['max_abs_diff']}  min cos {sm['min_cos']}  argmax {sm['argmax']}"
          + (f"  worst rel-RMS ratio {sm['max_rel_rms_ratio']:.2f}" if ratios else ""))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "a") as f:
            f.write(json.dumps(record) + "\n")
    sys.exit({"pass": 0, "info": 0, "fail": 1}.get(status, 2))


if __name__ == "__main__":
    main()
