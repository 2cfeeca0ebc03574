namespace Eval.Engine.Gpu;

/// <summary>
/// What the GPU backend did over a stretch of work (<see cref="IlgpuBackend.Work"/>, and <see cref="Since"/> a start):
/// its kernel launches and cuBLAS calls, the int arrays uploaded on the compute stream (each makes the host wait for the
/// device), those sent ahead and taken by a later upload, and the device allocations its pool made. run.json records it
/// as timings.device_work; a merged run sums its shards' (<see cref="Add"/>).
/// </summary>
public sealed record DeviceWork(long Kernels, long CublasCalls, long ComputeStreamUploads, long SentAhead, long TakenAhead, long DeviceAllocations)
{
    public DeviceWork Since(DeviceWork start) => new(Kernels - start.Kernels, CublasCalls - start.CublasCalls,
        ComputeStreamUploads - start.ComputeStreamUploads, SentAhead - start.SentAhead, TakenAhead - start.TakenAhead,
        DeviceAllocations - start.DeviceAllocations);

    public DeviceWork Add(DeviceWork other) => new(Kernels + other.Kernels, CublasCalls + other.CublasCalls,
        ComputeStreamUploads + other.ComputeStreamUploads, SentAhead + other.SentAhead, TakenAhead + other.TakenAhead,
        DeviceAllocations + other.DeviceAllocations);

    public override string ToString() =>
        $"{Kernels} kernel launches, {CublasCalls} cuBLAS calls, {ComputeStreamUploads} uploads on the compute stream " +
        $"({TakenAhead} of {SentAhead} sent ahead taken), {DeviceAllocations} device allocations";
}

/// <summary>
/// What the GPU backend has put on its stream: its own kernel launches and its cuBLAS calls, counted always and, while
/// <see cref="Recording"/>, named in order (with a "copy-to-host" entry for each read-back, so a test that keeps hidden
/// states can cut a forward into layers). The README's launches-per-layer table is counted with it.
/// </summary>
public sealed class IlgpuLaunchLog
{
    /// <summary>The entry a read-back (<see cref="IBackend.CopyToHost"/>) leaves in a recording.</summary>
    public const string CopyToHost = "copy-to-host";

    private readonly List<string> entries = [];

    /// <summary>Kernel launches of this backend's own kernels (ILGPU), the tiled GEMM included.</summary>
    public long Kernels { get; private set; }

    /// <summary>cuBLAS GEMM calls (cublasGemmEx and cublasGemmStridedBatchedEx).</summary>
    public long CublasCalls { get; private set; }

    /// <summary>RoPE cos/sin tables built on the host and uploaded (one per frequency set and length doubling, not per batch).</summary>
    public long RotaryTables { get; private set; }

    /// <summary>Int arrays (ids, masks, positions, bias indices) copied on the compute stream, each making the host wait for it.</summary>
    public long Uploads { get; private set; }

    /// <summary>Int arrays sent ahead on the copy stream (<see cref="IBackend.SendAhead"/>).</summary>
    public long SentAhead { get; private set; }

    /// <summary>Uploads that took values sent ahead instead of copying (no wait for the compute stream).</summary>
    public long TookSentAhead { get; private set; }

    /// <summary>Whether each launch is also named in <see cref="Entries"/>.</summary>
    public bool Recording { get; set; }

    /// <summary>The recorded launches, in order: a kernel's name, "cublas:" and the product's name, or <see cref="CopyToHost"/>.</summary>
    public IReadOnlyList<string> Entries => entries;

    public void Clear()
    {
        entries.Clear();
        Kernels = 0;
        CublasCalls = 0;
        RotaryTables = 0;
        Uploads = 0;
        SentAhead = 0;
        TookSentAhead = 0;
    }

    internal void Kernel(string name)
    {
        Kernels++;
        if (Recording) entries.Add(name);
    }

    internal void Cublas(string name)
    {
        CublasCalls++;
        if (Recording) entries.Add("cublas:" + name);
    }

    internal void RotaryTable() => RotaryTables++;

    internal void Upload() => Uploads++;

    internal void SentAheadOnce() => SentAhead++;

    internal void TookSentAheadOnce() => TookSentAhead++;

    internal void Mark(string name)
    {
        if (Recording) entries.Add(name);
    }
}
