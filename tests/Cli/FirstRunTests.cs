namespace Eval.Tests.Cli;

/// <summary>
/// The first commands a new user types: `eval --task xnli` with no --model, `tasks` and `demo` from a copied build in
/// an unrelated folder (the task YAML ships with the program; a prompts/ above the working folder is ignored).
/// </summary>
[TestClass]
public sealed class FirstRunTests
{
    private const string DefaultModelCacheFolder = "models--answerdotai--ModernBERT-Large-Instruct";

    [TestMethod]
    public void Eval_without_a_model_offline_names_the_hub_cache_and_the_alternatives_in_one_line()
    {
        var hubCache = SharedFixtures.TempDirectory();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["eval", "--task", "xnli"],
            new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = hubCache }, SharedFixtures.TempDirectory()),
            TimeSpan.FromSeconds(60));
        Assert.AreEqual(1, code, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(1, lines.Length, output);
        StringAssert.StartsWith(lines[0], "error: answerdotai/ModernBERT-Large-Instruct@main");
        StringAssert.Contains(lines[0], Path.Combine(hubCache, DefaultModelCacheFolder));
        StringAssert.Contains(lines[0], "--model DIR");
        StringAssert.Contains(lines[0], "demo");
    }

    [TestMethod]
    public void Eval_without_a_model_and_an_unreachable_hub_says_so_in_one_line()
    {
        var hubCache = SharedFixtures.TempDirectory();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["eval", "--task", "xnli"],
            new Dictionary<string, string> { ["HF_ENDPOINT"] = "http://127.0.0.1:9", ["HF_HUB_CACHE"] = hubCache }, SharedFixtures.TempDirectory()),
            TimeSpan.FromSeconds(60));
        Assert.AreEqual(1, code, output);
        StringAssert.StartsWith(output, "error: answerdotai/ModernBERT-Large-Instruct@main");
        StringAssert.Contains(output, "http://127.0.0.1:9 cannot be reached");
        StringAssert.Contains(output, "--model DIR");
        Assert.IsFalse(output.Contains("   at "), "no stack trace: " + output);
    }

    [TestMethod]
    public void A_copied_build_lists_its_shipped_tasks_and_runs_the_demo_from_any_folder()
    {
        var program = CopyOfTheBuild();
        // A decoy: a prompts/ folder with broken YAML above the working folder must not be read.
        var outside = SharedFixtures.TempDirectory();
        Directory.CreateDirectory(Path.Combine(outside, "prompts"));
        File.WriteAllText(Path.Combine(outside, "prompts", "broken.yaml"), "task: [unterminated\n");
        var working = Directory.CreateDirectory(Path.Combine(outside, "somewhere", "else")).FullName;

        var (code, output) = Run(program, working, [], "tasks");
        Assert.AreEqual(0, code, output);
        foreach (var task in new[] { "xnli", "xcopa", "xwinograd", "mmlu" })
            StringAssert.Contains(output, task);
        Assert.IsFalse(output.Contains("broken"), output);

        (code, output) = Run(program, working, [], "demo", "--output", "demo-out");
        Assert.AreEqual(0, code, output);
        Assert.IsTrue(File.Exists(Path.Combine(working, "demo-out", "report", "report.html")), output);
        Assert.IsTrue(File.Exists(Path.Combine(working, "demo-out", "run", "results.json")), output);
    }

    [TestMethod]
    public void Prompts_folders_add_tasks_and_override_shipped_ones_by_name()
    {
        var program = CopyOfTheBuild();
        var shipped = File.ReadAllText(Path.Combine(SharedFixtures.ProjectRoot, "prompts", "xnli.yaml"));
        var overrides = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(overrides, "xnli.yaml"),
            System.Text.RegularExpressions.Regex.Replace(shipped, "(?m)^description: .*$", "description: \"overridden by --prompts\""));
        var extra = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(extra, "xnli-copy.yaml"), shipped.Replace("task: xnli", "task: xnli_copy"));

        var (code, output) = Run(program, SharedFixtures.TempDirectory(), new() { ["EVAL_PROMPTS"] = extra }, "tasks", "--prompts", overrides);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "overridden by --prompts");
        StringAssert.Contains(output, "xnli_copy");
        StringAssert.Contains(output, "xcopa", "the shipped tasks not overridden stay");
    }

    /// <summary>`eval` with a model folder that does not exist: an option error must come before the model's.</summary>
    private static (int ExitCode, string Output) EvalWithMissingModel(params string[] options) => ProgramProcess.Wait(ProgramProcess.Start(
        ["eval", "--model", "/nonexistent/model", .. options], new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1" }, SharedFixtures.TempDirectory()),
        TimeSpan.FromSeconds(60));

    [TestMethod]
    public void Unknown_languages_and_templates_fail_by_name_before_the_model_is_resolved()
    {
        var (code, output) = EvalWithMissingModel("--task", "xnli", "--languages", "en,xx");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "--languages: unknown xx (");
        StringAssert.Contains(output, "valid: ar, bg, de, el, en,");
        Assert.IsFalse(output.Contains("/nonexistent/model"), output);

        (code, output) = EvalWithMissingModel("--task", "xnli", "--templates", "nope", "--templates", "GPT-3 style");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "--templates: unknown \"nope\"");
        StringAssert.Contains(output, "\"GPT-3 style\"");
        Assert.IsFalse(output.Contains("/nonexistent/model"), output);
    }

    [TestMethod]
    public void A_language_of_any_selected_task_is_valid()
    {
        // sw is XNLI's and XCOPA's, et only XCOPA's: valid, so the run goes on to the model (and fails there).
        var (code, output) = EvalWithMissingModel("--task", "xcopa,xnli", "--languages", "sw,et");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "/nonexistent/model");
        Assert.IsFalse(output.Contains("--languages"), output);
    }

    [TestMethod]
    public void Scoring_and_max_length_are_checked_before_the_model_is_resolved()
    {
        var (code, output) = EvalWithMissingModel("--task", "xnli", "--scoring", "bogus");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "unknown scoring mode 'bogus'");
        (code, output) = EvalWithMissingModel("--task", "xnli", "--max-length", "1");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "--max-length must be at least 2, got 1");
    }

    private static (int, string) Run(string program, string working, Dictionary<string, string> environment, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = working,
        };
        info.ArgumentList.Add(Path.Combine(program, "mlm-eval.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("EVAL_PROMPTS");
        foreach (var (name, value) in environment) info.Environment[name] = value;
        return ProgramProcess.Wait(System.Diagnostics.Process.Start(info)!, TimeSpan.FromSeconds(120));
    }

    /// <summary>The program's build output (everything beside mlm-eval.dll, prompts/ included) copied to a fresh folder.</summary>
    private static string CopyOfTheBuild()
    {
        var build = Path.GetDirectoryName(ProgramProcess.Dll)!;
        var copy = Path.Combine(SharedFixtures.TempDirectory(), "mlm-eval");
        foreach (var file in Directory.EnumerateFiles(build, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(build, file);
            if (relative.StartsWith("runtimes", StringComparison.Ordinal) && !relative.Contains("linux-x64")) continue;
            var target = Path.Combine(copy, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return copy;
    }
}
