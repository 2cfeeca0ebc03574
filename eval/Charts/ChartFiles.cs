using System.Text;
using System.Text.RegularExpressions;
using ScottPlot;

namespace Eval.Charts;

/// <summary>
/// Writes charts as ScottPlot renders them: an SVG document, a PNG at twice the frame's size, and the SVG for inlining
/// into an HTML page (no XML declaration, ids made unique per figure, scalable).
/// </summary>
public static partial class ChartFiles
{
    /// <summary>PNGs are written at this many pixels per SVG pixel.</summary>
    public const int PngScale = 2;

    /// <summary>
    /// The chart as a standalone SVG document. Skia names clip paths from a process-wide counter, so the ids are
    /// renumbered in order of appearance: the same chart gives the same bytes whatever was rendered before it. Skia's SVG
    /// backend draws dashed lines as filled dash outlines (and says so on stderr, which <see cref="NativeStderr"/> mutes).
    /// </summary>
    public static string Svg(IChart chart)
    {
        using var plot = chart.ToPlot();
        var svg = NativeStderr.Silenced(() => plot.GetSvgXml(chart.Frame.Width, chart.Frame.Height));
        var renamed = new Dictionary<string, string>();
        foreach (Match m in IdAttribute().Matches(svg)) renamed.TryAdd(m.Groups[1].Value, $"clip{renamed.Count + 1}");
        return RenameIds(svg, id => renamed.GetValueOrDefault(id, id));
    }

    private static string RenameIds(string svg, Func<string, string> rename)
    {
        svg = IdAttribute().Replace(svg, m => $"id=\"{rename(m.Groups[1].Value)}\"");
        svg = LocalReference().Replace(svg, m => $"url(#{rename(m.Groups[1].Value)})");
        return LocalHref().Replace(svg, m => $"{m.Groups[1].Value}=\"#{rename(m.Groups[2].Value)}\"");
    }

    /// <summary>The chart as PNG bytes, <see cref="PngScale"/> times the frame's size.</summary>
    public static byte[] Png(IChart chart)
    {
        using var plot = chart.ToPlot();
        plot.ScaleFactor = PngScale;
        using var image = plot.GetImage(chart.Frame.Width * PngScale, chart.Frame.Height * PngScale);
        return image.GetImageBytes(ImageFormat.Png);
    }

    /// <summary>
    /// The SVG for an HTML page holding several: without the XML declaration, with the class "chart", a viewBox (so it
    /// scales) and a title, and every id (clip paths) prefixed by <paramref name="idPrefix"/> so figures cannot capture
    /// each other's references.
    /// </summary>
    public static string InlineSvg(IChart chart, string idPrefix)
    {
        var svg = RenameIds(XmlDeclaration().Replace(Svg(chart), ""), id => $"{idPrefix}-{id}");
        var title = System.Security.SecurityElement.Escape(chart.Frame.Title);
        var root = RootElement().Match(svg);
        if (!root.Success) throw new InvalidOperationException($"ScottPlot's SVG for '{chart.Frame.Title}' has no <svg> element");
        return svg[..root.Index] + root.Value.TrimEnd('>') +
               $" class=\"chart\" role=\"img\" viewBox=\"0 0 {chart.Frame.Width} {chart.Frame.Height}\">\n<title>{title}</title>" + svg[(root.Index + root.Length)..];
    }

    /// <summary>Writes &lt;path&gt;.svg and &lt;path&gt;.png; returns both paths.</summary>
    public static IReadOnlyList<string> Save(IChart chart, string pathWithoutExtension)
    {
        var svgPath = pathWithoutExtension + ".svg";
        var pngPath = pathWithoutExtension + ".png";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(svgPath))!);
        File.WriteAllText(svgPath, Svg(chart), new UTF8Encoding(false));
        File.WriteAllBytes(pngPath, Png(chart));
        return [svgPath, pngPath];
    }

    [GeneratedRegex(@"^\s*<\?xml[^>]*\?>\s*")]
    private static partial Regex XmlDeclaration();

    [GeneratedRegex(@"\bid=""([^""]+)""")]
    private static partial Regex IdAttribute();

    [GeneratedRegex(@"url\(#([^)]+)\)")]
    private static partial Regex LocalReference();

    [GeneratedRegex(@"\b((?:xlink:)?href)=""#([^""]+)""")]
    private static partial Regex LocalHref();

    [GeneratedRegex(@"<svg\b[^>]*>")]
    private static partial Regex RootElement();
}
