using System.Runtime.InteropServices;
using Eval.Cli;
using Eval.Harness.Runs;

namespace Eval.Tests.Cli;

/// <summary>The device lists of a multi-device eval (cuda:all, cuda:0,1,3, ilgpu-cpu:0,1) and the parent–child protocol.</summary>
[TestClass]
public sealed class DeviceListTests
{
    private static (int, string) NoCuda() => (0, "no CUDA device found (no CUDA driver (libcuda.so.1: not found))");

    [TestMethod]
    public void ASingleDeviceIsNoList()
    {
        foreach (var single in new[] { null, "auto", "cpu", "cuda", "ilgpu-cpu" }) Assert.IsNull(DeviceList.Parse(single), single);
    }

    [TestMethod]
    public void ListsNameTheirChildrenAndTheirVisibleDevices()
    {
        var listed = DeviceList.Parse("cuda:0,1,3")!.Resolve(null, () => throw new AssertFailedException("a list is not counted"));
        CollectionAssert.AreEqual(new[] { new ChildDevice("cuda:0", "cuda", "0"), new ChildDevice("cuda:1", "cuda", "1"), new ChildDevice("cuda:3", "cuda", "3") },
            listed.ToArray());

        // cuda:all is every device this process sees, numbered within its own CUDA_VISIBLE_DEVICES (GPU UUIDs too).
        var all = DeviceList.Parse("cuda:all")!.Resolve("5, GPU-8f3a", () => (2, ""));
        CollectionAssert.AreEqual(new[] { new ChildDevice("cuda:0", "cuda", "5"), new ChildDevice("cuda:1", "cuda", "GPU-8f3a") }, all.ToArray());

        var stand_in = DeviceList.Parse("ilgpu-cpu:0,1")!.Resolve(null, NoCuda);
        CollectionAssert.AreEqual(new[] { new ChildDevice("ilgpu-cpu:0", "ilgpu-cpu", "0"), new ChildDevice("ilgpu-cpu:1", "ilgpu-cpu", "1") }, stand_in.ToArray());
        Assert.AreEqual("ilgpu-cpu:0,1", DeviceList.Parse("ilgpu-cpu:0,1")!.ToString());
    }

    [TestMethod]
    public void BadListsAreOneLineErrorsNamingTheMistake()
    {
        (string Text, string Named)[] bad =
        [
            ("cpu:0,1", "a device list is for cuda"),
            ("auto:all", "a device list is for cuda"),
            ("cuda:", "'' is not a device index"),
            ("cuda:0,x", "'x' is not a device index"),
            ("cuda:-1", "'-1' is not a device index"),
            ("cuda:1,1", "device 1 is listed twice"),
            ("ilgpu-cpu:all", "list the children as ilgpu-cpu:0,1"),
        ];
        foreach (var (text, named) in bad)
        {
            var e = Assert.ThrowsException<ArgumentException>(() => DeviceList.Parse(text), text);
            StringAssert.Contains(e.Message, named, text);
            StringAssert.StartsWith(e.Message, $"--device {text}:");
        }
        var hidden = Assert.ThrowsException<ArgumentException>(() => DeviceList.Parse("cuda:0,2")!.Resolve("4,5", NoCuda));
        StringAssert.Contains(hidden.Message, "device 2 is not visible (CUDA_VISIBLE_DEVICES=4,5 makes 2 device(s) visible");
        var emptied = Assert.ThrowsException<ArgumentException>(() => DeviceList.Parse("cuda:0")!.Resolve("", NoCuda));
        StringAssert.Contains(emptied.Message, "device 0 is not visible (CUDA_VISIBLE_DEVICES= makes 0 device(s) visible", "an empty CUDA_VISIBLE_DEVICES hides every GPU");
        var none = Assert.ThrowsException<InvalidOperationException>(() => DeviceList.Parse("cuda:all")!.Resolve(null, NoCuda));
        StringAssert.StartsWith(none.Message, "--device cuda:all: no CUDA device found");
    }

    [TestMethod]
    public void ProgressLinesRoundTripAndOtherLinesAreNotProgress()
    {
        var sent = new RunProgress("xnli sw · GPT-3\tstyle", 12, 40) { Scored = 8 };
        Assert.IsTrue(ShardChild.TryParseProgress(ShardChild.ProgressLine(sent), out var read));
        Assert.AreEqual(sent with { Description = "xnli sw · GPT-3 style" }, read);
        foreach (var other in new[] { "xnli sw · GPT-3 style (12/40)", ShardChild.ProgressPrefix + "1\t2", ShardChild.ProgressPrefix + "a\t2\t3\tx", "" })
            Assert.IsFalse(ShardChild.TryParseProgress(other, out _), other);

        // One line per new description, and within one description at most one per interval.
        var output = new StringWriter();
        var time = new ManualTime();
        var lines = new ShardChild.ProgressLines(output, TimeSpan.FromSeconds(1), time);
        lines.Report(new RunProgress("a", 0, 10));
        lines.Report(new RunProgress("a", 1, 10));
        time.Now += TimeSpan.FromSeconds(2);
        lines.Report(new RunProgress("a", 2, 10));
        lines.Report(new RunProgress("b", 3, 10));
        var written = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => ShardChild.TryParseProgress(l.TrimEnd('\r'), out var p) ? p.Done : -1).ToList();
        CollectionAssert.AreEqual(new long[] { 0, 2, 3 }, written);
    }

    [TestMethod]
    public void ChildStopRequestsComeFromStdinAndItsEnd()
    {
        var asked = new System.Collections.Concurrent.BlockingCollection<PosixSignal>();
        ShardChild.ListenForStops(new StringReader("INT\nsomething else\nTERM\n"), asked.Add);
        var got = Enumerable.Range(0, 3).Select(_ => asked.TryTake(out var s, TimeSpan.FromSeconds(10)) ? s : (PosixSignal)0).ToList();
        CollectionAssert.AreEqual(new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGTERM }, got, "the end of stdin (the parent gone) is SIGTERM");
    }

    [TestMethod]
    public void ChildrenGetTheParentsArgumentsWithoutTheOptionsSetPerChild()
    {
        var eval = new EvalCommand().Build();
        var root = new System.CommandLine.RootCommand();
        root.Subcommands.Add(eval);
        var parsed = root.Parse(["eval", "--task", "xnli", "--device=cuda:all", "--output", "runs/x", "--offline", "--limit", "3", "--templates", "a b"]);
        CollectionAssert.AreEqual(new[] { "eval", "--task", "xnli", "--offline", "--limit", "3", "--templates", "a b" }, MultiDeviceEval.ChildArguments(parsed));
    }

    private sealed class ManualTime : TimeProvider
    {
        public TimeSpan Now { get; set; }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Now.Ticks;
    }
}
