using System.Runtime.InteropServices;
using Eval.Engine.IO;

namespace Eval.Tests.Engine;

/// <summary>
/// Reading weights leaves no second copy in memory: once a tensor is converted into the caller's buffer, its pages of
/// the memory-mapped checkpoint leave the process's resident set (the mapping's own Rss in /proc/self/smaps, which other
/// threads' memory does not move), for safetensors and for torch.save zip files. Linux only (elsewhere nothing is released).
/// </summary>
[TestClass]
public sealed class MappedPagesTests
{
    private const int Elements = 8 << 20; // 32 MiB of float32

    /// <summary>Resident kB of the mappings of path, from /proc/self/smaps.</summary>
    private static long ResidentKilobytes(string path)
    {
        long total = 0;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-') && line.Contains(' '))
                inside = line.EndsWith(path, StringComparison.Ordinal);
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line[4..].Trim().Split(' ')[0]);
        }
        return total;
    }

    private static float[] Values()
    {
        var values = new float[Elements];
        for (int i = 0; i < values.Length; i++) values[i] = i % 1000 * 0.001f;
        return values;
    }

    [TestMethod]
    public void ASafetensorsTensorsPagesAreReleasedOnceRead()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("madvise is Linux's");
        var path = Path.Combine(SharedFixtures.TempDirectory(), "big.safetensors");
        new SafetensorsWriter().Add("w", Values(), Elements).Write(path);
        using var file = new SafetensorsFile(path);
        var destination = new float[Elements];
        file.ReadAsFloat32("w", destination);
        Assert.AreEqual(999 * 0.001f, destination[999]);
        long resident = ResidentKilobytes(path);
        Assert.IsTrue(resident < 1024, $"{resident} kB of the 32 MiB file are still resident after reading it");
        // Touching the bytes again maps them back from the page cache: nothing is lost.
        file.ReadRaw("w", 4 * 999, MemoryMarshal.AsBytes(destination.AsSpan(0, 1)));
        Assert.AreEqual(999 * 0.001f, destination[0]);
    }

    [TestMethod]
    public void ATorchZipTensorsPagesAreReleasedOnceRead()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("madvise is Linux's");
        var path = Path.Combine(SharedFixtures.TempDirectory(), "pytorch_model.bin");
        TorchZipWriter.Write(path, PickleBuilder.StateDict([("w", "FloatStorage", "0", Elements, 0, [Elements], [1])]),
            [("0", MemoryMarshal.AsBytes(Values().AsSpan()).ToArray())]);
        using var file = new TorchCheckpoint(path);
        var destination = new float[Elements];
        file.ReadAsFloat32("w", destination);
        Assert.AreEqual(999 * 0.001f, destination[999]);
        long resident = ResidentKilobytes(path);
        Assert.IsTrue(resident < 1024, $"{resident} kB of the 32 MiB file are still resident after reading it");
    }
}
