using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Eval.Harness.Runs;
using Eval.Harness.Tasks;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>What a multi-device `eval` needs from its command line, the device list aside.</summary>
/// <param name="Output">The run folder: the merged run goes there, shard K of N into Output/shards/K-of-N (its log beside it).</param>
/// <param name="ChildArguments">The eval arguments every child gets (without --device, --output, --shard).</param>
/// <param name="CommandLine">This process's command line, recorded in the merged run.json.</param>
public sealed record MultiDeviceRequest(DeviceList Devices, string Output, bool Force, Func<string, TaskDefinition> TaskNamed,
    IReadOnlyList<string> ChildArguments, IReadOnlyList<string> CommandLine)
{
    /// <summary>The model's fingerprint as the parent computed it: an output folder holding another model's run is refused before any child starts.</summary>
    public string? Fingerprint { get; init; }
}

/// <summary>
/// `eval --device cuda:all` (or cuda:0,1,3; ilgpu-cpu:0,1 without a GPU): one `eval --shard K/N --device D` child
/// process per device, each seeing only its device (CUDA_VISIBLE_DEVICES), one combined progress line, then the
/// shards merged by `merge`'s code into the run folder — the very files one process writes. A child that fails is
/// named with its exit code, its last error line and its log, and the other shards are kept: the same command again
/// skips the shards that finished (their run.json records this very child command) and resumes the rest from their
/// score caches. Ctrl-C and SIGTERM are passed on once to every child, which stops after its batch in hand as a
/// single eval does (a second signal: at once); the exit code is 130 or 143.
/// </summary>
public static class MultiDeviceEval
{
    /// <summary>The options the parent sets per child, and so drops from the arguments it passes on.</summary>
    private static readonly HashSet<string> PerChildOptions = ["--device", "--output", "--shard", "--shard-count"];

    /// <summary>How long after its stop request a child may take before it is killed: its own grace plus time to write its files.</summary>
    private static readonly TimeSpan StopLimit = StopSignals.DefaultGrace + TimeSpan.FromSeconds(25);

    /// <summary>The eval arguments as parsed (response files expanded), without the options set per child.</summary>
    public static List<string> ChildArguments(ParseResult result)
    {
        var tokens = result.Tokens;
        var kept = new List<string>();
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Type == TokenType.Option && PerChildOptions.Contains(tokens[i].Value))
            {
                if (i + 1 < tokens.Count && tokens[i + 1].Type == TokenType.Argument) i++;
                continue;
            }
            kept.Add(tokens[i].Value);
        }
        if (kept.Count == 0 || kept[0] != "eval") kept.Insert(0, "eval");
        return kept;
    }

    /// <summary>How to start this program again: `dotnet mlm-eval.dll` (as `dotnet run` and `dotnet exec` start it), or the app host or published app itself.</summary>
    public static (string FileName, IReadOnlyList<string> Prefix) ThisProgram()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("--device with a device list: the path of this program is unknown, so its children cannot be started");
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? (process, [Environment.GetCommandLineArgs()[0]]) : (process, []);
    }

    public static void Run(MultiDeviceRequest request, IReadOnlyList<ChildDevice> devices)
    {
        var clock = Stopwatch.StartNew();
        int count = devices.Count;
        var shardsRoot = Path.Combine(request.Output, "shards");
        using var folderLock = RunFolderLock.Acquire(request.Output);
        if (request.Fingerprint is { } model) RefuseAnotherModelsRun(request, model, shardsRoot);
        Directory.CreateDirectory(shardsRoot);
        var program = ThisProgram();
        var children = devices.Select((d, k) => new ShardProcess(k, count, d, shardsRoot, request.ChildArguments)).ToList();
        foreach (var c in children.Where(c => c.FinishedEarlier()))
            Log($"shard {c.Shard} ({c.Device.Label}) finished earlier with this command: kept ({c.Folder})");

        using var stop = new ParentStop(children);
        foreach (var c in children.Where(c => c.State == ShardState.Waiting))
        {
            if (stop.Received is not null) break;
            c.Start(program);
            Log($"shard {c.Shard} on {c.Device.Label} (CUDA_VISIBLE_DEVICES={c.Device.VisibleDevices}): pid {c.ProcessId}, log {c.LogPath}");
        }
        ProgressDisplay.Run(progress =>
        {
            var stopAsked = (DateTime?)null;
            while (children.Any(c => c.State == ShardState.Running))
            {
                foreach (var c in children) c.CollectIfExited();
                progress.Report(Combined(children, request.Devices));
                if (stop.Received is not null && (stopAsked ??= DateTime.UtcNow) + StopLimit < DateTime.UtcNow)
                    foreach (var c in children.Where(c => c.State == ShardState.Running))
                    {
                        Console.Error.WriteLine($"shard {c.Shard} did not stop within {StopLimit.TotalSeconds:0} s: killed (its stored scores are kept)");
                        c.Kill();
                    }
                Thread.Sleep(100);
            }
            progress.Report(Combined(children, request.Devices));
            return true;
        });

        if (stop.Received is { } signal)
        {
            Console.Error.WriteLine($"the scores stored so far are kept in {Path.Combine(shardsRoot, "*", "scores.sqlite")}");
            throw new StoppedBySignalException(StopSignals.ResumeLine(signal), StopSignals.ExitCodeFor(signal));
        }
        var failed = children.Where(c => c.State == ShardState.Failed).ToList();
        if (failed.Count > 0)
        {
            int kept = count - failed.Count;
            if (kept == 0 && failed.Select(c => c.Cause()).Distinct().Count() == 1)
                throw new InvalidOperationException($"every shard failed ({failed[0].Cause()}); their logs: {Path.Combine(shardsRoot, "*.log")}");
            throw new InvalidOperationException(string.Join("; ", failed.Select(c => c.Failure())) + (kept == 0 ? "" :
                $". {kept} of {count} shard(s) finished and are kept in {shardsRoot}: the same command again runs only the failed one(s)"));
        }

        var folders = children.Select(c => c.Folder).ToList();
        // What the children ran is what is merged: checked again when the fingerprint they recorded is not the one checked.
        var recorded = RunManifest.Read(Path.Combine(folders[0], "run.json")).Model.Fingerprint ?? "";
        if (recorded != request.Fingerprint) RefuseAnotherModelsRun(request, recorded, shardsRoot);
        var finished = RunMerger.Merge(folders, request.Output, request.TaskNamed, request.CommandLine);
        ProgressDisplay.PrintSummary(finished.Summary);
        long examples = 0, scored = 0, fromCache = 0;
        foreach (var c in children)
        {
            var timings = RunManifest.Read(Path.Combine(c.Folder, "run.json")).Timings!;
            examples += timings.Examples;
            scored += c.Kept ? 0 : timings.Scored;
            fromCache += c.Kept ? timings.Examples : timings.FromCache;
        }
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{examples} examples ({scored} scored, {fromCache} from the cache) on {count} device(s) ({request.Devices}) in {clock.Elapsed.TotalSeconds:0.0} s → {request.Output}")));
        foreach (var f in finished.Files) Console.WriteLine($"  {f}");
    }

    /// <summary>Refuses (unless --force) an output folder holding a run, or the scores of an unfinished run, of another model.</summary>
    private static void RefuseAnotherModelsRun(MultiDeviceRequest request, string fingerprint, string shardsRoot)
    {
        if (RunFolderModel.Other(request.Output, fingerprint, Path.Combine(request.Output, "scores.sqlite")) is not { } other) return;
        if (!request.Force)
            throw new InvalidOperationException($"{other}: choose another --output, or pass --force to replace its results with this model's" +
                                                (Directory.Exists(shardsRoot) ? $" (the shards in {shardsRoot} are kept)" : ""));
        Log($"--force: {other}; its results are replaced");
    }

    /// <summary>One line for all children: done/total/scored summed over the shards, the description their states.</summary>
    private static RunProgress Combined(IReadOnlyList<ShardProcess> children, DeviceList devices)
    {
        long done = 0, total = 0, scored = 0;
        foreach (var c in children)
        {
            var (d, t, s) = c.Contribution();
            done += d;
            total += t;
            scored += s;
        }
        var states = children.GroupBy(c => c.Phase()).OrderBy(g => Array.IndexOf(ShardProcess.Phases, g.Key)).Select(g => $"{g.Count()} {g.Key}");
        return new RunProgress($"{children.Count} shards on {devices}: {string.Join(", ", states)}", done, total) { Scored = scored };
    }

    private static void Log(string message) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    /// <summary>SIGINT and SIGTERM in the parent: each is passed on once to every running child (through its stdin).</summary>
    private sealed class ParentStop : IDisposable
    {
        private readonly IReadOnlyList<ShardProcess> children;
        private readonly PosixSignalRegistration interrupt, terminate;
        private readonly Lock gate = new();
        private PosixSignal? received;
        private int signals;

        public ParentStop(IReadOnlyList<ShardProcess> children)
        {
            this.children = children;
            interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        }

        public PosixSignal? Received
        {
            get { lock (gate) return received; }
        }

        private void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            lock (gate)
            {
                received ??= context.Signal;
                signals++;
            }
            var name = context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "Ctrl-C";
            Console.Error.WriteLine(signals == 1
                ? $"{name}: every shard stops after its current batch and keeps its scores…"
                : $"{name} again: every shard stops now, without its batch in hand");
            foreach (var c in children) c.RequestStop(context.Signal);
        }

        public void Dispose()
        {
            interrupt.Dispose();
            terminate.Dispose();
        }
    }
}
