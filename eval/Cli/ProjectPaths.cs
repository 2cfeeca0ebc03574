using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Eval.Cli;

/// <summary>Where the program finds its prompts folder, names runs, and reads the code version.</summary>
public static partial class ProjectPaths
{
    /// <summary>EVAL_PROMPTS, else the first prompts/ holding task YAML above the working folder or the program.</summary>
    public static string PromptsFolder()
    {
        if (Environment.GetEnvironmentVariable("EVAL_PROMPTS") is { Length: > 0 } fromEnv) return fromEnv;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "prompts");
                if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, "*.yaml").Any()) return candidate;
            }
        throw new DirectoryNotFoundException("no prompts/ folder with task YAML found above the working folder; pass --prompts DIR");
    }

    [GeneratedRegex("[^A-Za-z0-9._-]+")]
    private static partial Regex Unsafe();

    public static string RunName(string model, IEnumerable<string> tasks)
    {
        return Unsafe().Replace($"{Eval.Harness.Data.HubModelStore.ShortName(model)}-{string.Join("+", tasks)}", "_");
    }

    public static string? GitCommit()
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse HEAD")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                WorkingDirectory = AppContext.BaseDirectory,
            });
            if (git is null) return null;
            var head = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 && head.Length == 40 ? head : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
