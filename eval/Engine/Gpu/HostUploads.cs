using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// The small host arrays each op sends to the device (token ids, key masks, source lengths, attention bias slopes and
/// indices, RoPE positions), each kind in its own growing buffer, and RoPE's cos/sin tables. A buffer is overwritten only
/// by a later copy on the same stream, which runs after the kernels that read the earlier contents. Masks, source
/// lengths, bias arrays and positions are re-sent only when they change: every layer of a forward passes the same ones.
/// </summary>
internal sealed class HostUploads(Accelerator accelerator, IlgpuLaunchLog log) : IDisposable
{
    private readonly Upload<int> ids = new(accelerator, reuse: false), keyValid = new(accelerator, reuse: true),
        sourceLengths = new(accelerator, reuse: true), biasIndices = new(accelerator, reuse: true), positions = new(accelerator, reuse: true);
    private readonly Upload<float> alibiSlopes = new(accelerator, reuse: true);
    private readonly List<DeviceRotaryTable> rotaryTables = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense> noFloats = accelerator.Allocate1D<float>(1);
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noInts = accelerator.Allocate1D<int>(1);

    /// <summary>RoPE tables kept on the device: ModernBERT alternates two frequency sets (global and local layers).</summary>
    private const int RotaryTablesKept = 4;

    /// <summary>The fewest positions a RoPE table is built for; tables grow by doubling.</summary>
    private const int MinimumRotaryPositions = 512;

    /// <summary>A one-element placeholder for an absent optional input (a kernel parameter cannot be null).</summary>
    public ArrayView<float> NoFloats => noFloats.View;
    public ArrayView<int> NoInts => noInts.View;

    public ArrayView<int> Ids(ReadOnlySpan<int> values) => ids.Send(values);
    public ArrayView<int> KeyValid(ReadOnlySpan<int> values) => keyValid.Send(values);

    /// <summary>Each row's RoPE position (the index into <see cref="RotaryTable"/>).</summary>
    public ArrayView<int> Positions(ReadOnlySpan<int> values) => positions.Send(values);
    public ArrayView<int> SourceLengths(ReadOnlySpan<int> values) => sourceLengths.Send(values);
    public ArrayView<float> AlibiSlopes(ReadOnlySpan<float> values) => alibiSlopes.Send(values);

    /// <summary>An attention bias's host-computed ints (ALiBi key positions or relative position buckets).</summary>
    public ArrayView<int> BiasIndices(ReadOnlySpan<int> values) => biasIndices.Send(values);

    /// <summary>
    /// The cos/sin table of one set of inverse frequencies for positions 0 … at least <paramref name="positionCount"/> − 1:
    /// per position p, headDim/2 cosines then headDim/2 sines of p · invFrequency — the angle in float32 as torch forms it,
    /// its cosine and sine in double. Built once per frequency set (the last few stay on the device) and rebuilt only
    /// when a longer sequence needs more positions (doubling), whatever the batch's layout: every layer and every batch
    /// of a run shares it.
    /// </summary>
    public ArrayView<float> RotaryTable(ReadOnlySpan<float> invFrequencies, int positionCount)
    {
        int half = invFrequencies.Length;
        for (int i = 0; i < rotaryTables.Count; i++)
            if (invFrequencies.SequenceEqual(rotaryTables[i].Frequencies) && rotaryTables[i].Positions >= positionCount)
            {
                var hit = rotaryTables[i];
                rotaryTables.RemoveAt(i);
                rotaryTables.Insert(0, hit);
                return hit.Values.View;
            }
        int count = MinimumRotaryPositions;
        while (count < positionCount) count *= 2;
        var table = new float[(long)count * 2 * half];
        var frequencies = invFrequencies.ToArray();
        Parallel.For(0, count, p =>
        {
            for (int i = 0; i < half; i++)
            {
                double angle = p * frequencies[i];
                table[(long)p * 2 * half + i] = (float)Math.Cos((float)angle);
                table[(long)p * 2 * half + half + i] = (float)Math.Sin((float)angle);
            }
        });
        // A shorter table of the same frequencies is superseded.
        for (int i = rotaryTables.Count - 1; i >= 0; i--)
            if (invFrequencies.SequenceEqual(rotaryTables[i].Frequencies))
            {
                rotaryTables[i].Values.Dispose();
                rotaryTables.RemoveAt(i);
            }
        if (rotaryTables.Count == RotaryTablesKept)
        {
            rotaryTables[^1].Values.Dispose();
            rotaryTables.RemoveAt(rotaryTables.Count - 1);
        }
        var values = accelerator.Allocate1D(table);
        log.RotaryTable();
        rotaryTables.Insert(0, new DeviceRotaryTable(count, frequencies, values));
        return values.View;
    }

    private sealed record DeviceRotaryTable(int Positions, float[] Frequencies, MemoryBuffer1D<float, Stride1D.Dense> Values);

    public void Dispose()
    {
        ids.Dispose();
        keyValid.Dispose();
        sourceLengths.Dispose();
        biasIndices.Dispose();
        positions.Dispose();
        alibiSlopes.Dispose();
        foreach (var t in rotaryTables) t.Values.Dispose();
        noFloats.Dispose();
        noInts.Dispose();
    }

    /// <summary>One kind of upload; with reuse, a host copy of the last values sent decides whether they are sent again.</summary>
    private sealed class Upload<T>(Accelerator accelerator, bool reuse) : IDisposable where T : unmanaged, IEquatable<T>
    {
        private MemoryBuffer1D<T, Stride1D.Dense>? buffer;
        private T[] sent = [];
        private int length;

        public ArrayView<T> Send(ReadOnlySpan<T> values)
        {
            if (reuse && buffer is not null && values.SequenceEqual(sent)) return Last;
            if (buffer is null || buffer.Length < values.Length)
            {
                buffer?.Dispose();
                buffer = accelerator.Allocate1D<T>(Math.Max(values.Length, 64) * 2L);
            }
            if (values.Length > 0) buffer.View.SubView(0, values.Length).CopyFromCPU(accelerator.DefaultStream, values);
            if (reuse) sent = values.ToArray();
            length = values.Length;
            return Last;
        }

        private ArrayView<T> Last => buffer!.View.SubView(0, Math.Max(length, 1));

        public void Dispose() => buffer?.Dispose();
    }
}
