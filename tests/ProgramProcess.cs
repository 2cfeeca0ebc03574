using System.Diagnostics;

namespace Eval.Tests;

/// <summary>Runs the built mlm-eval program in a child process, as users do.</summary>
public static class ProgramProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "mlm-eval.dll");

    /// <summary>
    /// Starts `dotnet mlm-eval.dll args…` with its output captured; GITHUB_STEP_SUMMARY is cleared so tests never write a
    /// job summary. <paramref name="interruptible"/>: SIGINT and SIGTERM set back to their defaults first
    /// (`env --default-signal=INT,TERM`). A shell without job control starts background commands with SIGINT ignored,
    /// children inherit that, and .NET then leaves Ctrl-C alone, as a background job should; a test that sends a signal
    /// must not depend on how CI was started.
    /// </summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null,
        bool interruptible = false)
    {
        var info = new ProcessStartInfo(interruptible ? "env" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        if (interruptible)
        {
            info.ArgumentList.Add("--default-signal=INT,TERM");
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GITHUB_STEP_SUMMARY"] = "";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return Process.Start(info)!;
    }

    /// <summary>Waits for the process (without a limit when none is given) and returns its exit code and stdout + stderr.</summary>
    public static (int ExitCode, string Output) Wait(Process p, TimeSpan? limit = null)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (limit is { } l)
        {
            if (!p.WaitForExit(l))
            {
                p.Kill(true);
                Assert.Fail($"mlm-eval did not finish in {l.TotalSeconds:0} s");
            }
        }
        else p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    public static (int ExitCode, string Output) Run(string workingDirectory, params string[] args) =>
        Wait(Start(args, workingDirectory: workingDirectory), TimeSpan.FromSeconds(120));
}
