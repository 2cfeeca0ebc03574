using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Eval.Charts;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

/// <summary>A block of a report: a paragraph (with `code` spans), a table, or a chart.</summary>
public abstract record ReportBlock;

public sealed record ReportParagraph(string Text) : ReportBlock;

/// <summary>A table; cells are plain text. Columns whose cells all look numeric are right-aligned.</summary>
public sealed record ReportTable(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows) : ReportBlock;

/// <summary>A chart, saved as charts/&lt;FileName&gt;.svg and .png and inlined in the HTML.</summary>
public sealed record ReportFigure(string FileName, IChart Chart, string? Caption = null) : ReportBlock;

public sealed record ReportSection(string Heading, IReadOnlyList<ReportBlock> Blocks, int Level = 2);

/// <summary>
/// A report as data: written once as Markdown (for terminals, pull requests and CI job summaries, charts linked as
/// files) and once as a self-contained HTML page (charts inlined as SVG, no scripts, nothing fetched).
/// </summary>
public sealed partial record ReportDocument(string Title, IReadOnlyList<ReportSection> Sections, string? Lead = null)
{
    public const string ChartsFolder = "charts";

    public IEnumerable<ReportFigure> Figures => Sections.SelectMany(s => s.Blocks).OfType<ReportFigure>();

    /// <summary>Writes charts/ (SVG and PNG per figure), &lt;name&gt;.md and &lt;name&gt;.html into the folder; returns the files written.</summary>
    public IReadOnlyList<string> WriteTo(string folder, string baseName)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        var names = Figures.Select(f => f.FileName).ToList();
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidOperationException($"two charts of report '{Title}' are both named {duplicate.Key}");
        foreach (var figure in Figures)
            written.AddRange(ChartFiles.Save(figure.Chart, Path.Combine(folder, ChartsFolder, figure.FileName)));
        written.Add(ResultFiles.WriteText(Path.Combine(folder, baseName + ".md"), ToMarkdown()));
        written.Add(ResultFiles.WriteText(Path.Combine(folder, baseName + ".html"), ToHtml()));
        return written;
    }

    /// <summary>The report as Markdown; charts are linked as their PNGs (what every Markdown viewer shows).</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder($"# {Title}\n\n");
        if (Lead is not null) md.Append(Lead).Append("\n\n");
        foreach (var section in Sections)
        {
            md.Append(new string('#', section.Level)).Append(' ').Append(section.Heading).Append("\n\n");
            foreach (var block in section.Blocks)
            {
                switch (block)
                {
                    case ReportParagraph p:
                        md.Append(p.Text).Append("\n\n");
                        break;
                    case ReportTable t:
                        var right = RightAligned(t);
                        md.Append("| ").AppendJoin(" | ", t.Header.Select(MarkdownCell)).Append(" |\n|");
                        md.AppendJoin("|", right.Select(r => r ? "---:" : "---")).Append("|\n");
                        foreach (var row in t.Rows) md.Append("| ").AppendJoin(" | ", row.Select(MarkdownCell)).Append(" |\n");
                        md.Append('\n');
                        break;
                    case ReportFigure f:
                        md.Append($"![{f.Chart.Frame.Title.Replace("[", "\\[").Replace("]", "\\]")}]({ChartsFolder}/{f.FileName}.png)\n\n");
                        if (f.Caption is not null) md.Append('*').Append(f.Caption).Append("*\n\n");
                        break;
                }
            }
        }
        return md.ToString();
    }

    public string ToHtml()
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.Append($"<title>{Encode(Title)}</title>\n<style>\n{Style}</style>\n</head>\n<body>\n<main>\n<h1>{Encode(Title)}</h1>\n");
        if (Lead is not null) html.Append($"<p class=\"lead\">{Inline(Lead)}</p>\n");
        if (Sections.Count > 2)
        {
            html.Append("<nav class=\"contents\"><ul>\n");
            foreach (var section in Sections) html.Append($"<li><a href=\"#{Anchor(section.Heading)}\">{Encode(section.Heading)}</a></li>\n");
            html.Append("</ul></nav>\n");
        }
        foreach (var section in Sections)
        {
            html.Append($"<section id=\"{Anchor(section.Heading)}\">\n<h{section.Level}>{Encode(section.Heading)}</h{section.Level}>\n");
            foreach (var block in section.Blocks)
            {
                switch (block)
                {
                    case ReportParagraph p:
                        html.Append($"<p>{Inline(p.Text)}</p>\n");
                        break;
                    case ReportTable t:
                        var right = RightAligned(t);
                        html.Append("<div class=\"table\"><table>\n<thead><tr>");
                        for (int i = 0; i < t.Header.Count; i++) html.Append($"<th{(right[i] ? " class=\"num\"" : "")}>{Encode(t.Header[i])}</th>");
                        html.Append("</tr></thead>\n<tbody>\n");
                        foreach (var row in t.Rows)
                        {
                            html.Append("<tr>");
                            for (int i = 0; i < row.Count; i++) html.Append($"<td{(i < right.Count && right[i] ? " class=\"num\"" : "")}>{Inline(row[i])}</td>");
                            html.Append("</tr>\n");
                        }
                        html.Append("</tbody></table></div>\n");
                        break;
                    case ReportFigure f:
                        var svg = ChartFiles.InlineSvg(f.Chart, f.FileName);
                        html.Append($"<figure id=\"{Encode(f.FileName)}\">\n{svg}");
                        if (f.Caption is not null) html.Append($"<figcaption>{Inline(f.Caption)}</figcaption>\n");
                        html.Append("</figure>\n");
                        break;
                }
            }
            html.Append("</section>\n");
        }
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    private const string Style = """
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0; background: #fafafa; }
        main { max-width: 1100px; margin: 0 auto; padding: 24px; background: white; }
        h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { margin-top: 1.4em; }
        .lead { color: #444; }
        nav.contents ul { columns: 2; padding-left: 1.2em; } nav.contents a { color: #0072B2; }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; margin: 12px 0; font-size: 0.9em; }
        th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
        th { background: #f0f0f0; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        tbody tr:nth-child(even) { background: #fafafa; }
        figure { margin: 16px 0; } figure svg { max-width: 100%; height: auto; display: block; }
        figcaption { color: #555; font-size: 0.9em; }
        code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }

        """;

    private static List<bool> RightAligned(ReportTable t) =>
        Enumerable.Range(0, t.Header.Count).Select(i => t.Rows.Count > 0 && t.Rows.All(r => i < r.Count && LooksNumeric(r[i]))).ToList();

    private static bool LooksNumeric(string cell) => cell.Length == 0 || cell == "–" || NumericCell().IsMatch(cell);

    [GeneratedRegex(@"^[−+\-]?[\d.,]+\s*(%|×|pts|ms|s|M|B|k)?(\s*[\[(].*[\])]|\s*[±–]\s*[\d.,]+)?\s*\**$")]
    private static partial Regex NumericCell();

    /// <summary>An id for a heading: lower-case letters and digits joined by hyphens.</summary>
    private static string Anchor(string heading) =>
        "s-" + NotAlphanumeric().Replace(heading.ToLowerInvariant(), "-").Trim('-');

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NotAlphanumeric();

    private static string MarkdownCell(string text) => text.Replace("|", "\\|").Replace("\n", " ");

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    /// <summary>HTML for text with `code` and **bold** spans.</summary>
    private static string Inline(string text)
    {
        var encoded = Encode(text);
        encoded = CodeSpan().Replace(encoded, "<code>$1</code>");
        return BoldSpan().Replace(encoded, "<strong>$1</strong>");
    }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\*\*([^*]+)\*\*")]
    private static partial Regex BoldSpan();

    public static string Percent(double v) => double.IsFinite(v) ? (100 * v).ToString("0.0", CultureInfo.InvariantCulture) : "–";

    public static string Points(double v) => double.IsFinite(v) ? (100 * v).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture) : "–";
}
