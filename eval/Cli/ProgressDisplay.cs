using System.Globalization;
using Eval.Harness.Runs;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Eval.Cli;

/// <summary>Spectre progress bar (examples/s, ETA) around a run, and the summary table after it.</summary>
public static class ProgressDisplay
{
    /// <summary>How often redirected output (a Slurm log) gets a progress line within one task, language and template.</summary>
    public static readonly TimeSpan PlainLineInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A live bar on a terminal; redirected, plain lines (<see cref="PlainProgressLines"/>): one each time the run moves
    /// to another task, language or template, and one at most every 30 s in between with done/total, rate and ETA.
    /// A child of a multi-device run reports to its parent instead (<see cref="ShardChild.ProgressLines"/>).
    /// </summary>
    public static T Run<T>(Func<IProgress<RunProgress>, T> run) =>
        ShardChild.IsChild(Environment.GetEnvironmentVariable) ? run(new ShardChild.ProgressLines(Console.Out, ShardChild.ProgressInterval, TimeProvider.System))
        : TerminalOutput.IsInteractive ? RunWithBar(run)
        : run(new PlainProgressLines(Console.Out, PlainLineInterval, TimeProvider.System));

    private static T RunWithBar<T>(Func<IProgress<RunProgress>, T> run) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ExamplesPerSecondColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var bar = context.AddTask("planning", maxValue: 1);
                var outcome = run(new Progress(bar));
                bar.Value = bar.MaxValue;
                bar.StopTask();
                return outcome;
            });

    private sealed class Progress(ProgressTask bar) : IProgress<RunProgress>
    {
        public void Report(RunProgress value)
        {
            bar.MaxValue = Math.Max(1, value.Total);
            bar.Description = Markup.Escape(value.Description);
            bar.Value = value.Done;
        }
    }

    private sealed class ExamplesPerSecondColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } s ? $"{s.ToString("0.0", CultureInfo.InvariantCulture)} ex/s" : "– ex/s");
    }

    public static void PrintSummary(RunSummary summary)
    {
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("task").AddColumn("lang / group").AddColumn(new TableColumn("templates").RightAligned())
            .AddColumn(new TableColumn("mean acc").RightAligned()).AddColumn(new TableColumn("sd").RightAligned())
            .AddColumn(new TableColumn("min").RightAligned()).AddColumn(new TableColumn("max").RightAligned()).AddColumn(new TableColumn("n").RightAligned());
        static string P(double v) => double.IsFinite(v) ? (100 * v).ToString("0.0", CultureInfo.InvariantCulture) : "–";
        foreach (var s in summary.Spreads)
            table.AddRow(Markup.Escape(s.Task), s.IsGroup ? $"[bold]{Markup.Escape(s.Subset)}[/]" : Markup.Escape(s.Subset),
                s.Spread.Templates.ToString(CultureInfo.InvariantCulture), P(s.Spread.Mean), P(s.Spread.Sd), P(s.Spread.Min), P(s.Spread.Max),
                s.Examples.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
    }
}
