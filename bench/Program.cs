using Eval.Bench;

return args.FirstOrDefault() switch
{
    "forward" => ForwardThroughput.Run(args[1..]),
    "gemm" => GemmComparison.Run(args[1..]),
    "tokenize" => TokenizerThroughput.Run(args[1..]),
    "steps" => DecoderStepComparison.Run(args[1..]),
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
          steps [BenchmarkDotNet options]
              the ops of a decoding step at ModernBERT-base width (1 and 80 rows), and one Mask-Predict iteration of
              ModernBERT-base beside one greedy step of SmolLM2-135M (BenchmarkDotNet); end to end: `mlm-eval bench decode`
          gemm [BenchmarkDotNet options]
              managed SGEMM beside OpenBLAS sgemm on the shapes of the forward benchmark (BenchmarkDotNet)
        """);
    return 2;
}
