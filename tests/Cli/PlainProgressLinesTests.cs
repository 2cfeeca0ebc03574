using Eval.Cli;
using Eval.Harness.Runs;

namespace Eval.Tests.Cli;

/// <summary>
/// Redirected output (a Slurm log): a line per task, language and template, and between them a line at most once per
/// interval with done/total, rate and ETA — checked on a clock the test moves, not by waiting 30 s.
/// </summary>
[TestClass]
public sealed class PlainProgressLinesTests
{
    private sealed class ManualClock : TimeProvider
    {
        private long ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => ticks;
        public void Advance(TimeSpan by) => ticks += by.Ticks;
    }

    [TestMethod]
    public void A_line_per_group_and_between_them_one_per_interval_with_rate_and_eta()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var lines = new PlainProgressLines(output, TimeSpan.FromSeconds(30), clock);
        const string group = "xnli en · GPT-3 style";
        lines.Report(new RunProgress(group, 0, 1000));
        // Every 10 s a batch of 50 is scored: no line until 30 s have passed since the last one.
        for (int second = 10, done = 50; second <= 60; second += 10, done += 50)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            lines.Report(new RunProgress(group, done, 1000) { Scored = done });
        }
        clock.Advance(TimeSpan.FromSeconds(5));
        lines.Report(new RunProgress("xnli fr · GPT-3 style", 300, 1000) { Scored = 300 });   // a new group: a line at once
        clock.Advance(TimeSpan.FromSeconds(29));
        lines.Report(new RunProgress("xnli fr · GPT-3 style", 310, 1000) { Scored = 310 });   // 29 s after the last line: none
        var printed = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        CollectionAssert.AreEqual(new[]
        {
            "xnli en · GPT-3 style (0/1000)",
            "  150/1000 (15.0%) · 5.0 examples/s · ETA 2 min 50 s",   // at 30 s: 150 scored in 30 s, 850 left
            "  300/1000 (30.0%) · 5.0 examples/s · ETA 2 min 20 s",   // at 60 s
            "xnli fr · GPT-3 style (300/1000)",
        }, printed);
    }

    [TestMethod]
    public void Examples_from_the_cache_do_not_count_in_the_rate()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var lines = new PlainProgressLines(output, TimeSpan.FromSeconds(30), clock);
        lines.Report(new RunProgress("g", 0, 1000));
        lines.Report(new RunProgress("g", 600, 1000));                     // 600 from the cache, at once
        clock.Advance(TimeSpan.FromSeconds(40));
        lines.Report(new RunProgress("g", 600, 1000));
        clock.Advance(TimeSpan.FromSeconds(40));
        lines.Report(new RunProgress("g", 800, 1000) { Scored = 200 });    // 200 scored in 80 s: 2.5/s, 200 left
        var printed = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        CollectionAssert.AreEqual(new[] { "g (0/1000)", "  600/1000 (60.0%) · nothing scored yet", "  800/1000 (80.0%) · 2.5 examples/s · ETA 1 min 20 s" }, printed);
    }

    [TestMethod]
    public void Durations_read_as_people_write_them()
    {
        Assert.AreEqual("45 s", PlainProgressLines.Duration(TimeSpan.FromSeconds(44.2)));
        Assert.AreEqual("12 min 05 s", PlainProgressLines.Duration(TimeSpan.FromSeconds(725)));
        Assert.AreEqual("3 h 07 min", PlainProgressLines.Duration(TimeSpan.FromMinutes(187)));
    }
}
