#!/usr/bin/env bash
# Runs the sharded evaluation on Kubernetes: the Indexed Job of shards, then — only if it completed — the merge Job.
#   eval/Cli/recipes/kubernetes/submit.sh [NAMESPACE]
# Edit shards-job.yaml (image, model, tasks, completions = parallelism = --shard-count, RUN) and merge-job.yaml (RUN) first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
namespace=(--namespace "${1:-default}")
kubectl "${namespace[@]}" apply -f "$here/shards-job.yaml"
# Wait for Complete or Failed, whichever comes first; only a complete array is merged.
while :; do
  complete=$(kubectl "${namespace[@]}" get job mlm-eval-shards -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')
  failed=$(kubectl "${namespace[@]}" get job mlm-eval-shards -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  if [ "$complete" = True ]; then break; fi
  if [ "$failed" = True ]; then echo "error: the shards Job failed; not merging (rerun it: shards resume)" >&2; exit 1; fi
  sleep 30
done
kubectl "${namespace[@]}" apply -f "$here/merge-job.yaml"
kubectl "${namespace[@]}" wait --for=condition=complete --timeout=1h job/mlm-eval-merge
