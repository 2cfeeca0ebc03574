using Eval.Bench;

return args.FirstOrDefault() switch
{
    "forward" => ForwardThroughput.Run(args[1..]),
    "gemm" => GemmComparison.Run(args[1..]),
    "tokenize" => TokenizerThroughput.Run(args[1..]),
    "tokenize-cold" => TokenizerColdThroughput.Run(args[1..]),
    "prompt-scaling" => PromptEncodingScaling.Run(args[1..]),
    "host-pipeline" => HostPipelineThroughput.Run(args[1..]),
    "steps" => DecoderStepComparison.Run(args[1..]),
    "checkpoint-memory" => CheckpointMemory.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project bench -- <benchmark> [options]
          forward [--models modernbert-large,xlm-roberta-large] [--batch 8] [--seq 256] [--threads 2] [--reps 3]
                  [--gemm Auto|Blas|Managed] [--no-peer]
              our forward (random weights, model shapes from eval/Harness/Benchmarks/ModelShapes) beside PyTorch eager (bench/peers/torch_forward.py)
          tokenize [reps]
              our tokenizers beside @huggingface/tokenizers (node) on the fixture texts, single-threaded
          tokenize-cold [--reps 3] [--threads N] [--no-node] [--tokenizers modernbert,smollm2,...] [--peers ours,rust,ml] [--interleave]
              cold caches over the unique XNLI test premises, 1 thread and N: ours beside the Rust library (Tokenizers.DotNet
              in-process; npm tokenizers with RAYON_NUM_THREADS=1 and default) and Microsoft.ML.Tokenizers, with exactness
          prompt-scaling [--task xnli] [--tokenizer modernbert] [--causal] [--template NAME] [--languages en,fr] [--split S]
                         [--threads 1,2,4] [--reps 5]
              prompts/s of the harness's prompt rendering + tokenization (ParallelPromptEncoding) over a real task on 1..N
              threads, cold (fresh tokenizer per pass) and warm, with speedup and scaling efficiency vs 1 thread
          host-pipeline [--tasks mmlu,xnli] [--reps 3] [--threads N] [--limit N] [--max-batch-tokens 65536]
              prompts/s of an evaluation run's host work — render + tokenize + batch + store in a fresh score cache —
              with a stub model that costs nothing (every choice scores 0): MMLU test with the eval.py template, XNLI
              test with its first template, all subsets; the machine's load average before and after
          steps [BenchmarkDotNet options]
              the ops of a decoding step at ModernBERT-base width (1 and 80 rows), and one Mask-Predict iteration of
              ModernBERT-base beside one greedy step of SmolLM2-135M (BenchmarkDotNet); end to end: `mlm-eval bench decode`
          checkpoint-memory write --config FILE --output DIR [--layers N] [--max-shard-size 10GB]
          checkpoint-memory load --model DIR [--threads 2]
              a synthetic sharded pytorch_model.bin checkpoint of a config's real shapes (mT0: embedding copies as views), then
              its load on the CPU backend in a fresh process: weight bytes, peak RSS and their ratio (run under /usr/bin/time -v)
          gemm [BenchmarkDotNet options]
              managed SGEMM beside OpenBLAS sgemm on the shapes of the forward benchmark (BenchmarkDotNet)
        """);
    return 2;
}
