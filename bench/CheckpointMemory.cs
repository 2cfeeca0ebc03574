using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Benchmarks;
using Eval.Models;
using Eval.Tests.Engine;

namespace Eval.Bench;

/// <summary>
/// Peak resident memory of loading a large checkpoint on the CPU backend. `write` makes a synthetic checkpoint of a
/// config's real shapes as the hub ships mT0 (torch.save zip shards pytorch_model-0000k-of-0000n.bin + index, the
/// embedding also as encoder/decoder.embed_tokens views of its storage, float32 values from a repeated random block);
/// `load` loads it in a fresh process and prints its weight bytes, peak RSS and their ratio (run it under
/// /usr/bin/time -v for the kernel's own count).
/// </summary>
public static class CheckpointMemory
{
    public static int Run(string[] args)
    {
        string? Option(string name) => Array.IndexOf(args, name) is >= 0 and var i && i + 1 < args.Length ? args[i + 1] : null;
        switch (args.FirstOrDefault())
        {
            case "write":
                Write(Option("--config") ?? throw new ArgumentException("write needs --config FILE"), Option("--output") ?? throw new ArgumentException("write needs --output DIR"),
                    Option("--layers") is { } layers ? int.Parse(layers, CultureInfo.InvariantCulture) : null,
                    ShardedCheckpointWriter.ParseSize(Option("--max-shard-size") ?? "10GB"));
                return 0;
            case "load":
                Load(Option("--model") ?? throw new ArgumentException("load needs --model DIR"), int.Parse(Option("--threads") ?? "2", CultureInfo.InvariantCulture));
                return 0;
            default:
                Console.Error.WriteLine("usage: checkpoint-memory write --config FILE --output DIR [--layers N] [--max-shard-size 10GB] | load --model DIR [--threads 2]");
                return 2;
        }
    }

    /// <summary>Records each tensor a model asks for (name and shape, in load order) and reads nothing: the model's host tensors stay untouched, so never resident.</summary>
    private sealed class ShapeRecorder : IWeightSource
    {
        public List<(string Name, long[] Shape)> Tensors { get; } = [];
        public string Description => "shape recorder";
        public bool Contains(string name) => true;
        public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination) => Tensors.Add((name, expectedShape.ToArray().Select(d => (long)d).ToArray()));
    }

    private static void Write(string configPath, string output, int? layers, long maxShardBytes)
    {
        var config = ModelConfig.Load(configPath);
        var text = File.ReadAllText(configPath);
        if (layers is { } n)
        {
            // The same shape with n encoder and n decoder layers (a few GB where the whole model does not fit the disk).
            var json = System.Text.Json.Nodes.JsonNode.Parse(text)!.AsObject();
            foreach (var key in new[] { "num_layers", "num_decoder_layers", "num_hidden_layers" })
                if (json.ContainsKey(key)) json[key] = n;
            text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            config = ModelConfig.Parse(System.Text.Encoding.UTF8.GetBytes(text), configPath + $" ({n} layers)");
        }
        var recorder = new ShapeRecorder();
        using (var backend = new CpuBackend(1))
        using (ModelLoader.Create(config, recorder, backend)) { }
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "config.json"), text);

        // One storage per tensor, in load order, cut into shards of at most maxShardBytes; the embedding's copies are views.
        var block = new float[1 << 18];
        var random = new Random(1);
        for (int i = 0; i < block.Length; i++) block[i] = (float)(random.NextDouble() * 0.1 - 0.05);
        var shards = new List<List<(string Name, long[] Shape)>> { new() };
        long inShard = 0, total = 0;
        foreach (var tensor in recorder.Tensors)
        {
            long bytes = tensor.Shape.Aggregate(1L, (a, b) => a * b) * sizeof(float);
            if (inShard > 0 && inShard + bytes > maxShardBytes) { shards.Add([]); inShard = 0; }
            shards[^1].Add(tensor);
            inShard += bytes;
            total += bytes;
        }
        var map = new Dictionary<string, string>();
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < shards.Count; s++)
        {
            var file = $"pytorch_model-{s + 1:00000}-of-{shards.Count:00000}.bin";
            var entries = new List<(string, string, string, long, long, long[], long[])>();
            var storages = new List<(string, Action<Stream>)>();
            foreach (var (name, shape) in shards[s])
            {
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                var key = storages.Count.ToString(CultureInfo.InvariantCulture);
                long[] stride = shape.Length == 2 ? [shape[1], 1] : [1];
                entries.Add((name, "FloatStorage", key, elements, 0, shape, stride));
                map[name] = file;
                if (T5Model.EmbeddingNames.Contains(name) && config.Architectures.Any(a => a.EndsWith("ForConditionalGeneration", StringComparison.Ordinal)))
                    foreach (var copy in T5Model.EmbeddingNames.Where(c => c != name))
                    {
                        entries.Add((copy, "FloatStorage", key, elements, 0, shape, stride));
                        map[copy] = file;
                    }
                storages.Add((key, stream =>
                {
                    var bytes = MemoryMarshal.AsBytes(block.AsSpan());
                    for (long left = elements * sizeof(float); left > 0; left -= bytes.Length)
                        stream.Write(bytes[..(int)Math.Min(bytes.Length, left)]);
                }));
            }
            TorchZipWriter.WriteStreamed(Path.Combine(output, file), PickleBuilder.StateDict(entries), storages, archive: Path.GetFileNameWithoutExtension(file));
            Console.WriteLine($"wrote {file}: {shards[s].Count} tensors ({clock.Elapsed.TotalSeconds:0} s)");
        }
        File.WriteAllText(Path.Combine(output, Checkpoint.PytorchIndexFile),
            JsonSerializer.Serialize(new { metadata = new { total_size = total }, weight_map = map }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"{output}: {recorder.Tensors.Count} tensors, {total / 1e9:0.00} GB of float32 in {shards.Count} shards");
    }

    private static void Load(string dir, int threads)
    {
        var clock = Stopwatch.StartNew();
        using var backend = new CpuBackend(threads);
        using var model = ModelLoader.Load(dir, backend);
        double seconds = clock.Elapsed.TotalSeconds;
        long weightBytes = model.ParameterCount * sizeof(float);
        long peak = Measurement.PeakResidentBytes();
        Console.WriteLine($"machine: {Measurement.Machine()}");
        Console.WriteLine($"loaded {dir} ({ModelLoader.ResolveArchitecture(model.Config)}) in {seconds:0.0} s: {model.ParameterCount / 1e9:0.000}B parameters, " +
                          $"{weightBytes / 1e9:0.00} GB of float32 weights; peak RSS {peak / 1e9:0.00} GB = {peak / (double)weightBytes:0.000}x the weight bytes");
        if (model is IEncoderDecoderModel encoderDecoder)
        {
            // One encode and one decoder step, to show the loaded model runs (the timing is no benchmark).
            clock.Restart();
            using var encoder = encoderDecoder.Encode(new TokenBatch([100, 200, 300, 400, 500, 600, 700, 1], [1, 1, 1, 1, 1, 1, 1, 1], 1, 8));
            using var step = encoderDecoder.Decode(new TokenBatch([encoderDecoder.DecoderStartTokenId], [1], 1, 1), encoder);
            using var logits = encoderDecoder.Logits(step.LastHidden, [0]);
            Console.WriteLine($"encode 8 tokens + one decoder step: {clock.Elapsed.TotalSeconds:0.0} s, first token {System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Span)}; " +
                              $"peak RSS now {Measurement.PeakResidentBytes() / 1e9:0.00} GB");
        }
    }
}
