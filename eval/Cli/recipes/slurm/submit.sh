#!/usr/bin/env bash
# Submits a sharded evaluation to Slurm: a job array of N shard tasks (`eval --shard auto`, one GPU each where the
# cluster has GPUs) and a merge job that starts only when every shard succeeded. If a shard fails, Slurm cancels the
# merge (--kill-on-invalid-dep=yes) instead of leaving it pending forever.
#
#   eval/Cli/recipes/slurm/submit.sh N RUN_ROOT EVAL_ARGS...
#   e.g. submit.sh 8 /scratch/runs/xlmr-xl-xnli --task xnli --model /models/Instruct-XLMR-XL --data-dir /data --offline
#
# Shard K writes RUN_ROOT/shard-K (resumable: resubmitting reuses its scores.sqlite); the merge writes RUN_ROOT/merged.
# Prints "ARRAY_JOB_ID MERGE_JOB_ID". Environment:
#   MLM_EVAL               how to start the program (default: mlm-eval; e.g. "dotnet /opt/eval/mlm-eval.dll")
#   SHARD_SBATCH_OPTIONS   extra sbatch options for the shards (e.g. "--partition=gpu --time=04:00:00")
#   MERGE_SBATCH_OPTIONS   extra sbatch options for the merge job
#   SHARD_GPUS             GPUs per shard (default: 1 when `sinfo` lists GPUs, else 0)
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
count=$1 root=$2
shift 2
case $count in '' | *[!0-9]* | 0) echo "error: N must be a positive number, got '$count'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/logs"
case "$(sinfo -h -o '%G' 2>/dev/null || true)" in *gpu*) cluster_gpus=1 ;; *) cluster_gpus=0 ;; esac
gpus=${SHARD_GPUS:-$cluster_gpus}
gpu_option=()
[ "$gpus" -gt 0 ] && gpu_option=(--gres="gpu:$gpus")
# shellcheck disable=SC2086 # the *_SBATCH_OPTIONS are lists of options
array=$(sbatch --parsable --array="0-$((count - 1))" --job-name=mlm-eval-shard "${gpu_option[@]}" \
  --output="$root/logs/shard-%a.out" ${SHARD_SBATCH_OPTIONS:-} "$here/shard.sbatch" "$root" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --job-name=mlm-eval-merge \
  --output="$root/logs/merge.out" ${MERGE_SBATCH_OPTIONS:-} "$here/merge.sbatch" "$root")
echo "${array} ${merge%%;*}"
