using Eval.Harness.Tasks;

namespace Eval.Tests.Harness;

/// <summary>
/// One bad task file under --prompts does not block the others: its task gives its error (file and line), the rest
/// — the shipped tasks included — stay usable, and `tasks` lists it as broken.
/// </summary>
[TestClass]
public sealed class TaskRegistryTests
{
    private static string Shipped => Path.Combine(SharedFixtures.ProjectRoot, "prompts");

    private static string Folder(params (string Name, string Text)[] files)
    {
        var dir = SharedFixtures.TempDirectory();
        foreach (var (name, text) in files) File.WriteAllText(Path.Combine(dir, name), text);
        return dir;
    }

    private static string ShippedText(string task) => File.ReadAllText(Path.Combine(Shipped, task + ".yaml"));

    [TestMethod]
    public void The_shipped_task_files_all_load()
    {
        var registry = TaskRegistry.Load(Shipped);
        Assert.AreEqual(0, registry.Broken.Count, string.Join("\n", registry.Broken.Select(b => b.Message)));
        CollectionAssert.IsSubsetOf(new[] { "mmlu", "xcopa", "xnli", "xwinograd" }, registry.Tasks.Select(t => t.Name).ToList());
    }

    [TestMethod]
    public void A_broken_file_is_listed_and_named_and_the_other_tasks_stay_usable()
    {
        var extra = Folder(("mine.yaml", "task: mine\ndescription: [unterminated\n"),
            ("xcopa_copy.yaml", ShippedText("xcopa").Replace("task: xcopa", "task: xcopa_copy")));
        var registry = TaskRegistry.Load([Shipped, extra]);

        var broken = registry.Broken.Single();
        Assert.AreEqual(Path.Combine(extra, "mine.yaml"), broken.FilePath);
        Assert.AreEqual("mine", broken.TaskName);
        StringAssert.StartsWith(broken.Message, $"{Path.Combine(extra, "mine.yaml")}:{broken.Line}: invalid YAML");
        Assert.AreEqual("xcopa_copy", registry.Get("xcopa_copy").Name);
        foreach (var shipped in new[] { "xnli", "xcopa", "xwinograd", "mmlu" }) Assert.AreEqual(shipped, registry.Get(shipped).Name);

        var e = Assert.ThrowsException<TaskFileException>(() => registry.Get("mine"));
        Assert.AreEqual(broken.Message, e.Message);
        var unknown = Assert.ThrowsException<ArgumentException>(() => registry.Get("nosuch"));
        StringAssert.Contains(unknown.Message, $"unreadable task files: {broken.FilePath}");
    }

    [TestMethod]
    public void A_broken_override_hides_the_shipped_task_instead_of_running_it_and_a_later_good_file_repairs_it()
    {
        var broken = Folder(("xnli.yaml", ShippedText("xnli").Replace("default_split: validation", "default_split: nosuch")));
        var registry = TaskRegistry.Load([Shipped, broken]);
        var e = Assert.ThrowsException<TaskFileException>(() => registry.Get("xnli"));
        StringAssert.StartsWith(e.Message, Path.Combine(broken, "xnli.yaml") + ":");
        StringAssert.Contains(e.Message, "default_split 'nosuch'");
        Assert.IsFalse(registry.Tasks.Any(t => t.Name == "xnli"));
        Assert.AreEqual("xcopa", registry.Get("xcopa").Name);

        var repaired = Folder(("xnli.yaml", ShippedText("xnli").Replace("description: \"", "description: \"repaired ")));
        var again = TaskRegistry.Load([Shipped, broken, repaired]);
        StringAssert.StartsWith(again.Get("xnli").Description, "repaired");
        Assert.AreEqual(1, again.Broken.Count, "the broken file is still listed");
    }

    [TestMethod]
    public void A_task_defined_twice_in_one_folder_marks_the_second_file()
    {
        var text = ShippedText("xcopa").Replace("task: xcopa", "task: twice");
        var dir = Folder(("a.yaml", text), ("b.yaml", text));
        var registry = TaskRegistry.Load(dir);
        Assert.AreEqual(Path.Combine(dir, "a.yaml"), registry.Get("twice").FilePath);
        StringAssert.Contains(registry.Broken.Single().Message, $"{Path.Combine(dir, "b.yaml")}:1: task 'twice' is already defined in {Path.Combine(dir, "a.yaml")}");
    }

    [TestMethod]
    public void The_tasks_command_lists_a_broken_file_and_eval_names_it()
    {
        var extra = Folder(("mine.yaml", "task: mine\n  bad indentation: [\n"));
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["tasks", "--prompts", extra]), TimeSpan.FromSeconds(60));
        Assert.AreEqual(0, code, output);
        foreach (var task in new[] { "xnli", "xcopa", "xwinograd", "mmlu" }) StringAssert.Contains(output, task);
        StringAssert.Contains(output, "broken task files (1;");
        StringAssert.Contains(output, $"mine: {Path.Combine(extra, "mine.yaml")}:");

        (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["eval", "--task", "mine", "--prompts", extra, "--model", "/nonexistent/model"]),
            TimeSpan.FromSeconds(60));
        Assert.AreEqual(1, code, output);
        StringAssert.StartsWith(output, $"error: {Path.Combine(extra, "mine.yaml")}:");
        // A shipped task runs on past the task files (and stops at the missing model).
        (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["eval", "--task", "xcopa", "--prompts", extra, "--model", "/nonexistent/model"]),
            TimeSpan.FromSeconds(60));
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "/nonexistent/model");
    }
}
