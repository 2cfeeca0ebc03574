using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Eval.Harness.Tasks;

namespace Eval.Cli;

/// <summary>Where the program finds its task YAML, names runs, and reads the code version.</summary>
public static partial class ProjectPaths
{
    /// <summary>The task YAML shipped beside the program (copied there by the build and by publish).</summary>
    public static string ShippedPromptsFolder() => Path.Combine(AppContext.BaseDirectory, "prompts");

    /// <summary>The --prompts option of the commands that read tasks.</summary>
    public static Option<string?> PromptsOption() => new("--prompts")
    {
        Description = "folder of task YAML files that add to or override the tasks shipped with the program (also EVAL_PROMPTS)",
    };

    /// <summary>
    /// The program's own task YAML, then EVAL_PROMPTS, then --prompts: a task defined again in a later folder
    /// replaces the earlier one. Nothing is picked up from the working folder unless named.
    /// </summary>
    public static TaskRegistry LoadTasks(string? promptsOption)
    {
        var shipped = ShippedPromptsFolder();
        if (!Directory.Exists(shipped))
            throw new DirectoryNotFoundException($"the task YAML shipped with the program is missing ({shipped}); reinstall it or pass --prompts DIR");
        var folders = new List<string> { shipped };
        if (Environment.GetEnvironmentVariable("EVAL_PROMPTS") is { Length: > 0 } fromEnvironment) folders.Add(fromEnvironment);
        if (promptsOption is { Length: > 0 }) folders.Add(promptsOption);
        return TaskRegistry.Load(folders);
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
