using System.Diagnostics;
using Eval.Fuzz.Targets;

namespace Eval.Tests.Fuzz;

/// <summary>
/// Every input AFL++ found to crash or hang a parser (tests/Fuzz/FuzzFindings/TARGET/*, see fuzz/README.md) replayed
/// through the same target code the fuzzer ran, uninstrumented: each must now be accepted or refused with the parser's
/// documented error naming the input, within the allocation bound and in well under the fuzzer's hang limit.
/// </summary>
[TestClass]
public sealed class FuzzFindingsTests
{
    /// <summary>The fuzzer's hang limit is 2 s per input; a test machine running other tests gets five times that.</summary>
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);

    public static string FindingsFolder { get; } = Path.Combine(SharedFixtures.ProjectRoot, "tests", "Fuzz", "FuzzFindings");

    public static IEnumerable<object[]> Findings() =>
        Directory.Exists(FindingsFolder)
            ? Directory.EnumerateDirectories(FindingsFolder).Order(StringComparer.Ordinal)
                .SelectMany(folder => Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal)
                    .Select(file => new object[] { Path.GetFileName(folder), Path.GetFileName(file) }))
            : [];

    [TestMethod]
    public void EveryFindingsFolderIsATarget()
    {
        var targets = FuzzTargets.All.Select(t => t.Name).ToHashSet();
        foreach (var folder in Directory.EnumerateDirectories(FindingsFolder))
            Assert.IsTrue(targets.Contains(Path.GetFileName(folder)), $"{folder} is not named after a fuzz target ({string.Join(", ", targets)})");
        Assert.IsTrue(Findings().Any(), $"no findings under {FindingsFolder}");
    }

    [TestMethod]
    [DynamicData(nameof(Findings), DynamicDataSourceType.Method)]
    public void FindingIsAcceptedOrRefusedWithItsDocumentedError(string target, string file)
    {
        var fuzzTarget = FuzzTargets.Get(target);
        var input = File.ReadAllBytes(Path.Combine(FindingsFolder, target, file));
        using var workspace = new FuzzWorkspace();
        var clock = Stopwatch.StartNew();
        FuzzResult result;
        try
        {
            result = FuzzExecution.Execute(fuzzTarget, input, workspace);
        }
        catch (Exception e)
        {
            Assert.Fail($"{target}/{file}: crashed (documented errors: {fuzzTarget.DocumentedErrorNames}): {e}");
            return;
        }
        Assert.IsTrue(clock.Elapsed < TimeLimit, $"{target}/{file} took {clock.Elapsed.TotalSeconds:F1} s");
        if (!result.Accepted)
            StringAssert.Contains(result.DocumentedError!.Message, fuzzTarget.InputName, $"{target}/{file}: the error does not name the input");
    }

    /// <summary>A finding whose fault was an acceptance, not a crash: replaying it only proves no crash, so this checks the refusal.</summary>
    [TestMethod]
    [DataRow("samples-jsonl", "task-null.jsonl", "task is Null")]
    [DataRow("torch-checkpoint", "size-product-beyond-64-bits.bin", "tensor 'w': size [4611686018427387904, 4] × F32 is more bytes than a file can hold")]
    public void FindingThatWasWronglyAcceptedIsRefused(string target, string file, string message)
    {
        using var workspace = new FuzzWorkspace();
        var result = FuzzExecution.Execute(FuzzTargets.Get(target), File.ReadAllBytes(Path.Combine(FindingsFolder, target, file)), workspace);
        Assert.IsFalse(result.Accepted, $"{target}/{file} was accepted");
        StringAssert.Contains(result.DocumentedError!.Message, message);
    }

    [TestMethod]
    public void ATargetsUndocumentedExceptionIsACrash()
    {
        var target = new FuzzTarget("throws", "x", "", [typeof(FormatException)], (_, _) => throw new IndexOutOfRangeException());
        using var workspace = new FuzzWorkspace();
        Assert.ThrowsException<IndexOutOfRangeException>(() => FuzzExecution.Execute(target, [1], workspace));
    }

    [TestMethod]
    public void ADocumentedErrorThatDoesNotNameTheInputIsACrash()
    {
        var target = new FuzzTarget("unnamed", "input.txt", "", [typeof(FormatException)], (_, _) => throw new FormatException("bad"));
        using var workspace = new FuzzWorkspace();
        Assert.ThrowsException<UnnamedInputException>(() => FuzzExecution.Execute(target, [1], workspace));
        var named = target with { Run = (_, _) => throw new FormatException("input.txt: bad") };
        Assert.IsFalse(FuzzExecution.Execute(named, [1], workspace).Accepted);
    }

    [TestMethod]
    public void AllocatingBeyondTheBoundIsACrash()
    {
        var target = new FuzzTarget("hungry", "x", "", [], (input, _) => GC.KeepAlive(new byte[FuzzExecution.AllocationBound(input.Length) + 1]));
        using var workspace = new FuzzWorkspace();
        Assert.ThrowsException<AllocationBoundExceededException>(() => FuzzExecution.Execute(target, new byte[10], workspace));
    }
}
