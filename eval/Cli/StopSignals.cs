using System.Runtime.InteropServices;

namespace Eval.Cli;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM (Slurm's time limit, scancel and preemption, `docker stop`, a Kubernetes pod's end — all
/// followed by SIGKILL after a grace period, Slurm's KillWait) while `eval` runs: the run stops after the batch in hand,
/// keeps every stored score and says how to resume; exit code 130 (SIGINT) or 143 (SIGTERM), as shells report them.
/// A batch not done within <see cref="Grace"/> of the signal is dropped (its scores were not stored; the resumed run
/// scores it) and the process exits then, well inside a scheduler's KillWait; a second signal exits at once, and so
/// does a signal before scoring began (while the model is resolved, downloaded or loaded: nothing to keep).
/// </summary>
public sealed class StopSignals : IDisposable
{
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource cancel = new();
    private readonly PosixSignalRegistration interrupt, terminate;
    private readonly Action<string> say;
    private readonly Action<int> exit;
    private readonly Lock gate = new();
    private Timer? deadline;
    private PosixSignal? received;
    private readonly bool parentStopsOnly;
    private bool finishing;

    /// <param name="say">Where the messages go (stderr).</param>
    /// <param name="exit">Ends the process when the grace runs out (Environment.Exit; a test passes its own).</param>
    /// <param name="parentStopsOnly">
    /// A child of a multi-device run: SIGINT and SIGTERM that reach it directly (a terminal's Ctrl-C goes to the whole
    /// process group, Slurm signals every process of a step) are ignored, and only its parent stops it, through
    /// <see cref="Request"/>, once per signal the parent got — so one Ctrl-C is never counted twice.
    /// </param>
    public StopSignals(TimeSpan grace, Action<string> say, Action<int> exit, bool parentStopsOnly = false)
    {
        Grace = grace;
        this.say = say;
        this.exit = exit;
        this.parentStopsOnly = parentStopsOnly;
        interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public TimeSpan Grace { get; }

    /// <summary>Cancelled by the first signal: the run checks it before each batch.</summary>
    public CancellationToken Token => cancel.Token;

    /// <summary>Where the stored scores are, once known: said when the process stops.</summary>
    public string? ScoresPath { get; set; }

    public PosixSignal? Received
    {
        get { lock (gate) return received; }
    }

    /// <summary>130 after SIGINT, 143 after SIGTERM (128 + the signal's number).</summary>
    public static int ExitCodeFor(PosixSignal signal) => signal == PosixSignal.SIGTERM ? 143 : CommandRunner.InterruptedExitCode;

    /// <summary>The line that ends an interrupted run.</summary>
    public static string ResumeLine(PosixSignal signal) =>
        signal == PosixSignal.SIGTERM ? "terminated (SIGTERM) — resume with the same command" : "interrupted — resume with the same command";

    /// <summary>Scoring is over and the result files are being written: a signal now waits for them (a second or so).</summary>
    public void Finishing()
    {
        lock (gate)
        {
            finishing = true;
            deadline?.Dispose();
            deadline = null;
        }
    }

    /// <summary>The exception that carries the stop to CommandRunner: its message and exit code.</summary>
    public StoppedBySignalException Stopped()
    {
        var signal = Received ?? PosixSignal.SIGINT;
        return new StoppedBySignalException(ResumeLine(signal), ExitCodeFor(signal));
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;   // no default handling: this process stops itself
        if (!parentStopsOnly) Request(context.Signal);
    }

    /// <summary>What a signal does: the first stops the run after the batch in hand, a second at once.</summary>
    public void Request(PosixSignal signal)
    {
        string? stopNow = null;
        lock (gate)
        {
            if (received is not null)
            {
                if (finishing) return;
                stopNow = "a second signal: stopping now, without the batch in hand";
            }
            else
            {
                received = signal;
                if (finishing)
                {
                    say($"{Name(signal)}: writing the result files first");
                    return;
                }
                if (ScoresPath is null) stopNow = $"{Name(signal)}: stopping (nothing was being scored yet)";
            }
            if (stopNow is null)
            {
                say($"{Name(signal)}: interrupting after the current batch… (it is dropped if not done within {Grace.TotalSeconds:0} s)");
                deadline = new Timer(_ => Expire(), null, Grace, Timeout.InfiniteTimeSpan);
            }
        }
        if (stopNow is not null) StopNow(stopNow);
        else cancel.Cancel();
    }

    private void Expire()
    {
        lock (gate)
        {
            if (finishing || received is null) return;
        }
        StopNow($"the batch in hand was not done within {Grace.TotalSeconds:0} s: dropped (the resumed run scores it)");
    }

    private void StopNow(string why)
    {
        var signal = Received ?? PosixSignal.SIGINT;
        say(why);
        if (ScoresPath is { } path) say($"the scores stored so far are kept in {path}");
        say(ResumeLine(signal));
        exit(ExitCodeFor(signal));
    }

    private static string Name(PosixSignal signal) => signal == PosixSignal.SIGTERM ? "SIGTERM" : "Ctrl-C";

    public void Dispose()
    {
        interrupt.Dispose();
        terminate.Dispose();
        lock (gate)
        {
            deadline?.Dispose();
            deadline = null;
        }
        cancel.Dispose();
    }
}

/// <summary>A run stopped by a signal: CommandRunner prints the message and exits with the code (130, 143).</summary>
public sealed class StoppedBySignalException(string message, int exitCode) : OperationCanceledException(message)
{
    public int ExitCode { get; } = exitCode;
}
