using System.Runtime.InteropServices;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// Sizes a checkpoint states are computed with checked arithmetic and refused, naming the file and the tensor, when they
/// do not hold: a torch.save view whose element count overflows 64 bits ([2^62, 4]: it wrapped to 0 and the file was
/// accepted), an expanded stride-0 view of exabytes ([2^40, 2^20]: `convert` allocated it and crashed), a fairseq matrix
/// with more rows than an int. `forward` and `convert` refuse them with one line; strided views are read a window at a
/// time and give the same bytes as the dense tensor.
/// </summary>
[TestClass]
public sealed class TensorSizeTests
{
    /// <summary>What the files hold besides a valid model: one unused tensor of each kind.</summary>
    public static IEnumerable<object[]> Oversized =>
    [
        ["[2^62, 4]", new[] { 1L << 62, 4 }, new[] { 4L, 1 }, 4L, "size [4611686018427387904, 4] × F32 is more bytes than a file can hold"],
        ["[2^62, 4] expanded", new[] { 1L << 62, 4 }, new[] { 0L, 1 }, 4L, "size [4611686018427387904, 4] × F32 is more bytes than a file can hold"],
        ["[2^40, 2^20] stride 0", new[] { 1L << 40, 1L << 20 }, new[] { 0L, 0 }, 1L,
            "size [1099511627776, 1048576] (stride [0, 0], offset 0) × F32 is 4611686018427387904 bytes as a dense tensor, more than the 1099511627776 bytes a tensor may have"],
    ];

    /// <summary>xlmr-tiny-bin's config and tensors as pytorch_model.bin, plus one unused tensor 'unused.weight'.</summary>
    private static string ModelWithExtraTensor(long[] shape, long[] stride, long storageElements)
    {
        var source = SharedFixtures.Checkpoint("xlmr-tiny-bin");
        var folder = Path.Combine(SharedFixtures.TempDirectory(), "model");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(folder, "config.json"));
        using var checkpoint = Checkpoint.Open(source);
        TorchZipWriter.WriteCatalog(Path.Combine(folder, Checkpoint.PytorchFile), checkpoint, checkpoint.Tensors,
            extra: ("unused.weight", "FloatStorage", storageElements, 0, shape, stride, new byte[storageElements * 4]));
        return folder;
    }

    [TestMethod]
    [DynamicData(nameof(Oversized))]
    public void ATensorWhoseSizeDoesNotHoldIsRefusedByNameWhenOpened(string label, long[] shape, long[] stride, long storageElements, string says)
    {
        var folder = ModelWithExtraTensor(shape, stride, storageElements);
        var file = Path.Combine(folder, Checkpoint.PytorchFile);
        var e = Assert.ThrowsExactly<CheckpointFormatException>(() => new TorchCheckpoint(file).Dispose(), label);
        StringAssert.StartsWith(e.Message, $"{file}: tensor 'unused.weight': {says}", label);
        using var backend = new CpuBackend(1);
        Assert.ThrowsExactly<CheckpointFormatException>(() => ModelLoader.Load(folder, backend).Dispose(), $"{label}: loading (forward) refuses it too");
        Assert.ThrowsExactly<CheckpointFormatException>(() => ModelFolderConverter.Convert(folder, Path.Combine(SharedFixtures.TempDirectory(), "out")), label);
    }

    [TestMethod]
    public void ConvertAndForwardRefuseEachWithOneLine()
    {
        var golden = Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-bin"), "golden.safetensors");
        foreach (var row in Oversized)
        {
            var (label, shape, stride, elements, says) = ((string)row[0], (long[])row[1], (long[])row[2], (long)row[3], (string)row[4]);
            var folder = ModelWithExtraTensor(shape, stride, elements);
            var temp = SharedFixtures.TempDirectory();
            foreach (var args in new[]
                     {
                         new[] { "convert", folder, Path.Combine(temp, "converted") },
                         ["forward", "--model", folder, "--input", golden, "--output", Path.Combine(temp, "out.safetensors")],
                     })
            {
                var (code, output) = ProgramProcess.Run(SharedFixtures.ProjectRoot, args);
                Assert.AreEqual(1, code, $"{label} {args[0]}: {output}");
                // forward says which device it chose first; then the one error line, and no stack trace.
                Assert.IsFalse(output.Contains("   at "), $"{label} {args[0]}: {output}");
                var line = output.Trim().Split('\n')[^1];
                Assert.AreEqual(1, output.Split('\n').Count(l => l.StartsWith("error: ", StringComparison.Ordinal)), $"{label} {args[0]}: {output}");
                StringAssert.StartsWith(line, $"error: {Path.Combine(folder, Checkpoint.PytorchFile)}: tensor 'unused.weight': ", $"{label} {args[0]}");
                StringAssert.Contains(line, says, $"{label} {args[0]}");
            }
            Assert.IsFalse(Path.Exists(Path.Combine(temp, "converted")) || Path.Exists(Path.Combine(temp, "converted.tmp")) || Path.Exists(Path.Combine(temp, "out.safetensors")), label);
        }

        // The same model without the extra tensor converts and runs: the refusal is the tensor's.
        var plain = SharedFixtures.TempDirectory();
        var (ok, text) = ProgramProcess.Run(SharedFixtures.ProjectRoot, "convert", SharedFixtures.Checkpoint("xlmr-tiny-bin"), Path.Combine(plain, "converted"));
        Assert.AreEqual(0, ok, text);
    }

    [TestMethod]
    public void StridedAndExpandedViewsReadAWindowAtATimeAsTheDenseTensor()
    {
        // A [3, 4, 5] tensor stored transposed (strides [1, 3, 12]) and a [6, 1000] view expanding one row of 1000
        // (strides [0, 1], as transformers' position_ids buffer is saved): every window, at any byte offset, equals the
        // same bytes of the dense tensor, and the float32 conversion equals it too.
        var dense = Enumerable.Range(0, 60).Select(i => (float)i * 0.5f - 7).ToArray();
        var transposed = new float[60];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 5; c++)
                    transposed[a + 3 * b + 12 * c] = dense[a * 20 + b * 5 + c];
        var row = Enumerable.Range(0, 1000).Select(i => (float)i).ToArray();
        var path = Path.Combine(SharedFixtures.TempDirectory(), Checkpoint.PytorchFile);
        TorchZipWriter.Write(path, PickleBuilder.StateDict(
        [
            ("t", "FloatStorage", "0", 60, 0, [3, 4, 5], [1, 3, 12]),
            ("e", "FloatStorage", "1", 1000, 0, [6, 1000], [0, 1]),
        ]), [("0", MemoryMarshal.AsBytes(transposed.AsSpan()).ToArray()), ("1", MemoryMarshal.AsBytes(row.AsSpan()).ToArray())]);
        var expanded = Enumerable.Repeat(row, 6).SelectMany(r => r).ToArray();

        using var file = new TorchCheckpoint(path);
        foreach (var (name, expected) in new[] { ("t", dense), ("e", expanded) })
        {
            var expectedBytes = MemoryMarshal.AsBytes(expected.AsSpan()).ToArray();
            Assert.AreEqual(expectedBytes.Length, file.Info(name).ByteCount);
            foreach (var (offset, length) in new[] { (0, expectedBytes.Length), (0, 1), (3, 10), (7, 33), (expectedBytes.Length - 5, 5), (4001, 9000 % (expectedBytes.Length - 4001 + 1)) })
            {
                if (offset + length > expectedBytes.Length) continue;
                var window = new byte[length];
                file.ReadRaw(name, offset, window);
                CollectionAssert.AreEqual(expectedBytes[offset..(offset + length)], window, $"{name} [{offset}, +{length})");
            }
            var floats = new float[expected.Length];
            file.ReadAsFloat32(name, floats);
            CollectionAssert.AreEqual(expected, floats, name);
        }
    }

    [TestMethod]
    public void AFairseqMatrixWithMoreRowsThanAnIntIsRefusedByName()
    {
        var path = Path.Combine(SharedFixtures.ProjectRoot, "tests", "Fuzz", "FuzzFindings", "fairseq-checkpoint", "embed-tokens-rows-beyond-int32.pt");
        var e = Assert.ThrowsExactly<CheckpointFormatException>(() => FairseqCheckpoint.Open(path).Dispose());
        StringAssert.Contains(e.Message, $"{path}: tensor 'encoder.sentence_encoder.embed_tokens.weight' has shape [2147483648, 4]: rows beyond 2147483647");
    }
}
