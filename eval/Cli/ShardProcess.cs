using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Eval.Harness.Runs;

namespace Eval.Cli;

public enum ShardState { Waiting, Running, Finished, Failed }

/// <summary>
/// One child of a multi-device `eval` (<see cref="MultiDeviceEval"/>): `eval --shard K/N --device D --output
/// ROOT/K-of-N` with CUDA_VISIBLE_DEVICES set, its output kept in ROOT/K-of-N.log, its progress read from its stdout.
/// </summary>
public sealed class ShardProcess
{
    private readonly Lock gate = new();
    private Process? process;
    private StreamWriter? log;
    private RunProgress? progress;
    private string? lastError;
    private bool stopRequested;
    private long keptUnits;

    public ShardProcess(int index, int count, ChildDevice device, string root, IReadOnlyList<string> evalArguments)
    {
        Shard = new ShardSpec(index, count);
        Device = device;
        Folder = Path.Combine(root, $"{index}-of-{count}");
        LogPath = Folder + ".log";
        Arguments = [.. evalArguments, "--device", device.Device, "--shard", Shard.ToString(), "--output", Folder];
    }

    public ShardSpec Shard { get; }
    public ChildDevice Device { get; }
    public string Folder { get; }
    public string LogPath { get; }

    /// <summary>The child's arguments after the program: what its run.json records as its command line.</summary>
    public IReadOnlyList<string> Arguments { get; }

    public ShardState State { get; private set; } = ShardState.Waiting;

    /// <summary>Finished by an earlier run of this command (not started this time).</summary>
    public bool Kept { get; private set; }

    public int? ProcessId => process?.Id;

    public int? ExitCode { get; private set; }

    /// <summary>
    /// Whether the shard's folder holds a finished run of this very child command (its run.json's command line), so it
    /// need not run again; `merge` still checks that the shards are of one plan.
    /// </summary>
    public bool FinishedEarlier()
    {
        var runJson = Path.Combine(Folder, "run.json");
        if (!File.Exists(runJson) || !File.Exists(Path.Combine(Folder, "scores.sqlite"))) return false;
        RunManifest run;
        try
        {
            run = RunManifest.Read(runJson);
        }
        catch (FormatException)
        {
            return false;
        }
        if (run.Shard is null || run.Options.CommandLine is not { Count: > 0 } recorded || !recorded.Skip(1).SequenceEqual(Arguments)) return false;
        State = ShardState.Finished;
        Kept = true;
        keptUnits = run.Shard.Units;
        return true;
    }

    public void Start((string FileName, IReadOnlyList<string> Prefix) program)
    {
        var info = new ProcessStartInfo(program.FileName)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in program.Prefix.Concat(Arguments)) info.ArgumentList.Add(a);
        info.Environment["CUDA_VISIBLE_DEVICES"] = Device.VisibleDevices;
        info.Environment[ShardChild.Variable] = "1";
        log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:O} CUDA_VISIBLE_DEVICES={Device.VisibleDevices} {string.Join(' ', info.ArgumentList.Prepend(info.FileName).Select(Quoted))}");
        var started = new Process { StartInfo = info };
        started.OutputDataReceived += (_, e) => OnOutput(e.Data, error: false);
        started.ErrorDataReceived += (_, e) => OnOutput(e.Data, error: true);
        try
        {
            started.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"shard {Shard}: {info.FileName} could not be started ({e.Message})", e);
        }
        started.BeginOutputReadLine();
        started.BeginErrorReadLine();
        process = started;
        State = ShardState.Running;
    }

    private void OnOutput(string? line, bool error)
    {
        if (line is null) return;
        if (!error && ShardChild.TryParseProgress(line, out var p))
        {
            lock (gate) progress = p;
            return;
        }
        lock (gate)
        {
            log?.WriteLine(line);
            // What CommandRunner writes for a failure, or the first line of a crash.
            if (error && (line.StartsWith("error:", StringComparison.Ordinal) || line.StartsWith("Unhandled exception", StringComparison.Ordinal)))
                lastError = line.Trim();
        }
        if (error && !TerminalOutput.IsInteractive) Console.Error.WriteLine($"shard {Shard}: {line}");
    }

    /// <summary>Once the child has exited: its output drained, its exit code and state taken.</summary>
    public void CollectIfExited()
    {
        if (State != ShardState.Running || process is not { HasExited: true } p) return;
        p.WaitForExit();   // the redirected output read to its end
        ExitCode = p.ExitCode;
        lock (gate)
        {
            log?.WriteLine($"# exit code {p.ExitCode}");
            log?.Dispose();
            log = null;
        }
        State = p.ExitCode == 0 ? ShardState.Finished : ShardState.Failed;
        p.Dispose();
    }

    /// <summary>Passes a signal the parent got on to the child (a line on its stdin), once per signal.</summary>
    public void RequestStop(PosixSignal signal)
    {
        lock (gate)
        {
            stopRequested = true;
            if (State != ShardState.Running || process is null) return;
            try
            {
                process.StandardInput.WriteLine(signal == PosixSignal.SIGTERM ? "TERM" : "INT");
                process.StandardInput.Flush();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // it has just exited
            }
        }
    }

    public void Kill()
    {
        try
        {
            process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // it has just exited
        }
    }

    /// <summary>Done, total and scored units for the combined progress line (a shard still planning counts nothing yet).</summary>
    public (long Done, long Total, long Scored) Contribution()
    {
        RunProgress? p;
        lock (gate) p = progress;
        if (Kept) return (keptUnits, keptUnits, 0);
        // EvaluationRunner's first phase ("sharding: …") counts the whole plan's units to find the shard's part.
        if (p is null || p.Description.StartsWith("sharding:", StringComparison.Ordinal)) return (0, 0, 0);
        return State == ShardState.Finished ? (p.Total, p.Total, p.Scored) : (p.Done, p.Total, p.Scored);
    }

    /// <summary>The phases, in the order the combined line lists them.</summary>
    public static readonly string[] Phases = ["kept", "done", "running", "planning", "starting", "waiting", "stopped", "failed"];

    /// <summary>The shard's phase in the combined line (one of <see cref="Phases"/>).</summary>
    public string Phase()
    {
        RunProgress? p;
        lock (gate) p = progress;
        return State switch
        {
            ShardState.Finished => Kept ? "kept" : "done",
            ShardState.Failed => stopRequested ? "stopped" : "failed",
            ShardState.Waiting => "waiting",
            _ => p is null ? "starting" : p.Description.StartsWith("sharding:", StringComparison.Ordinal) ? "planning" : "running",
        };
    }

    /// <summary>"shard 1/2 (cuda:1, CUDA_VISIBLE_DEVICES=1) failed (exit code 137, killed by signal 9): …; its log: …".</summary>
    public string Failure() => $"shard {Shard} ({Device.Label}, CUDA_VISIBLE_DEVICES={Device.VisibleDevices}) failed ({Cause()}); its log: {LogPath}";

    /// <summary>"exit code 1): the child's error line" — the exit code, and its last error line (the one CommandRunner wrote) when it wrote one.</summary>
    public string Cause()
    {
        var code = ExitCode ?? -1;
        var how = code is > 128 and < 160 ? string.Create(CultureInfo.InvariantCulture, $"exit code {code}, killed by signal {code - 128}") : $"exit code {code}";
        string? error;
        lock (gate) error = lastError;
        if (error is null) return how;
        return $"{how}: {(error.StartsWith("error: ", StringComparison.Ordinal) ? error["error: ".Length..] : error)}";
    }

    private static string Quoted(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:,=@+".Contains(c)) ? argument : $"'{argument.Replace("'", "'\\''")}'";
}
