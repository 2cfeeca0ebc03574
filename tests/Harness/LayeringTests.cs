using System.Text.RegularExpressions;

namespace Eval.Tests.Harness;

/// <summary>Dependencies inside the harness go one way: tasks use the data layer (readers, sources, the store), never the reverse.</summary>
[TestClass]
public sealed class LayeringTests
{
    [TestMethod]
    public void TheDataLayerUsesNothingOfTheTasks()
    {
        var taskTypes = typeof(Eval.Harness.Tasks.TaskRegistry).Assembly.GetTypes()
            .Where(t => t.Namespace == "Eval.Harness.Tasks" && t.IsPublic).Select(t => t.Name).ToList();
        Assert.IsTrue(taskTypes.Contains("TaskDefinition") && taskTypes.Contains("TaskRegistry"), string.Join(", ", taskTypes));
        var uses = new Regex(@"\bEval\.Harness\.Tasks\b|\b(" + string.Join("|", taskTypes.Select(Regex.Escape)) + @")\b");
        var files = Directory.GetFiles(Path.Combine(SharedFixtures.ProjectRoot, "eval", "Harness", "Data"), "*.cs");
        Assert.IsTrue(files.Length >= 4);
        foreach (var file in files)
            foreach (var (line, number) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
                Assert.IsFalse(uses.IsMatch(line), $"{file}:{number} uses the tasks layer: {line.Trim()}");
    }
}
