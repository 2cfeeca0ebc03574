using System.Diagnostics;

namespace Eval.Tests;

/// <summary>Runs the built mlm-eval program in a child process, as users do.</summary>
public static class ProgramProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "mlm-eval.dll");

    public static (int ExitCode, string Output) Run(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GITHUB_STEP_SUMMARY"] = "";
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            Assert.Fail($"mlm-eval {string.Join(' ', args)} did not finish in 120 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
