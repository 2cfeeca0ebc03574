using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// The small host arrays each op sends to the device (token ids, key masks, source lengths, attention bias slopes and
/// indices, RoPE positions), each kind in its own growing buffer, and RoPE's cos/sin tables. A buffer is overwritten only
/// by a later copy on the same stream, which runs after the kernels that read the earlier contents. Masks, source
/// lengths, bias arrays and positions are re-sent only when they change: every layer of a forward passes the same ones.
/// <para>
/// Such a copy from ordinary (pageable) host memory makes the host wait for the stream, so an upload in the middle of a
/// forward stops the host from enqueuing ahead. Values sent ahead (<see cref="SendAhead"/>: the next batch's ids, mask
/// and positions, while the device still runs the current one) are instead copied from page-locked host memory on a copy
/// stream of their own into a device buffer of their own; an upload of equal values later adopts that buffer (after
/// waiting for the copy stream, which by then has long finished) without touching the compute stream. A buffer an upload
/// gives up may still be read by enqueued kernels, so it is reused only after the next full synchronisation
/// (<see cref="DeviceIdle"/>). Values are matched by content, so a stale or unused entry is never wrong, only wasted;
/// at most <see cref="IlgpuBackend.MostSentAhead"/> wait.
/// </para>
/// </summary>
internal sealed class HostUploads(Accelerator accelerator, IlgpuLaunchLog log) : IDisposable
{
    private readonly Upload<int> ids = new(accelerator, reuse: false), keyValid = new(accelerator, reuse: true),
        sourceLengths = new(accelerator, reuse: true), biasIndices = new(accelerator, reuse: true), positions = new(accelerator, reuse: true);
    private readonly Upload<float> alibiSlopes = new(accelerator, reuse: true);
    private readonly List<DeviceRotaryTable> rotaryTables = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense> noFloats = accelerator.Allocate1D<float>(1);
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noInts = accelerator.Allocate1D<int>(1);
    private readonly AcceleratorStream copyStream = accelerator.CreateStream();
    private readonly List<SentAheadValues> sentAhead = [];
    /// <summary>Device buffers given up by an upload (kernels may still read them) and those free to take new values.</summary>
    private readonly List<MemoryBuffer1D<int, Stride1D.Dense>> retired = [], idle = [];
    /// <summary>The page-locked host array staged copies read from: one copy is in flight at a time.</summary>
    private PageLockedArray1D<int>? pinned;

    /// <summary>RoPE tables kept on the device: ModernBERT alternates two frequency sets (global and local layers).</summary>
    private const int RotaryTablesKept = 4;

    /// <summary>The fewest positions a RoPE table is built for; tables grow by doubling.</summary>
    private const int MinimumRotaryPositions = 512;

    /// <summary>A one-element placeholder for an absent optional input (a kernel parameter cannot be null).</summary>
    public ArrayView<float> NoFloats => noFloats.View;
    public ArrayView<int> NoInts => noInts.View;

    public ArrayView<int> Ids(ReadOnlySpan<int> values) => Send(ids, values);
    public ArrayView<int> KeyValid(ReadOnlySpan<int> values) => Send(keyValid, values);

    /// <summary>Each row's RoPE position (the index into <see cref="RotaryTable"/>).</summary>
    public ArrayView<int> Positions(ReadOnlySpan<int> values) => Send(positions, values);
    public ArrayView<int> SourceLengths(ReadOnlySpan<int> values) => Send(sourceLengths, values);
    public ArrayView<float> AlibiSlopes(ReadOnlySpan<float> values) => alibiSlopes.Send(values);

    /// <summary>An attention bias's host-computed ints (ALiBi key positions or relative position buckets).</summary>
    public ArrayView<int> BiasIndices(ReadOnlySpan<int> values) => Send(biasIndices, values);

    /// <summary>
    /// Starts copying values that a coming op will upload (see the class summary): through the page-locked array on the
    /// copy stream, into a device buffer of their own. Returns at once; values already on their way are not sent again.
    /// </summary>
    public void SendAhead(ReadOnlySpan<int> values)
    {
        if (values.IsEmpty) return;
        foreach (var waiting in sentAhead)
            if (values.SequenceEqual(waiting.Values)) return;
        // The previous staged copy has finished reading the page-locked array (a copy of a few hundred KB: microseconds).
        copyStream.Synchronize();
        if (sentAhead.Count == IlgpuBackend.MostSentAhead)
        {
            idle.Add(sentAhead[0].Buffer);
            sentAhead.RemoveAt(0);
        }
        if (pinned is null || pinned.Length < values.Length)
        {
            pinned?.Dispose();
            pinned = accelerator.AllocatePageLocked1D<int>(Math.Max(values.Length, 1024) * 2L);
        }
        values.CopyTo(pinned.Span);
        var buffer = TakeIdle(values.Length);
        buffer.View.SubView(0, values.Length).CopyFrom(copyStream, pinned.ArrayView.SubView(0, values.Length));
        sentAhead.Add(new SentAheadValues(values.ToArray(), buffer));
        log.SentAheadOnce();
    }

    /// <summary>
    /// Called after the backend waited for all the device's work: the buffers uploads gave up are no longer read and may
    /// take values sent ahead.
    /// </summary>
    public void DeviceIdle()
    {
        idle.AddRange(retired);
        retired.Clear();
        // Keep as many idle buffers as can be waiting, the largest; the rest are freed (nothing reads them).
        idle.Sort((a, b) => b.Length.CompareTo(a.Length));
        for (int i = idle.Count - 1; i >= IlgpuBackend.MostSentAhead; i--)
        {
            idle[i].Dispose();
            idle.RemoveAt(i);
        }
    }

    /// <summary>An upload of int values: the last values again, values sent ahead (adopted), or a copy on the compute stream.</summary>
    private ArrayView<int> Send(Upload<int> upload, ReadOnlySpan<int> values)
    {
        if (upload.Holds(values)) return upload.Last;
        for (int i = 0; i < sentAhead.Count; i++)
        {
            if (!values.SequenceEqual(sentAhead[i].Values)) continue;
            copyStream.Synchronize();
            var taken = sentAhead[i];
            sentAhead.RemoveAt(i);
            if (upload.Adopt(taken.Buffer, taken.Values) is { } given) retired.Add(given);
            log.TookSentAheadOnce();
            return upload.Last;
        }
        log.Upload();
        return upload.Send(values);
    }

    /// <summary>The smallest idle device buffer that holds length ints, or a new one.</summary>
    private MemoryBuffer1D<int, Stride1D.Dense> TakeIdle(int length)
    {
        int best = -1;
        for (int i = 0; i < idle.Count; i++)
            if (idle[i].Length >= length && (best < 0 || idle[i].Length < idle[best].Length)) best = i;
        if (best < 0) return accelerator.Allocate1D<int>(Math.Max(length, 64) * 2L);
        var buffer = idle[best];
        idle.RemoveAt(best);
        return buffer;
    }

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

    /// <summary>Values sent ahead and the device buffer they are copied into.</summary>
    private sealed record SentAheadValues(int[] Values, MemoryBuffer1D<int, Stride1D.Dense> Buffer);

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
        copyStream.Synchronize();
        foreach (var b in sentAhead.Select(s => s.Buffer).Concat(retired).Concat(idle)) b.Dispose();
        pinned?.Dispose();
        copyStream.Dispose();
    }

    /// <summary>One kind of upload; with reuse, a host copy of the last values sent decides whether they are sent again.</summary>
    private sealed class Upload<T>(Accelerator accelerator, bool reuse) : IDisposable where T : unmanaged, IEquatable<T>
    {
        private MemoryBuffer1D<T, Stride1D.Dense>? buffer;
        private T[] sent = [];
        private int length;

        /// <summary>Whether the buffer holds these values already (kinds that reuse their last upload).</summary>
        public bool Holds(ReadOnlySpan<T> values) => reuse && buffer is not null && values.SequenceEqual(sent);

        /// <summary>Takes a buffer that already holds values as this kind's; returns the buffer given up, if any.</summary>
        public MemoryBuffer1D<T, Stride1D.Dense>? Adopt(MemoryBuffer1D<T, Stride1D.Dense> holding, T[] values)
        {
            var given = buffer;
            buffer = holding;
            sent = reuse ? values : [];
            length = values.Length;
            return given;
        }

        public ArrayView<T> Send(ReadOnlySpan<T> values)
        {
            if (Holds(values)) return Last;
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

        public ArrayView<T> Last => buffer!.View.SubView(0, Math.Max(length, 1));

        public void Dispose() => buffer?.Dispose();
    }
}
