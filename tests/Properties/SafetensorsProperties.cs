using System.Numerics;
using System.Text;
using System.Text.Json;
using CsCheck;
using Eval.Engine.IO;

namespace Eval.Tests.Properties;

/// <summary>
/// Property tests of <see cref="SafetensorsWriter"/> / <see cref="ShardedCheckpointWriter"/> against
/// <see cref="SafetensorsFile"/>: what is written reads back the same, and a damaged file is either rejected with
/// <see cref="CheckpointFormatException"/> (the parser's one documented error) or read as a self-consistent file.
/// </summary>
[TestClass]
public sealed class SafetensorsProperties
{
    private sealed record TensorSpec(string Name, SafetensorsDType DType, long[] Shape, byte[] Bytes)
    {
        public override string ToString() => $"{JsonSerializer.Serialize(Name)} {DType} [{string.Join(",", Shape)}] {Bytes.Length} bytes";
    }

    private sealed record FileSpec(TensorSpec[] Tensors, Dictionary<string, string> Metadata)
    {
        public override string ToString() =>
            $"tensors: {string.Join("; ", Tensors.Select(t => t.ToString()))} metadata: {JsonSerializer.Serialize(Metadata)}";
    }

    // Names: Unicode text with dots (the usual "encoder.layer.0.weight" shape), possibly empty.
    private static readonly Gen<string> Name = Gen.OneOf(
        PropertyGens.Text(6),
        PropertyGens.Text(4).Array[1, 4].Select(parts => string.Join(".", parts)),
        Gen.OneOf(new[] { "encoder.layer.0.weight", "a", "a.b", ".", "..", "" }));

    private static readonly Gen<TensorSpec> Tensor =
        Gen.Select(Name, Gen.Enum<SafetensorsDType>(), Gen.Int[0, 4].Array[0, 4])
            .SelectMany((name, dtype, dims) =>
            {
                var shape = dims.Select(d => (long)d).ToArray();
                int byteCount = (int)(shape.Aggregate(1L, (a, b) => a * b) * SafetensorsFile.ElementSize(dtype));
                return Gen.Byte.Array[byteCount].Select(bytes => new TensorSpec(name, dtype, shape, bytes));
            });

    private static readonly Gen<FileSpec> File_ =
        Gen.Select(Tensor.Array[0, 5], Gen.Select(PropertyGens.Text(5), PropertyGens.Text(8)).Array[0, 3])
            .Select((tensors, meta) => new FileSpec(
                tensors.Where(t => t.Name != "__metadata__").DistinctBy(t => t.Name, StringComparer.Ordinal).ToArray(),
                meta.DistinctBy(m => m.Item1, StringComparer.Ordinal).ToDictionary(m => m.Item1, m => m.Item2, StringComparer.Ordinal)));

    private static void Write(FileSpec spec, string path)
    {
        var writer = new SafetensorsWriter();
        foreach (var t in spec.Tensors) writer.Add(t.Name, t.DType, t.Bytes, t.Shape);
        foreach (var (k, v) in spec.Metadata) writer.WithMetadata(k, v);
        writer.Write(path);
    }

    private static void AssertReadsBack(FileSpec spec, SafetensorsFile file)
    {
        CollectionAssert.AreEquivalent(spec.Tensors.Select(t => t.Name).ToList(), file.TensorNames.ToList());
        CollectionAssert.AreEquivalent(spec.Metadata.ToList(), file.Metadata.ToList());
        foreach (var t in spec.Tensors)
        {
            var entry = file.Get(t.Name);
            Assert.AreEqual(t.DType, entry.DType, t.Name);
            CollectionAssert.AreEqual(t.Shape, entry.Shape, t.Name);
            CollectionAssert.AreEqual(t.Bytes, file.Bytes(entry).ToArray(), t.Name);
            var window = new byte[t.Bytes.Length];
            file.ReadRaw(t.Name, 0, window);
            CollectionAssert.AreEqual(t.Bytes, window, t.Name);
        }
        // The data lies in the order the tensors were added (empty ones have no place of their own).
        CollectionAssert.AreEqual(spec.Tensors.Where(t => t.Bytes.Length > 0).Select(t => t.Name).ToList(),
            file.Tensors.Where(t => t.ByteCount > 0).Select(t => t.Name).ToList());
    }

    [TestMethod]
    public void WrittenFileReadsBackTheSameNamesDtypesShapesBytesAndMetadata()
    {
        var dir = SharedFixtures.TempDirectory();
        File_.Sample(spec =>
        {
            var path = Path.Combine(dir, $"{Guid.NewGuid():N}.safetensors");
            Write(spec, path);
            using (var file = new SafetensorsFile(path)) AssertReadsBack(spec, file);
            File.Delete(path);
        }, iter: 300, threads: 1);
    }

    [TestMethod]
    public void ShardedCheckpointWriterReadsBackTheSameTensorsInEveryShardLayout()
    {
        var dir = SharedFixtures.TempDirectory();
        Gen.Select(File_, Gen.Int[1, 200]).Sample((spec, maxShardBytes) =>
        {
            var run = Path.Combine(dir, Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(run);
            var source = Path.Combine(run, "source.safetensors");
            Write(spec, source);
            var output = Path.Combine(run, "out");
            Directory.CreateDirectory(output);
            using (var file = new SafetensorsFile(source))
                ShardedCheckpointWriter.Write(file, output, maxShardBytes);
            var files = Directory.GetFiles(output, "*.safetensors").Select(p => new SafetensorsFile(p)).ToList();
            try
            {
                var read = files.SelectMany(f => f.Entries.Values.Select(e => (File: f, Entry: e))).ToList();
                CollectionAssert.AreEquivalent(spec.Tensors.Select(t => t.Name).ToList(), read.Select(r => r.Entry.Name).ToList());
                foreach (var t in spec.Tensors)
                {
                    var (f, e) = read.Single(r => r.Entry.Name == t.Name);
                    Assert.AreEqual(t.DType, e.DType);
                    CollectionAssert.AreEqual(t.Shape, e.Shape);
                    CollectionAssert.AreEqual(t.Bytes, f.Bytes(e).ToArray());
                }
                Assert.IsTrue(files.All(f => f.Metadata.Count == 1 && f.Metadata["format"] == "pt"));
                // Every shard but one holding a single oversized tensor stays within the limit.
                Assert.IsTrue(files.All(f => f.Entries.Count <= 1 || f.Entries.Values.Sum(e => e.End - e.Begin) <= maxShardBytes));
            }
            finally
            {
                files.ForEach(f => f.Dispose());
            }
            Directory.Delete(run, recursive: true);
        }, iter: 100, threads: 1);
    }

    /// <summary>A damage to a valid file: cut it to a length, or flip one bit.</summary>
    private sealed record Damage(bool Truncate, double Where, int Bit)
    {
        public byte[] Apply(byte[] bytes)
        {
            int position = Math.Min(bytes.Length - 1, (int)(Where * bytes.Length));
            if (Truncate) return bytes[..position];
            var copy = (byte[])bytes.Clone();
            copy[position] ^= (byte)(1 << Bit);
            return copy;
        }
    }

    // Header damage is what finds parser bugs: three in four positions fall in the first 8 + header bytes.
    private static readonly Gen<Damage> DamageGen =
        Gen.Select(Gen.Bool, Gen.OneOf(Gen.Double[0, 1], Gen.Double[0, 0.5], Gen.Double[0, 0.3], Gen.Double[0, 0.1]), Gen.Int[0, 7])
            .Select((t, w, b) => new Damage(t, w, b));

    [TestMethod]
    public void TruncatedOrBitFlippedFileIsRejectedWithCheckpointFormatExceptionOrReadConsistently()
    {
        var dir = SharedFixtures.TempDirectory();
        Gen.Select(File_, DamageGen).Sample((spec, damage) =>
        {
            var valid = Path.Combine(dir, $"{Guid.NewGuid():N}.safetensors");
            Write(spec, valid);
            var damaged = damage.Apply(File.ReadAllBytes(valid));
            File.Delete(valid);
            CheckOpensConsistentlyOrRejects(dir, damaged);
        }, iter: 500, threads: 1);
    }

    /// <summary>
    /// Header fields that a hand-written or foreign file may hold: odd dtypes, huge or negative dims, offsets that are
    /// no integers, names with lone-surrogate escapes.
    /// </summary>
    [TestMethod]
    public void HeaderWithArbitraryFieldValuesIsRejectedWithCheckpointFormatExceptionOrReadConsistently()
    {
        var dtype = Gen.OneOf(
            Gen.Enum<SafetensorsDType>().Select(d => d.ToString()),
            Gen.OneOf(new[] { "0", "1", "5", "9", "10", "-1", " F32", "F32 ", "f32", "F32, I8", "F32,U8", "FP32", "\"F32\"", "", "F8_E4M3" }));
        var dim = Gen.OneOf(Gen.Long[0, 3], Gen.Long[0, 3], Gen.Long[0, 3], Gen.OneOf(new[] { 1L << 31, 1L << 32, 1L << 61, 1L << 62, long.MaxValue, -1L, -(1L << 62) }));
        var oddOffset = Gen.OneOf(Gen.Long[0, 64].Select(o => o.ToString()), Gen.OneOf(new[] { "-1", "9223372036854775807", "4611686018427387904", "\"8\"", "1.5", "null", "1e3" }));
        // Offsets mostly span shape × some element size (multiplied as unchecked 64-bit code would), so that the
        // header gets past the size check as often as not; else anything.
        var offsets = Gen.Select(Gen.Long[0, 16], Gen.OneOf(new[] { 1L, 2L, 4L, 8L }), Gen.Int[0, 2], oddOffset, oddOffset);
        var name = Gen.OneOf(PropertyGens.Text(4), Gen.OneOf(new[] { "\\ud800", "\\udfff", "a\\ud83d", "\\u0000" }));
        var entry = Gen.Select(name, dtype, dim.Array[0, 3], offsets).Select((n, d, s, o) =>
        {
            var (begin, elementSize, mode, oddBegin, oddEnd) = o;
            var span = unchecked(s.Aggregate(1L, (a, b) => a * b) * elementSize);
            var range = mode < 2 ? $"{begin},{unchecked(begin + span)}" : $"{oddBegin},{oddEnd}";
            // name is JSON string content: a generated escape such as \ud800 stays an escape, everything else is escaped.
            var key = n.Contains("\\u") ? n : JsonEncodedText.Encode(n).Value;
            return $"\"{key}\":{{\"dtype\":{JsonSerializer.Serialize(d)},\"shape\":[{string.Join(",", s)}],\"data_offsets\":[{range}]}}";
        });
        var dir = SharedFixtures.TempDirectory();
        Gen.Select(entry.Array[1, 2], Gen.Int[0, 160]).Sample((entries, dataLength) =>
        {
            var header = Encoding.UTF8.GetBytes("{" + string.Join(",", entries) + "}");
            var bytes = new byte[8 + header.Length + dataLength];
            BitConverter.GetBytes((ulong)header.Length).CopyTo(bytes, 0);
            header.CopyTo(bytes, 8);
            CheckOpensConsistentlyOrRejects(dir, bytes);
        }, iter: 1000, threads: 1, print: e => string.Join(",", e.Item1) + $" + {e.Item2} data bytes");
    }

    /// <summary>
    /// Opens the bytes as a safetensors file and reads every tensor every way it can be read. Either opening throws
    /// <see cref="CheckpointFormatException"/>, or each entry agrees with the raw header (the dtype spelled exactly as
    /// a safetensors dtype, the shape, offsets whose span is elements × element size and that lie inside the data)
    /// and its bytes can be read; no other exception type may escape.
    /// </summary>
    private static void CheckOpensConsistentlyOrRejects(string dir, byte[] bytes)
    {
        var path = Path.Combine(dir, $"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes);
        try
        {
            SafetensorsFile file;
            try
            {
                file = new SafetensorsFile(path);
            }
            catch (CheckpointFormatException)
            {
                return;
            }
            using (file)
            {
                long headerLength = (long)BitConverter.ToUInt64(bytes, 0);
                long dataLength = bytes.Length - 8 - headerLength;
                using var raw = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
                foreach (var entry in file.Entries.Values)
                {
                    var json = raw.RootElement.EnumerateObject().Last(p => p.Name == entry.Name).Value;
                    Assert.AreEqual(json.GetProperty("dtype").GetString(), entry.DType.ToString(), $"tensor '{entry.Name}': dtype as read");
                    CollectionAssert.AreEqual(json.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(), entry.Shape);
                    var elements = entry.Shape.Aggregate(BigInteger.One, (a, d) => a * d);
                    Assert.AreEqual(elements * SafetensorsFile.ElementSize(entry.DType), new BigInteger(entry.End - entry.Begin),
                        $"tensor '{entry.Name}' [{string.Join(",", entry.Shape)}] {entry.DType}: span {entry.Begin}..{entry.End}");
                    Assert.IsTrue(entry.Begin >= 0 && entry.End <= dataLength);
                    ReadEveryWay(file, entry);
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void ReadEveryWay(SafetensorsFile file, SafetensorsEntry entry)
    {
        var bytes = file.Bytes(entry).ToArray();
        Assert.AreEqual(entry.End - entry.Begin, bytes.Length);
        try
        {
            switch (entry.DType)
            {
                case SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16:
                    var tensor = file.ReadTensor(entry.Name);
                    CollectionAssert.AreEqual(entry.Shape, tensor.Shape.ToArray().Select(d => (long)d).ToArray(), $"tensor '{entry.Name}' read as a Tensor");
                    break;
                case SafetensorsDType.I32 or SafetensorsDType.I64:
                    file.ReadAsInt32(entry.Name);
                    break;
            }
        }
        catch (CheckpointFormatException)
        {
            // An I64 value outside int32, or a dimension no Tensor can have, is a documented rejection.
        }
    }
}
