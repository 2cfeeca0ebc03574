using Eval.Engine.Gpu;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// The GPU backend's device memory: activations come in size classes (<see cref="DeviceSizeClass"/>), so the batches of a
/// run — all of different shapes, as the layout cuts length-sorted prompts to a token budget — reuse each other's
/// buffers instead of asking the driver for new memory (and freeing, which synchronises the device) batch after batch.
/// </summary>
[TestClass]
public sealed class DeviceMemoryTests
{
    /// <summary>A class is never below the length, at most an eighth above it (1,024 elements below that), and its own class.</summary>
    [TestMethod]
    public void ASizeClassIsAtMostAnEighthAboveTheLength()
    {
        var random = new Random(5);
        var lengths = Enumerable.Range(1, 5000).Select(i => (long)i)
            .Concat(Enumerable.Range(0, 40).SelectMany(b => new[] { (1L << b) - 1, 1L << b, (1L << b) + 1 }))
            .Concat(Enumerable.Range(0, 20000).Select(_ => random.NextInt64(1, 1L << 34)));
        long previousLength = 0, previousClass = 0;
        foreach (long n in lengths.Where(n => n > 0).Order())
        {
            long c = DeviceSizeClass.Of(n);
            Assert.IsTrue(c >= n, $"class {c} of {n} is below it");
            Assert.IsTrue(n <= 1024 ? c == 1024 : c - n < (n + 7) / 8, $"class {c} of {n} is more than an eighth above it");
            Assert.AreEqual(c, DeviceSizeClass.Of(c), $"class {c} is its own class");
            if (n > previousLength) Assert.IsTrue(c >= previousClass, $"classes grow with the length ({n})");
            (previousLength, previousClass) = (n, c);
        }
        Assert.AreEqual(8, Enumerable.Range(4097, 4096).Select(n => DeviceSizeClass.Of(n)).Distinct().Count(), "eight classes per power of two");
    }

    /// <summary>
    /// Forwards over batches cut to a 512-token budget (16 × 32, 15 × 34, 14 × 36, 13 × 39, 12 × 42) allocate device memory
    /// for the first batch only: the others' activations fall in the same classes. Exact sizes would allocate anew for
    /// every batch.
    /// </summary>
    [TestMethod]
    [DataRow("modernbert-tiny")]
    [DataRow("xlmr-tiny")]
    public void BatchesOfOtherShapesReuseTheFirstBatchsMemory(string fixture)
    {
        using var backend = TestBackends.IlgpuCpuCublas(4);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        var random = new Random(3);
        TokenBatch Batch(int count, int length) => new(
            Enumerable.Range(0, count * length).Select(_ => random.Next(5, 100)).ToArray(), Enumerable.Repeat(1, count * length).ToArray(), count, length);
        using (model.Forward(Batch(16, 32))) { }
        long afterFirst = backend.Work.DeviceAllocations;
        foreach (var (count, length) in new[] { (15, 34), (14, 36), (13, 39), (12, 42) })
            using (model.Forward(Batch(count, length))) { }
        Assert.AreEqual(afterFirst, backend.Work.DeviceAllocations, $"{fixture}: allocations after the first batch's {afterFirst}");
    }
}
