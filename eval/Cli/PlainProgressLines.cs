using System.Globalization;
using Eval.Harness.Runs;

namespace Eval.Cli;

/// <summary>
/// A run's progress as plain lines, for redirected output (a Slurm or Kubernetes log): a line each time the run moves
/// to another task, language or template, and in between a line when <paramref name="interval"/> has passed since the
/// last one, with done/total, the rate of examples scored since the run began and the time left at that rate.
/// Reports synchronously (no Progress&lt;T&gt; thread hop), so the lines come in order and none is left after the run.
/// </summary>
public sealed class PlainProgressLines(TextWriter output, TimeSpan interval, TimeProvider time) : IProgress<RunProgress>
{
    private string? description;
    private long lastLine;
    private long? startedAt;
    private long scoredAtStart;

    public void Report(RunProgress value)
    {
        var now = time.GetTimestamp();
        if (startedAt is null)
        {
            startedAt = now;
            scoredAtStart = value.Scored;
        }
        if (value.Description != description)
        {
            description = value.Description;
            output.WriteLine($"{value.Description} ({value.Done}/{value.Total})");
            lastLine = now;
            return;
        }
        if (time.GetElapsedTime(lastLine, now) < interval) return;
        lastLine = now;
        output.WriteLine(Line(value, time.GetElapsedTime(startedAt.Value, now)));
    }

    private string Line(RunProgress value, TimeSpan elapsed)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"  {value.Done}/{value.Total} ({100.0 * value.Done / Math.Max(1, value.Total):0.0}%)");
        if (value.Scored <= scoredAtStart) return text + " · nothing scored yet";
        double rate = (value.Scored - scoredAtStart) / Math.Max(elapsed.TotalSeconds, 1e-9);
        var left = TimeSpan.FromSeconds(Math.Min((value.Total - value.Done) / rate, TimeSpan.MaxValue.TotalSeconds / 2));
        return text + string.Create(CultureInfo.InvariantCulture, $" · {rate:0.0} examples/s · ETA {Duration(left)}");
    }

    /// <summary>"45 s", "12 min 05 s", "3 h 07 min".</summary>
    public static string Duration(TimeSpan span) => span.TotalSeconds < 60
        ? string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(span.TotalSeconds):0} s")
        : span.TotalHours < 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes} min {span.Seconds:00} s")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours} h {span.Minutes:00} min");
}
