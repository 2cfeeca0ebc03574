#!/usr/bin/env python3
"""Compares a forward dump of ours (`mlm-eval forward --output`) with a reference in the golden layout.

Reference and ours are safetensors files: `input_ids`, `attention_mask` [B,S] int64, optionally `logits_at` [N,2];
float tensors `hidden.*` [B,S,H] (compared only where attention_mask is 1) and `logits` ([N,V] rows at logits_at,
or [B,S,V] per position). Every float tensor of the reference that --keys selects is compared row by row:

  max |diff|, max |ref|, the smallest cosine similarity of a row, and for `logits` the argmax of every row. An argmax
  that differs is a near-tie when both sides had the two candidates within e of each other, e = 3 x the RMS of that
  row's |diff| (the row's noise level; one wrong logit barely moves it): the numbers agree to within their error,
  so it is counted apart and does not fail the check.

Modes (pass criteria):
  fp32  every tensor max |diff| <= --tol (with --relative: <= tol * max(1, max |ref|)), no argmax mismatch but near-ties
  bf16  every row's cosine >= --cos, no argmax mismatch but near-ties
  info  reports only

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
        out.update(max_abs_diff=max_diff, max_abs_ref=max_ref, min_cos=min_cos)
        if is_logits:
            out.update(argmax_same=same, argmax_near_tie=near_tie, argmax_mismatch=bad)
    out["finite"] = finite
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="reference safetensors (golden layout)")
    p.add_argument("--ours", required=True, help="our forward dump")
    p.add_argument("--name", required=True, help="label for the record (e.g. 'a modernbert-tiny cuda fp32')")
    p.add_argument("--step", default="", help="step id for the record (a, b)")
    p.add_argument("--mode", choices=["fp32", "bf16", "info"], required=True)
    p.add_argument("--tol", type=float, default=1e-3, help="fp32: max |diff| allowed (default 1e-3)")
    p.add_argument("--relative", action="store_true", help="fp32: the tolerance scales with max(1, max |ref|) per tensor")
    p.add_argument("--cos", type=float, default=0.999, help="bf16: smallest cosine per row allowed (default 0.999)")
    p.add_argument("--keys", default="all", help="'all' float tensors of the reference, or a comma-separated list")
    p.add_argument("--json", help="append the record (one JSON line) to this file")
    a = p.parse_args()

    record = {"step": a.step, "name": a.name, "mode": a.mode, "ref": a.ref, "ours": a.ours, "tensors": {}, "problems": []}
    status = "pass"
    try:
        ref, ours = Safetensors(a.ref), Safetensors(a.ours)
        for k in ("input_ids", "attention_mask"):
            if k not in ref.entries or k not in ours.entries:
                raise ValueError(f"'{k}' missing from {'the reference' if k not in ref.entries else 'our dump'}")
            if ref.shape(k) != ours.shape(k) or list(ref.load(k)) != list(ours.load(k)):
                raise ValueError(f"'{k}' differs between the reference and our dump: not the same input")
        mask = list(ref.load("attention_mask"))
        keys = [k for k in ref.entries if k not in INPUT_KEYS and ref.dtype(k) in ("F32", "F16", "BF16", "F64")]
        if a.keys != "all":
            wanted = [k.strip() for k in a.keys.split(",") if k.strip()]
            missing = [k for k in wanted if k not in ref.entries]
            if missing:
                raise ValueError(f"reference lacks {missing}")
            keys = wanted
        keys.sort(key=order)
        for k in keys:
            if k not in ours.entries:
                raise ValueError(f"our dump lacks '{k}'")
            if ref.shape(k) != ours.shape(k):
                raise ValueError(f"'{k}': reference shape {ref.shape(k)}, ours {ours.shape(k)}")
            m = compare_tensor(ref.load(k), ours.load(k), ref.shape(k), mask, k == "logits")
            limit = a.tol * (max(1.0, m["max_abs_ref"]) if a.relative else 1.0)
            ok = m["finite"]
            if a.mode == "fp32":
                ok = ok and m["max_abs_diff"] <= limit
            elif a.mode == "bf16":
                ok = ok and m["min_cos"] >= a.cos
            if k == "logits" and a.mode != "info":
                ok = ok and m["argmax_mismatch"] == 0
            m["ok"] = bool(ok) if a.mode != "info" else None
            record["tensors"][k] = m
            line = (f"  {k:28s} rows {m['rows']:6d}  max|diff| {m['max_abs_diff']:.3e}  max|ref| {m['max_abs_ref']:.3e}"
                    f"  min cos {m['min_cos']:.6f}")
            if k == "logits":
                line += f"  argmax same {m['argmax_same']}/{m['rows']} (near-tie {m['argmax_near_tie']}, mismatch {m['argmax_mismatch']})"
            if not m["finite"]:
                line += "  NON-FINITE values in ours"
            if a.mode != "info":
                line += "  ok" if ok else f"  FAIL ({'max|diff| > %.1e' % limit if a.mode == 'fp32' else 'cos < %g' % a.cos} or argmax)"
            print(line)
            if not ok and a.mode != "info":
                status = "fail"
                record["problems"].append(k)
        if not keys:
            raise ValueError("no float tensors to compare")
    except (OSError, ValueError, KeyError) as e:
        status = "error"
        record["problems"].append(str(e))
        print(f"  error: {e}")
    if a.mode == "info" and status == "pass":
        status = "info"
    t = record["tensors"]
    record["status"] = status
    record["summary"] = {
        "max_abs_diff": max((m["max_abs_diff"] for m in t.values()), default=None),
        "min_cos": min((m["min_cos"] for m in t.values()), default=None),
        "last_hidden_max_abs_diff": t.get("hidden.last_hidden_state", {}).get("max_abs_diff"),
        "logits_max_abs_diff": t.get("logits", {}).get("max_abs_diff"),
        "argmax": (f"{t['logits']['argmax_same']}/{t['logits']['rows']}" if "logits" in t else None),
        "argmax_near_tie": t.get("logits", {}).get("argmax_near_tie"),
        "argmax_mismatch": t.get("logits", {}).get("argmax_mismatch"),
    }
    print(f"{a.name}: {status.upper()}  max|diff| {record['summary']['max_abs_diff']}  min cos {record['summary']['min_cos']}"
          f"  argmax {record['summary']['argmax']}")
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "a") as f:
            f.write(json.dumps(record) + "\n")
    sys.exit({"pass": 0, "info": 0, "fail": 1}.get(status, 2))


if __name__ == "__main__":
    main()
