using System.Globalization;

namespace Eval.Cli;

/// <summary>One child of a multi-device run: what `--device` it is given, and the CUDA_VISIBLE_DEVICES it sees.</summary>
/// <param name="Label">How the user named it ("cuda:1", "ilgpu-cpu:0"), for progress and errors.</param>
/// <param name="Device">The child's own --device: cuda or ilgpu-cpu.</param>
/// <param name="VisibleDevices">The child's CUDA_VISIBLE_DEVICES: the one device it may use (an index or a GPU UUID).</param>
public sealed record ChildDevice(string Label, string Device, string VisibleDevices);

/// <summary>
/// `--device cuda:all`, `--device cuda:0,1,3` and the GPU-less stand-in `--device ilgpu-cpu:0,1`: one `eval` child per
/// device, each seeing only its device through CUDA_VISIBLE_DEVICES (indices counted as this process sees the devices:
/// within its own CUDA_VISIBLE_DEVICES when one is set). ilgpu-cpu children run the GPU backend's kernels on ILGPU's
/// CPU accelerator and take the very same path, which is how the tests run it.
/// </summary>
public sealed record DeviceList(string Kind, IReadOnlyList<int>? Indices)
{
    public const string Cuda = "cuda", IlgpuCpu = "ilgpu-cpu";

    public bool All => Indices is null;

    public override string ToString() => $"{Kind}:{(Indices is null ? "all" : string.Join(",", Indices))}";

    /// <summary>Null for a single device ("cuda", "auto"); the list for KIND:all or KIND:I,J,…; an error naming the mistake otherwise.</summary>
    public static DeviceList? Parse(string? text)
    {
        if (text is null || !text.Contains(':')) return null;
        var colon = text.IndexOf(':');
        var (kind, list) = (text[..colon], text[(colon + 1)..]);
        if (kind is not (Cuda or IlgpuCpu))
            throw new ArgumentException($"--device {text}: a device list is for cuda (cuda:all, cuda:0,1,3) or its CPU stand-in ilgpu-cpu (ilgpu-cpu:0,1)");
        if (list == "all")
            return kind == Cuda ? new DeviceList(kind, null)
                : throw new ArgumentException($"--device {text}: ilgpu-cpu has no devices to count; list the children as ilgpu-cpu:0,1");
        var indices = new List<int>();
        foreach (var part in list.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                throw new ArgumentException($"--device {text}: '{part}' is not a device index (give {kind}:all or indices from 0, e.g. {kind}:0,1)");
            if (indices.Contains(index)) throw new ArgumentException($"--device {text}: device {index} is listed twice");
            indices.Add(index);
        }
        return new DeviceList(kind, indices);
    }

    /// <summary>
    /// The children, in shard order. <paramref name="visible"/> is this process's CUDA_VISIBLE_DEVICES (null: all
    /// devices; empty: none, as CUDA reads it); <paramref name="countCuda"/> counts the CUDA devices this process sees (for cuda:all), or says why none.
    /// </summary>
    public IReadOnlyList<ChildDevice> Resolve(string? visible, Func<(int Count, string Why)> countCuda)
    {
        // CUDA's own reading: unset, every device; set but empty, none. The CPU stand-in's children are numbered as listed.
        var visibleList = visible is null || Kind == IlgpuCpu ? null : visible.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        IReadOnlyList<int> indices;
        if (Indices is { } given) indices = given;
        else
        {
            var (count, why) = countCuda();
            if (count == 0) throw new InvalidOperationException($"--device {this}: {why}; use --device cpu, or ilgpu-cpu:0,1 to try the multi-device run without a GPU");
            indices = Enumerable.Range(0, count).ToList();
        }
        return indices.Select(i =>
        {
            string id;
            if (visibleList is null) id = i.ToString(CultureInfo.InvariantCulture);
            else if (i < visibleList.Length) id = visibleList[i];
            else
                throw new ArgumentException($"--device {this}: device {i} is not visible (CUDA_VISIBLE_DEVICES={visible} makes {visibleList.Length} device(s) visible, numbered from 0)");
            return new ChildDevice($"{Kind}:{i}", Kind, id);
        }).ToList();
    }
}
