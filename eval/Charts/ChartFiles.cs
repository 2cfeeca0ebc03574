using System.Diagnostics;
using System.Text;

namespace Eval.Charts;

/// <summary>Writes a chart's SVG, and a PNG beside it when rsvg-convert is installed.</summary>
public static class ChartFiles
{
    /// <summary>The rsvg-convert on PATH, or null.</summary>
    public static string? FindRasterizer() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "rsvg-convert")).FirstOrDefault(File.Exists);

    /// <summary>Writes &lt;path&gt;.svg and, when a rasterizer is given, &lt;path&gt;.png at twice the size; returns the files written.</summary>
    public static IReadOnlyList<string> Save(IChart chart, string pathWithoutExtension, string? rasterizer)
    {
        var svgPath = pathWithoutExtension + ".svg";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(svgPath))!);
        File.WriteAllText(svgPath, chart.ToSvg(), new UTF8Encoding(false));
        if (rasterizer is null) return [svgPath];
        var pngPath = pathWithoutExtension + ".png";
        var start = new ProcessStartInfo(rasterizer) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--zoom", "2", "--format", "png", "--output", pngPath, svgPath }) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {rasterizer}");
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(true);
            throw new InvalidOperationException($"{rasterizer} did not finish converting {svgPath} within 60 s");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"{rasterizer} failed on {svgPath}: {error.Result.Trim()}");
        return [svgPath, pngPath];
    }
}
