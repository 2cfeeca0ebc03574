using System.CommandLine;
using Eval.Charts;
using Eval.Harness.Reports;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`mlm-eval report`, `scaling` and `compare`: reports over finished run folders.</summary>
public static class ReportCommands
{
    private static Option<string> MetricOption() => new("--metric")
    {
        Description = "acc, or acc_norm (log-likelihood per character) for runs of causal LMs scored by loglik; other runs keep acc",
        DefaultValueFactory = _ => RunRecord.Acc,
    };

    public static Command Report()
    {
        var runs = new Argument<string[]>("RUN_DIR") { Description = "run folders written by `eval` (the first is the reference for comparisons)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output") { Description = "folder for report.html, report.md and charts/", DefaultValueFactory = _ => Path.Combine("results", "report") };
        var bench = new Option<string?>("--bench") { Description = "`bench decode` CSV for the decode-speed charts (default: the newest in results/bench)" };
        var metric = MetricOption();
        var command = new Command("report", "Write report.html (self-contained, charts inline) and report.md over one or more runs: the masked LMs side by side, per-language accuracy, template spread, paired model comparison, decode speed");
        command.Arguments.Add(runs);
        command.Options.Add(output);
        command.Options.Add(bench);
        command.Options.Add(metric);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var records = RunRecord.LoadAll(result.GetValue(runs)!);
            var csv = result.GetValue(bench) ?? DecodeSpeedSection.Latest(Path.Combine("results", "bench"));
            var document = EvaluationReport.Build(records, csv, result.GetValue(metric)!);
            Written(document.WriteTo(result.GetValue(output)!, "report"));
        }));
        return command;
    }

    public static Command Scaling()
    {
        var runs = new Argument<string[]>("RUN_DIR") { Description = "run folders of models of different sizes (or fine-tuning lengths)", Arity = ArgumentArity.ZeroOrMore };
        var x = new Option<string>("--x") { Description = "params (parameter count from run.json) or train-tokens (trainer_state.json's num_input_tokens_seen, or --x-values)", DefaultValueFactory = _ => "params" };
        var xValues = new Option<string?>("--x-values") { Description = "CSV of run,x (run: folder, folder name or model name) overriding each run's x" };
        var series = new Option<string[]>("--series")
        {
            Description = "split the runs into series, each fitted on its own, and estimate where they cross: 'kind' (masked / causal / encoder-decoder, " +
                          "from run.json's architecture) or NAME=REGEX, repeated (a run joins the first family whose regex matches its model or folder name)",
            AllowMultipleArgumentsPerToken = false,
        };
        var seriesFile = new Option<string?>("--series-file") { Description = "CSV of run,series (run: folder, folder name or model name; for --bench, the model name)" };
        var bench = new Option<string[]>("--bench") { Description = "`bench decode` CSV(s): also chart decode speed against parameters, in the same series" };
        var output = new Option<string>("--output") { Description = "folder for scaling.html, scaling.md, scaling-fits.csv, scaling-crossings.csv and charts/", DefaultValueFactory = _ => Path.Combine("results", "scaling") };
        var scalingMetric = MetricOption();
        var command = new Command("scaling", "Accuracy (and decode speed) against model size or fine-tuning tokens per task, in one series or per model kind or family, " +
                                             "with a + b·log N and saturating power-law fits and where the series cross");
        command.Arguments.Add(runs);
        foreach (var o in new Option[] { x, xValues, series, seriesFile, bench, output, scalingMetric }) command.Options.Add(o);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var axis = result.GetValue(x) switch
            {
                "params" or "parameters" => ScalingAxis.Parameters,
                "train-tokens" or "tokens" => ScalingAxis.TrainTokens,
                var other => throw new ArgumentException($"--x must be params or train-tokens, got '{other}'"),
            };
            var folders = result.GetValue(runs) ?? [];
            var csvs = result.GetValue(bench) ?? [];
            if (folders.Length == 0 && csvs.Length == 0) throw new ArgumentException("give run folders, --bench CSVs, or both");
            var grouping = ScalingSeries.Parse(result.GetValue(series) ?? [], result.GetValue(seriesFile));
            var folder = result.GetValue(output)!;
            var crossings = new List<(string Case, string X, ScalingCrossing Crossing)>();
            var xColumn = axis == ScalingAxis.Parameters ? "parameters" : "train_tokens";

            ScalingResult? fits = null;
            List<RunRecord>? records = null;
            if (folders.Length > 0)
            {
                records = RunRecord.LoadAll(folders).Select(r => r.ForMetric(result.GetValue(scalingMetric)!)).ToList();
                var table = result.GetValue(xValues) is { } path ? ScalingReport.ReadXValues(path) : null;
                fits = ScalingReport.Fit(records, ScalingReport.XValues(records, axis, table), grouping);
                foreach (var t in fits.Tasks)
                {
                    foreach (var s in t.Series)
                        AnsiConsole.MarkupLine(Markup.Escape($"{t.Task}{(grouping.IsSingle ? "" : $" · {s.Series}")}: {s.Points.Count} runs" +
                            (s.LogLinear is { } l ? $"; acc = {l.A:0.###} + {l.B:0.###}·log10 N (R² {l.RSquared:0.00})" : "") +
                            (s.PowerLaw is { } p ? $"; acc = {p.C:0.###} − {p.B:0.###}·(N/{Format.Number(p.XRef)})^−{p.Alpha:0.###} (R² {p.RSquared:0.00})" : "")));
                    foreach (var c in t.Crossings)
                    {
                        AnsiConsole.MarkupLine(Markup.Escape($"{t.Task}: {c.Describe(ScalingReport.AxisName(axis))}"));
                        crossings.Add((t.Task, xColumn, c));
                    }
                }
                if (fits.LeftOut.Count > 0) AnsiConsole.MarkupLine(Markup.Escape($"in no series, left out: {string.Join(", ", fits.LeftOut)}"));
            }

            List<ReportSection>? speed = null;
            if (csvs.Length > 0)
            {
                var rows = csvs.SelectMany(DecodeSpeedSection.Read).ToList();
                var (cases, leftOut) = SpeedScaling.Fit(rows, grouping);
                if (cases.Count == 0) throw new ArgumentException($"{string.Join(", ", csvs)}: no measured single-mask, log-likelihood, Mask-Predict or greedy rows to chart");
                speed = [SpeedScaling.Section(cases, csvs, rows, grouping, leftOut)];
                foreach (var c in cases)
                    foreach (var crossing in c.Crossings)
                    {
                        AnsiConsole.MarkupLine(Markup.Escape($"speed, {c.Title}: {crossing.Describe("parameters", "faster")}"));
                        crossings.Add(($"speed-{c.Name}", "parameters", crossing));
                    }
            }

            var files = ScalingReport.Document(fits, axis, speed, records).WriteTo(folder, "scaling").ToList();
            if (fits is not null) files.Add(ScalingReport.WriteFitsCsv(Path.Combine(folder, "scaling-fits.csv"), fits.Tasks, axis));
            if (!grouping.IsSingle)
                files.Add(ScalingReport.WriteCrossingsCsv(Path.Combine(folder, "scaling-crossings.csv"), crossings));
            Written(files);
        }));
        return command;
    }

    public static Command Compare()
    {
        var baseline = new Option<string>("--baseline") { Description = "baseline run folder, or a folder of run folders", Required = true };
        var current = new Option<string>("--current") { Description = "current run folder, or a folder of run folders (paired by name)", Required = true };
        var maxDrop = new Option<double>("--max-drop") { Description = "tolerated accuracy drop per (task, language, template), in points", DefaultValueFactory = _ => 1.0 }.AtLeast(0);
        var changed = new Option<bool>("--fail-on-changed-predictions") { Description = "also fail when any example's prediction changed (for deterministic CI baselines)" };
        var output = new Option<string?>("--output") { Description = "also write the Markdown report to this file" };
        var compareMetric = MetricOption();
        var command = new Command("compare", "Regression check of current runs against a baseline: Markdown report (also appended to $GITHUB_STEP_SUMMARY), exit 1 on regression, 2 on bad input");
        foreach (var o in new Option[] { baseline, current, maxDrop, changed, output, compareMetric }) command.Options.Add(o);
        command.SetAction(result =>
        {
            int code = CommandRunner.Run(() =>
            {
                var report = RegressionReport.Compare(result.GetValue(baseline)!, result.GetValue(current)!, result.GetValue(maxDrop), result.GetValue(changed),
                    result.GetValue(compareMetric)!);
                var markdown = report.ToMarkdown();
                Console.Write(markdown);
                if (result.GetValue(output) is { } path)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                    File.WriteAllText(path, markdown);
                }
                if (Environment.GetEnvironmentVariable("GITHUB_STEP_SUMMARY") is { Length: > 0 } summary) File.AppendAllText(summary, markdown);
                return report.Passed ? 0 : 1;
            }, errorExitCode: 2);
            return code;
        });
        return command;
    }

    private static void Written(IEnumerable<string> files)
    {
        foreach (var f in files) Console.WriteLine($"  {f}");
    }
}
