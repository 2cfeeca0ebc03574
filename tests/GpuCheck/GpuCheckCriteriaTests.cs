using System.Diagnostics;
using System.Text.Json;
using Eval.Cli;
using Eval.Engine;
using Eval.Models;

namespace Eval.Tests.GpuCheck;

/// <summary>
/// The bf16 pass criteria of the GPU check (bench/gpu/compare.py, bench/gpu/README.md) on ILGPU's CPU accelerator with
/// the CUDA path's roundings (bf16 weights, activations rounded to bf16 before each GEMM, float32 accumulation):
/// <list type="bullet">
/// <item>a correct GPU differs from that emulation only in the order of float32 additions, played here by relative
/// noise on every Linear output: the criteria pass;</item>
/// <item>a kernel bug in one layer (layer 0, a global-attention layer, given the local RoPE θ 10,000 instead of
/// 160,000): the criteria fail, from that layer on.</item>
/// </list>
/// Both for "emulated" (CUDA bf16 against our emulated bf16: their relative RMS difference at most the emulated run's
/// own bf16 error against the float32 golden, every row's cosine ≥ 0.999, the same argmax) and "peer" (our relative RMS
/// error against the float32 golden at most 2× a peer's; here the emulated run stands in for transformers' bf16).
/// </summary>
[TestClass]
public sealed class GpuCheckCriteriaTests
{
    private const string Fixture = "modernbert-tiny";
    /// <summary>About 17 float32 ulps: more than cuBLAS's reordering of a 64- to 1024-long sum typically moves it.</summary>
    private const double AdditionOrderNoise = 2e-6;

    private static readonly Lazy<Dumps> Runs = new(MakeDumps);

    private sealed record Dumps(string Golden, string Emulated, string Reordered, string Buggy);

    [TestMethod]
    public void EmulatedCriterionPassesACorrectGpuAndFailsAOneLayerRopeBug()
    {
        var d = Runs.Value;
        var pass = Compare("emulated", d.Golden, d.Reordered, emulated: d.Emulated);
        Assert.AreEqual(0, pass.ExitCode, $"a correct GPU (additions reordered) failed the emulated criterion:\n{pass.Output}");
        // The reordering really moved the result: bf16 roundings flipped and spread (the ratio is about 0.3 here).
        Assert.IsTrue(pass.Record.GetProperty("summary").GetProperty("max_rel_rms_ratio").GetDouble() > 0.05,
            $"the reordering changed almost nothing: the test would not see a too-tight threshold\n{pass.Output}");

        var fail = Compare("emulated", d.Golden, d.Buggy, emulated: d.Emulated);
        Assert.AreEqual(1, fail.ExitCode, $"a wrong RoPE θ in layer 0 passed the emulated criterion:\n{fail.Output}");
        var problems = fail.Record.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).ToList();
        CollectionAssert.Contains(problems, "hidden.layer.0", fail.Output);
        CollectionAssert.DoesNotContain(problems, "hidden.embeddings", "the bug is after the embeddings");
    }

    [TestMethod]
    public void PeerCriterionPassesACorrectGpuAndFailsAOneLayerRopeBug()
    {
        var d = Runs.Value;
        var pass = Compare("peer", d.Golden, d.Reordered, peer: d.Emulated);
        Assert.AreEqual(0, pass.ExitCode, $"a correct GPU failed the peer criterion:\n{pass.Output}");

        var fail = Compare("peer", d.Golden, d.Buggy, peer: d.Emulated);
        Assert.AreEqual(1, fail.ExitCode, $"a wrong RoPE θ in layer 0 passed the peer criterion:\n{fail.Output}");
        double worst = fail.Record.GetProperty("summary").GetProperty("max_rel_rms_ratio").GetDouble();
        Assert.IsTrue(worst > 4, $"the bug's error is only {worst:F2}× bf16's: too close to the factor 2 to trust\n{fail.Output}");
    }

    private static Dumps MakeDumps()
    {
        var dir = SharedFixtures.Model(Fixture);
        var golden = Path.Combine(dir, "golden.safetensors");
        var work = SharedFixtures.TempDirectory();
        string Dump(string name, Func<IBackend, IBackend> wrap)
        {
            var path = Path.Combine(work, name + ".safetensors");
            // Group size 1: what `--device ilgpu-cpu --precision bf16` runs.
            using var backend = wrap(Engine.TestBackends.IlgpuCpu(1, Precision.Bf16));
            using var model = ModelLoader.Load(dir, backend);
            ForwardDump.Run(model, golden, path);
            return path;
        }
        return new Dumps(golden,
            Dump("emulated", b => b),
            Dump("reordered", b => new PerturbedBackend(b, linearNoise: AdditionOrderNoise)),
            Dump("buggy", b => new PerturbedBackend(b, linearNoise: AdditionOrderNoise, ropeLayer: 0, ropeThetaFactor: 10_000.0 / 160_000)));
    }

    private static (int ExitCode, string Output, JsonElement Record) Compare(string mode, string reference, string ours,
        string? peer = null, string? emulated = null)
    {
        var python = FindPython();
        var json = Path.Combine(SharedFixtures.TempDirectory(), "record.jsonl");
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(SharedFixtures.ProjectRoot, "bench", "gpu", "compare.py"), "--mode", mode,
                     "--ref", reference, "--ours", ours, "--name", $"{Fixture} {mode}", "--json", json })
            info.ArgumentList.Add(a);
        foreach (var (option, path) in new[] { ("--peer", peer), ("--emulated", emulated) })
        {
            if (path is null) continue;
            info.ArgumentList.Add(option);
            info.ArgumentList.Add(path);
        }
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(true);
            Assert.Fail("compare.py did not finish in 2 minutes");
        }
        var output = stdout.Result + stderr.Result;
        Assert.IsTrue(File.Exists(json), $"compare.py wrote no record (exit {p.ExitCode}):\n{output}");
        using var doc = JsonDocument.Parse(File.ReadLines(json).Last());
        return (p.ExitCode, output, doc.RootElement.Clone());
    }

    /// <summary>python3 on PATH; CI (CI=true) must have it, elsewhere its absence skips the test with the reason.</summary>
    private static string FindPython()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "python3");
            if (File.Exists(candidate)) return candidate;
        }
        const string why = "python3 is not on PATH: the GPU check's compare.py cannot run (apt-get install python3)";
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(why);
        Assert.Inconclusive(why);
        return "";
    }
}
