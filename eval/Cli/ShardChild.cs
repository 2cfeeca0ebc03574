using System.Globalization;
using System.Runtime.InteropServices;
using Eval.Harness.Runs;

namespace Eval.Cli;

/// <summary>
/// The protocol between a multi-device `eval` (<see cref="MultiDeviceEval"/>) and its children, each an ordinary
/// `eval --shard K/N --device D` started with <see cref="Variable"/>=1: the child writes its progress as
/// <see cref="ProgressPrefix"/> lines on stdout, and stops only when the parent says so — a line INT or TERM on its
/// stdin per signal the parent got, or the end of its stdin (the parent is gone) as TERM.
/// </summary>
public static class ShardChild
{
    public const string Variable = "EVAL_SHARD_CHILD";

    /// <summary>Starts a progress line: done, total, scored and the description follow, tab-separated.</summary>
    public const string ProgressPrefix = "mlm-eval-shard-progress\t";

    /// <summary>How often a child reports progress that did not change its description.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    public static bool IsChild(Func<string, string?> environment) => environment(Variable) == "1";

    public static string ProgressLine(RunProgress value) => string.Create(CultureInfo.InvariantCulture,
        $"{ProgressPrefix}{value.Done}\t{value.Total}\t{value.Scored}\t{value.Description.Replace('\t', ' ').Replace('\n', ' ').Replace('\r', ' ')}");

    /// <summary>A child's progress line read back; false for any other line (what the child prints for its log).</summary>
    public static bool TryParseProgress(string line, out RunProgress progress)
    {
        progress = new RunProgress("", 0, 0);
        if (!line.StartsWith(ProgressPrefix, StringComparison.Ordinal)) return false;
        var fields = line[ProgressPrefix.Length..].Split('\t', 4);
        if (fields.Length != 4 || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var done)
            || !long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var total)
            || !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var scored))
            return false;
        progress = new RunProgress(fields[3], done, total) { Scored = scored };
        return true;
    }

    /// <summary>The child's progress for its parent: a line on each new description, else at most one per interval.</summary>
    public sealed class ProgressLines(TextWriter output, TimeSpan interval, TimeProvider time) : IProgress<RunProgress>
    {
        private string? description;
        private long last;

        public void Report(RunProgress value)
        {
            var now = time.GetTimestamp();
            if (value.Description == description && time.GetElapsedTime(last, now) < interval) return;
            description = value.Description;
            last = now;
            output.WriteLine(ProgressLine(value));
            output.Flush();
        }
    }

    /// <summary>
    /// Reads the parent's stop requests from <paramref name="input"/> on a background thread: INT or TERM asks as that
    /// signal would; the end of the input (the parent exited or was killed) asks as SIGTERM.
    /// </summary>
    public static void ListenForStops(TextReader input, Action<PosixSignal> request)
    {
        var thread = new Thread(() =>
        {
            try
            {
                for (string? line; (line = input.ReadLine()) is not null;)
                {
                    if (line.Trim() == "INT") request(PosixSignal.SIGINT);
                    else if (line.Trim() == "TERM") request(PosixSignal.SIGTERM);
                }
            }
            catch (IOException)
            {
                // a broken pipe is the parent gone, as the end of the input is
            }
            request(PosixSignal.SIGTERM);
        }) { IsBackground = true, Name = "parent stop requests" };
        thread.Start();
    }
}
