using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Tests.Harness;

[TestClass]
public sealed class TemplateTests
{
    private static string Render(string source, long b = 3, object? item = null) =>
        JinjaTemplate.Parse("t", source).Render(new Dictionary<string, object?>
        {
            ["a"] = "x", ["b"] = b, ["items"] = item is null ? new List<object?> { "p", "q", "r" } : new List<object?> { item },
        });

    [TestMethod]
    [DataRow("{{ a }}-{{ b }}", "x-3")]
    [DataRow("{% if b > 2 %}big{% elif b > 1 %}mid{% else %}small{% endif %}", "big")]
    [DataRow("{{ a ~ b }}|{{ b + 1 }}|{{ b / 2 }}|{{ b // 2 }}|{{ b % 2 }}|{{ -b }}", "x3|4|1.5|1|1|-3")]
    [DataRow("{{ items[0] }}{{ items[-1] }}{{ items[1:] | join(',') }}{{ 'abc'[::-1] }}", "prq,rcba")]
    [DataRow("{% for i in items %}{{ loop.index }}{{ i }}{% if not loop.last %} {% endif %}{% endfor %}", "1p 2q 3r")]
    [DataRow("{{ '  Hi  '.strip() }}|{{ 'hi'.upper() }}|{{ 'a_b' | replace('_', ' ') }}|{{ 'x.'.rstrip('.') }}", "Hi|HI|a b|x")]
    [DataRow("{{ '2' | int - 1 }}|{{ items | length }}|{{ 'hello world' | title }}|{{ 'ABC' | lower }}", "1|3|Hello World|abc")]
    [DataRow("{% set n = b * 2 %}{{ n }}{{ 'yes' if n == 6 else 'no' }}", "6yes")]
    [DataRow("{{ 'q' in items }}{{ 'z' not in items }}{{ none is none }}{{ c is defined }}{{ c | default('d') }}", "TrueTrueTrueFalsed")]
    [DataRow("a {#- comment -#}   b\n{%- if true %} c{% endif %}", "ab c")]
    [DataRow("{{ \"it's\" }} {{ 'say \"hi\"' }} {{ 'a\\nb' }}", "it's say \"hi\" a\nb")]
    [DataRow("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] + [3] }}", "True True True [1, 2, 3]")]
    [DataRow("line\n", "line")]
    public void RendersWithPythonSemantics(string source, string expected) =>
        Assert.AreEqual(expected, Render(source));

    [TestMethod]
    [DataRow("{{ missing }}", 1, 4, "'missing' is undefined")]
    [DataRow("ok\n{% if a %}x{% endif", 2, 12, "never closed")]
    [DataRow("{{ a | shout }}", 1, 6, "unsupported filter 'shout'")]
    [DataRow("{% while a %}{% endwhile %}", 1, 4, "unsupported statement 'while'")]
    [DataRow("\n\n  {{ items[7] }}", 3, 11, "out of range")]
    [DataRow("{{ a.nothing() }}", 1, 13, "str has no method 'nothing'")]
    [DataRow("{% if a %}x{% endfor %}", 1, 15, "inside '{% if %}'")]
    public void ErrorsNameTemplateLineAndColumn(string source, int line, int column, string message)
    {
        var e = Assert.ThrowsException<TemplateException>(() => Render(source, item: 1L));
        StringAssert.Contains(e.Message, message);
        Assert.AreEqual("t", e.Template);
        Assert.AreEqual((line, column), (e.Line, e.Column), e.Message);
    }

    public static IEnumerable<object[]> GoldenRenders()
    {
        var path = Path.Combine(SharedFixtures.ProjectRoot, "tests", "Harness", "Fixtures", "template_renders.json");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var e in json.RootElement.EnumerateArray())
            yield return [e.GetProperty("task").GetString()!, e.GetProperty("template").GetString()!, e.GetProperty("doc").GetInt32(), e.GetRawText()];
    }

    /// <summary>Every template in prompts/ renders exactly as real Jinja2 renders it (render_goldens.py) on synthetic documents.</summary>
    [TestMethod]
    [DynamicData(nameof(GoldenRenders), DynamicDataSourceType.Method)]
    public void EveryTemplateMatchesJinja2(string task, string template, int doc, string golden)
    {
        using var json = JsonDocument.Parse(golden);
        var e = json.RootElement;
        var fields = (Dictionary<string, object?>)DatasetReaders.FromJson(e.GetProperty("fields"))!;
        fields["mask"] = "<M>";
        fields["anchor"] = "<A> ";
        var rendered = Registry.Get(task).Template(template).Render(fields);
        Assert.AreEqual(e.GetProperty("input").GetString(), rendered.Input, $"{task} '{template}' doc {doc}");
        Assert.AreEqual(e.GetProperty("target").GetString(), rendered.Target);
        CollectionAssert.AreEqual(e.GetProperty("choices").EnumerateArray().Select(c => c.GetString()).ToList(), rendered.Choices.ToList());
    }

    [TestMethod]
    public void GoldensCoverEveryTemplateOfEveryTask()
    {
        var covered = GoldenRenders().Select(r => ((string)r[0], (string)r[1])).ToHashSet();
        foreach (var task in Registry.Tasks)
            foreach (var t in task.Templates)
                Assert.IsTrue(covered.Contains((task.Name, t.Name)), $"{task.Name} '{t.Name}' has no golden render; rerun render_goldens.py");
        Assert.AreEqual(5, Registry.Get("xnli").Templates.Count);
        Assert.AreEqual(5, Registry.Get("xcopa").Templates.Count);
        Assert.AreEqual(5, Registry.Get("xwinograd").Templates.Count);
        Assert.AreEqual(3, Registry.Get("mmlu").Templates.Count);
        Assert.AreEqual(57, Registry.Get("mmlu").Subsets.Count);
        Assert.AreEqual(57, Registry.Get("mmlu").Groups.Values.Sum(g => g.Count));
    }

    [TestMethod]
    public void TaskFileErrorsNameFileAndLine()
    {
        var dir = SharedFixtures.TempDirectory();
        var file = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(file, "task: bad\nsubsets: [en]\nsplits: [test]\ndefault_split: test\nsources:\n  - format: csv-ish\n    path: x\ngold: \"{{ label }}\"\ntemplates: []\n");
        var e = Assert.ThrowsException<TaskFileException>(() => TaskRegistry.LoadTask(file));
        StringAssert.Contains(e.Message, "bad.yaml:6");
        StringAssert.Contains(e.Message, "unknown format 'csv-ish'");

        File.WriteAllText(file, "task: bad\nsubsets: [en]\nsplits: [test]\ndefault_split: test\nsources: []\ngold: \"{{ label }}\"\ntemplates:\n  - name: t\n    jinja: \"{{ premise }\"\n");
        e = Assert.ThrowsException<TaskFileException>(() => TaskRegistry.LoadTask(file));
        StringAssert.Contains(e.Message, "bad.yaml:8");
        StringAssert.Contains(e.Message, "template 'bad.yaml: t'");

        File.WriteAllText(file, "task: bad\nsubsets: [en]\nsplits: [test]\ndefault_split: dev\n");
        e = Assert.ThrowsException<TaskFileException>(() => TaskRegistry.LoadTask(file));
        StringAssert.Contains(e.Message, "default_split 'dev'");
    }

    /// <summary>
    /// YAML nested far deeper than any task file (a stack overflow in YamlDotNet's loader before: the process died) is
    /// a TaskFileException naming the line where the limit is passed; a task at the limit still gets past the YAML.
    /// </summary>
    [TestMethod]
    [DataRow("[", "]", 1)]
    [DataRow("{a: ", "}", 1)]
    public void DeeplyNestedYamlIsRefusedNotAStackOverflow(string open, string close, int line)
    {
        var file = Path.Combine(SharedFixtures.TempDirectory(), "deep.yaml");
        string Nested(int depth) => string.Concat(Enumerable.Repeat(open, depth)) + "x" + string.Concat(Enumerable.Repeat(close, depth));
        File.WriteAllText(file, $"task: {Nested(100_000)}\n");
        var e = Assert.ThrowsException<TaskFileException>(() => TaskRegistry.LoadTask(file));
        StringAssert.Contains(e.Message, $"deep.yaml:{line}: YAML nested more than {YamlNesting} levels deep");

        // The root mapping is one level: the value may nest one less than the limit.
        File.WriteAllText(file, $"task: {Nested(YamlNesting - 1)}\n");
        e = Assert.ThrowsException<TaskFileException>(() => TaskRegistry.LoadTask(file));
        Assert.IsFalse(e.Message.Contains("nested more than"), e.Message);
    }

    private const int YamlNesting = 64;

    internal static TaskRegistry Registry { get; } = TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts"));
}
