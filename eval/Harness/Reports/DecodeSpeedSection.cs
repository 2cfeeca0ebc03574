using System.Globalization;
using CsvHelper;
using Eval.Charts;
using Eval.Harness.Benchmarks;

namespace Eval.Harness.Reports;

/// <summary>A row of a `bench decode` CSV, as much of it as the charts use.</summary>
public sealed record DecodeResult(string Section, string Model, string Method, int Choices, int PromptTokens, int NewTokens, int Iterations,
    int Batch, double? MedianMs, string Peer, double? Speedup, string Status, string Machine, string Command)
{
    /// <summary>The architecture's registry name and the parameter count (what speed-against-size charts group and place by).</summary>
    public string Architecture { get; init; } = "";
    public long Parameters { get; init; }
    public double? MinMs { get; init; }
    public double? MaxMs { get; init; }
}

/// <summary>
/// Decode speed from a `bench decode` CSV: Mask-Predict's speed-up over greedy decoding against the number of new
/// tokens L, one line per iteration count T, per masked model; a single [MASK]'s speed-up over log-likelihood scoring
/// per prompt length; and the measured rows.
/// </summary>
public static class DecodeSpeedSection
{
    /// <summary>The newest full `bench decode` CSV in a folder (quick runs only when there is no full one), or null.</summary>
    public static string? Latest(string folder)
    {
        if (!Directory.Exists(folder)) return null;
        var files = Directory.GetFiles(folder, "decode-*.csv").Order(StringComparer.Ordinal).ToList();
        return files.LastOrDefault(f => !Path.GetFileName(f).StartsWith("decode-quick-", StringComparison.Ordinal)) ?? files.LastOrDefault();
    }

    public static IReadOnlyList<DecodeResult> Read(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"decode benchmark CSV {path} does not exist");
        var rows = new List<DecodeResult>();
        using var csv = CsvReader.FromFile(path, new CsvReaderOptions { HasHeader = true, TrackLineNumbers = true });
        csv.ReadHeader();
        var columns = csv.Headers?.ToArray() ?? [];
        var missing = DecodeBenchmark.CsvHeader.Where(h => !columns.Contains(h)).ToList();
        if (missing.Count > 0)
            throw new FormatException($"{path}: not a `bench decode` CSV: it lacks the column(s) {string.Join(", ", missing)}");
        while (csv.Read())
        {
            long line = csv.LineNumber;
            string Field(string name) => csv.GetString(Array.IndexOf(columns, name));
            int Int(string name) => int.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                : throw new FormatException($"{path}:{line}: column {name} holds '{Field(name)}', not an integer");
            double? Real(string name) => Field(name) is { Length: > 0 } t
                ? double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new FormatException($"{path}:{line}: column {name} holds '{t}', not a number")
                : null;
            rows.Add(new DecodeResult(Field("section"), Field("model"), Field("method"), Int("choices"), Int("prompt_tokens"), Int("new_tokens"),
                Int("iterations"), Int("batch"), Real("median_ms"), Field("peer"), Real("speedup_vs_peer"), Field("status"), Field("machine"), Field("command"))
            {
                Architecture = Field("architecture"),
                Parameters = long.TryParse(Field("parameters"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0 ? n
                    : throw new FormatException($"{path}:{line}: column parameters holds '{Field("parameters")}', not a parameter count"),
                MinMs = Real("min_ms"),
                MaxMs = Real("max_ms"),
            });
        }
        return rows;
    }

    public static ReportSection Build(string path)
    {
        var rows = Read(path);
        var measured = rows.Where(r => r.Status == "ok" && r.Speedup is not null).ToList();
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"From `{path}`" + (rows.FirstOrDefault() is { } first ? $", measured on {first.Machine} by `mlm-eval {first.Command}`" : "") +
                                ". Speed-ups are the peer's median latency over the model's, measured in the same run (> 1× means the masked LM is faster)."),
        };
        // Batch 1 (latency) solid, the largest batch (throughput) dashed in the same colour; one colour per T.
        var generation = measured.Where(r => r.Method == "mask-predict").ToList();
        foreach (var model in generation.Select(r => r.Model).Distinct())
        {
            var mine = generation.Where(r => r.Model == model).ToList();
            var lengths = mine.Select(r => (double)r.NewTokens).Distinct().Order().ToList();
            var iterations = mine.Select(r => r.Iterations).Distinct().Order().ToList();
            var batches = new[] { 1, mine.Max(r => r.Batch) }.Distinct().Where(b => mine.Any(r => r.Batch == b)).ToList();
            var series = (from batch in batches
                          from t in iterations
                          let points = mine.Where(r => r.Iterations == t && r.Batch == batch)
                              .Select(r => new XyPoint(r.NewTokens, r.Speedup!.Value, Label: $"{r.MedianMs:0.##} ms")).ToList()
                          where points.Count > 0
                          select new XySeries(batch == 1 ? $"T = {t}" : $"T = {t}, batch {batch}", points, Dashed: batch > 1,
                              ColourIndex: iterations.IndexOf(t))).ToList();
            var subtitle = $"peer: {mine[0].Peer} · " + (batches.Count > 1 ? $"solid: batch 1, dashed: batch {batches[1]}" : $"batch {batches[0]}");
            blocks.Add(new ReportFigure($"decode-{EvaluationReport.Slug(model)}-mask-predict",
                new XyChart(new ChartFrame($"Mask-Predict vs greedy: {model}", "new tokens L", "speed-up over greedy (×)", Subtitle: subtitle),
                    series, AxisKind.Log, AxisKind.Log, XTicks: lengths, Reference: (1, "1× (as fast as greedy)"))));
        }
        var classification = measured.Where(r => r.Method == "single-mask" && r.Batch == 1).ToList();
        if (classification.Count > 0)
        {
            var prompts = classification.Select(r => r.PromptTokens).Distinct().Order().ToList();
            var models = classification.Select(r => r.Model).Distinct().ToList();
            blocks.Add(new ReportFigure("decode-single-mask",
                new BarChart(new ChartFrame("Single [MASK] vs log-likelihood over the choices", "prompt tokens", "speed-up (×)", Subtitle: "batch 1"),
                    prompts.Select(p => p.ToString(CultureInfo.InvariantCulture)).ToList(),
                    models.Select(m => new BarSeries(m, prompts.Select(p => classification.FirstOrDefault(r => r.Model == m && r.PromptTokens == p)?.Speedup ?? double.NaN).ToList())).ToList(),
                    AxisKind.Log, Reference: (1, "1×"), BarBase: 1)));
        }
        if (generation.Count == 0 && classification.Count == 0)
            blocks.Add(new ReportParagraph("The CSV holds no measured masked-LM row with a peer, so there is nothing to chart."));
        blocks.Add(new ReportTable(["model", "method", "T", "prompt", "L", "batch", "median ms", "peer", "speed-up", "status"],
            rows.Where(r => r.Method is "single-mask" or "mask-predict" || r.Status != "ok").Select(r => (IReadOnlyList<string>)[r.Model, r.Method,
                r.Iterations.ToString(CultureInfo.InvariantCulture), r.PromptTokens.ToString(CultureInfo.InvariantCulture), r.NewTokens.ToString(CultureInfo.InvariantCulture),
                r.Batch.ToString(CultureInfo.InvariantCulture), r.MedianMs is { } ms ? ms.ToString("0.##", CultureInfo.InvariantCulture) : "–", r.Peer,
                r.Speedup is { } s ? s.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "–", r.Status]).ToList()));
        return new ReportSection("Decode speed", blocks);
    }
}
