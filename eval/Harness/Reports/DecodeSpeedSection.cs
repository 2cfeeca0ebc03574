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
/// tokens L, one line per iteration count T, per masked model; Mask-Predict at T = 10 beside every autoregressive
/// model's greedy decoding (the Instruct-XLMR paper's comparison with BLOOMZ and mT0); a single [MASK]'s speed-up over
/// log-likelihood scoring per prompt length; and the measured rows.
/// </summary>
public static class DecodeSpeedSection
{
    /// <summary>The Mask-Predict iterations the Instruct-XLMR authors' run_inf.sh decodes with.</summary>
    public const int PaperIterations = 10;

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
        blocks.AddRange(AgainstEveryGreedyModel(rows));
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

    /// <summary>
    /// Each masked model's Mask-Predict at T = 10 (the largest T measured when 10 was not) beside the greedy decoding of
    /// every model that decodes greedily (causal and encoder–decoder LMs), at the same prompt, L and batch: a table of the
    /// latencies and speed-ups, and per masked model a chart of the speed-up over each against L.
    /// </summary>
    private static IEnumerable<ReportBlock> AgainstEveryGreedyModel(IReadOnlyList<DecodeResult> rows)
    {
        var measured = rows.Where(r => r.Status == "ok" && r.MedianMs is > 0).ToList();
        var greedyModels = measured.Where(r => r.Method == "greedy").Select(r => r.Model).Distinct().ToList();
        var maskPredict = measured.Where(r => r.Method == "mask-predict").ToList();
        if (greedyModels.Count == 0 || maskPredict.Count == 0) yield break;
        DecodeResult? Greedy(string model, DecodeResult r) => measured.FirstOrDefault(g => g.Model == model && g.Method == "greedy"
            && g.PromptTokens == r.PromptTokens && g.NewTokens == r.NewTokens && g.Batch == r.Batch);
        static string Ms(double? ms) => ms is { } v ? v.ToString("0.##", CultureInfo.InvariantCulture) : "–";

        var lines = new List<IReadOnlyList<string>>();
        var figures = new List<ReportBlock>();
        foreach (var model in maskPredict.Select(r => r.Model).Distinct())
        {
            var mine = maskPredict.Where(r => r.Model == model).ToList();
            int t = mine.Any(r => r.Iterations == PaperIterations) ? PaperIterations : mine.Max(r => r.Iterations);
            var chosen = mine.Where(r => r.Iterations == t).OrderBy(r => r.Batch).ThenBy(r => r.PromptTokens).ThenBy(r => r.NewTokens).ToList();
            foreach (var r in chosen)
            {
                var cells = new List<string>
                {
                    model, t.ToString(CultureInfo.InvariantCulture), r.PromptTokens.ToString(CultureInfo.InvariantCulture),
                    r.NewTokens.ToString(CultureInfo.InvariantCulture), r.Batch.ToString(CultureInfo.InvariantCulture), Ms(r.MedianMs),
                };
                foreach (var g in greedyModels)
                {
                    var greedy = Greedy(g, r);
                    cells.Add(Ms(greedy?.MedianMs));
                    cells.Add(greedy is null ? "–" : (greedy.MedianMs!.Value / r.MedianMs!.Value).ToString("0.00", CultureInfo.InvariantCulture) + "×");
                }
                lines.Add(cells);
            }
            int largest = chosen.Max(r => r.Batch);
            var batches = new[] { 1, largest }.Distinct().Where(b => chosen.Any(r => r.Batch == b)).ToList();
            var series = (from batch in batches
                          from g in greedyModels
                          let points = chosen.Where(r => r.Batch == batch).Select(r => (r, Greedy(g, r))).Where(p => p.Item2 is not null)
                              .Select(p => new XyPoint(p.r.NewTokens, p.Item2!.MedianMs!.Value / p.r.MedianMs!.Value, Label: $"{p.Item2.MedianMs:0.##} ms")).ToList()
                          where points.Count > 0
                          select new XySeries(batch == 1 ? g : $"{g}, batch {batch}", points, Dashed: batch > 1, ColourIndex: greedyModels.IndexOf(g))).ToList();
            if (series.Count == 0) continue;
            figures.Add(new ReportFigure($"decode-{EvaluationReport.Slug(model)}-vs-greedy",
                new XyChart(new ChartFrame($"Mask-Predict (T = {t}) vs greedy decoding: {model}", "new tokens L", "speed-up over greedy (×)",
                        Subtitle: batches.Count > 1 ? $"one line per greedy model · solid: batch 1, dashed: batch {batches[1]}" : $"batch {batches[0]}"),
                    series, AxisKind.Log, AxisKind.Log, XTicks: chosen.Select(r => (double)r.NewTokens).Distinct().Order().ToList(),
                    Reference: (1, "1× (as fast as greedy)")),
                "Speed-up = the greedy model's median latency over Mask-Predict's, at the same prompt, L and batch."));
        }
        yield return new ReportParagraph($"Mask-Predict at T = {PaperIterations} iterations (as the Instruct-XLMR authors' run_inf.sh decodes; " +
                                         "the largest T measured when 10 was not) beside every greedy decoder measured, at the same prompt length, " +
                                         "number of new tokens L and batch. The paper reports Instruct-XLMR-XL ≈3× faster than BLOOMZ-3B and mT0-XL.");
        yield return new ReportTable(["masked model", "T", "prompt", "L", "batch", "Mask-Predict ms", .. greedyModels.SelectMany(g => new[] { $"{g} greedy ms", $"× vs {g}" })], lines);
        foreach (var figure in figures) yield return figure;
    }
}
