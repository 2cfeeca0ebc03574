using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Tasks;

namespace Eval.Tests.Harness;

/// <summary>
/// What `eval` refuses before it spends model time or touches results: a template that cannot render (found while
/// planning, before the model loads), a second process on the same output folder (an OS lock that dies with its holder),
/// and another model's run in the output folder (unless --force).
/// </summary>
[TestClass]
public sealed class RunFolderTests
{
    private const string BrokenTemplate = "  - name: \"adds a number to text\"\n    answer_choices: \"{{choice1}} ||| {{choice2}}\"\n    jinja: \"{{ premise + 1 }} ||| {{ answer_choices[label] }}\"\n";

    /// <summary>A prompts folder with xcopa_broken: the shipped XCOPA plus a template that parses but cannot render; and its line.</summary>
    private static (string Folder, string File, int Line) BrokenTask()
    {
        var shipped = File.ReadAllText(Path.Combine(SharedFixtures.ProjectRoot, "prompts", "xcopa.yaml")).Replace("task: xcopa", "task: xcopa_broken");
        if (!shipped.EndsWith('\n')) shipped += "\n";
        var folder = SharedFixtures.TempDirectory();
        var file = Path.Combine(folder, "xcopa_broken.yaml");
        File.WriteAllText(file, shipped + BrokenTemplate);
        return (folder, file, shipped.Count(c => c == '\n') + 1);
    }

    [TestMethod]
    public void A_template_that_cannot_render_is_named_with_its_file_and_line_while_planning()
    {
        var (folder, file, line) = BrokenTask();
        var task = TaskRegistry.Load(folder).Get("xcopa_broken");
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), downloader: null);
        var e = Assert.ThrowsException<TaskFileException>(() => TaskPlanner.Plan(task, ["et"], null, null, store));
        StringAssert.StartsWith(e.Message, $"{file}:{line}: template 'adds a number to text' cannot render ");
        StringAssert.Contains(e.Message, Path.Combine("xcopa", "data", "et", "test.et.jsonl") + ":1");
        // The shipped templates of the same task plan.
        Assert.AreEqual(5, TaskPlanner.Plan(task, ["et"], task.Templates.Take(5).Select(t => t.Name).ToList(), null, store).Templates.Count);
    }

    [TestMethod]
    public void Eval_names_the_broken_template_before_it_loads_the_model_and_writes_nothing()
    {
        var (folder, file, line) = BrokenTask();
        // A model whose weights cannot be loaded: the template's error must come first.
        var model = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(SharedFixtures.Model("modernbert-tiny"), "config.json"), Path.Combine(model, "config.json"));
        File.WriteAllText(Path.Combine(model, "model.safetensors"), "not safetensors");
        var output = Path.Combine(SharedFixtures.TempDirectory(), "run");
        var (code, text) = EndToEndTests.RunEvalOf(model, output, "--task", "xcopa_broken", "--languages", "et", "--limit", "4", "--prompts", folder);
        Assert.AreEqual(1, code, text);
        StringAssert.StartsWith(text.Trim(), $"error: {file}:{line}: template 'adds a number to text' cannot render");
        Assert.IsFalse(text.Contains("safetensors"), text);
        Assert.IsFalse(Directory.Exists(output), "nothing is written before the checks pass");
    }

    [TestMethod]
    public void A_second_process_on_the_same_folder_names_the_first_and_a_killed_run_leaves_no_stale_lock()
    {
        var dir = SharedFixtures.TempDirectory();
        string[] args = ["--task", "xcopa", "--languages", "tr", "--limit", "8", "--batch-size", "4"];
        var first = EndToEndTests.StartEval(dir, args);
        using (EndToEndTests.HoldScoreCacheWriteLock(Path.Combine(dir, "scores.sqlite")))
        {
            EndToEndTests.WaitForLine(first, "xcopa tr");   // the first run holds the folder and waits for the cache
            var clock = Stopwatch.StartNew();
            var (code, text) = EndToEndTests.RunEval(dir, args);
            Assert.AreEqual(1, code, text);
            StringAssert.StartsWith(text.Trim(), $"error: {dir} is in use by another run (process {first.Id.ToString(CultureInfo.InvariantCulture)} on {Environment.MachineName}, since ");
            Assert.IsFalse(first.HasExited);
            first.Kill(entireProcessTree: true);   // SIGKILL: no clean-up runs
            first.WaitForExit();
        }
        Assert.IsTrue(File.Exists(Path.Combine(dir, RunFolderLock.LockFileName)));
        var (again, output) = EndToEndTests.RunEval(dir, args);
        Assert.AreEqual(0, again, output);
        Assert.IsFalse(File.Exists(Path.Combine(dir, RunFolderLock.OwnerFileName)), "the owner note goes with the run");
    }

    [TestMethod]
    public void Another_model_is_not_evaluated_into_a_folder_holding_a_run_unless_forced()
    {
        var dir = SharedFixtures.TempDirectory();
        string[] args = ["--task", "xcopa", "--languages", "tr", "--limit", "4", "--batch-size", "4"];
        Assert.AreEqual(0, EndToEndTests.RunEval(dir, args).ExitCode);
        // The same weights with another config.json: another model (another fingerprint).
        var other = SharedFixtures.TempDirectory();
        var fixture = SharedFixtures.Model("modernbert-tiny");
        File.Copy(Path.Combine(fixture, "model.safetensors"), Path.Combine(other, "model.safetensors"));
        var config = File.ReadAllText(Path.Combine(fixture, "config.json"));
        File.WriteAllText(Path.Combine(other, "config.json"), config.Insert(config.IndexOf('{') + 1, "\"note\": \"a copy\", "));
        var resultsBefore = File.ReadAllText(Path.Combine(dir, "results.json"));

        var (code, text) = EndToEndTests.RunEvalOf(other, dir, args);
        Assert.AreEqual(1, code, text);
        StringAssert.StartsWith(text.Trim(), $"error: {dir} holds a run of {fixture} (model fingerprint ");
        StringAssert.Contains(text, "pass --force");
        Assert.AreEqual(resultsBefore, File.ReadAllText(Path.Combine(dir, "results.json")), "the first model's results are untouched");

        // A run that never finished leaves only scores.sqlite: that names the other model too.
        foreach (var f in Directory.GetFiles(dir).Where(f => !Path.GetFileName(f).StartsWith("scores.sqlite", StringComparison.Ordinal))) File.Delete(f);
        (code, text) = EndToEndTests.RunEvalOf(other, dir, args);
        Assert.AreEqual(1, code, text);
        StringAssert.StartsWith(text.Trim(), $"error: {Path.Combine(dir, "scores.sqlite")} holds the scores of another model (model fingerprint ");

        (code, text) = EndToEndTests.RunEvalOf(other, dir, [.. args, "--force"]);
        Assert.AreEqual(0, code, text);
        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run.json")));
        Assert.AreEqual(other, run.RootElement.GetProperty("model").GetProperty("id").GetString());
        // The same model again needs no --force.
        Assert.AreEqual(0, EndToEndTests.RunEvalOf(other, dir, args).ExitCode);
    }
}
