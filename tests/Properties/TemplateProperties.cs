using System.Text.Json;
using System.Text.RegularExpressions;
using CsCheck;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Tests.Properties;

/// <summary>
/// Property tests of every template of every task in prompts/, rendered with random documents: strings full of
/// Jinja and PromptSource syntax ("{{", "{%", "|||", quotes, newlines, Unicode) and labels in range.
/// </summary>
[TestClass]
public sealed partial class TemplateProperties
{
    private const int IterationsPerTask = 250;

    // What AnswerSlotPrompt adds to every document before rendering.
    private static readonly IReadOnlyDictionary<string, object?> SlotFields = new Dictionary<string, object?> { ["mask"] = "\uE000", ["anchor"] = "\uE001" };

    private static readonly Gen<object?> AnyText = PropertyGens.TemplateHostileText(12).Select(s => (object?)s);

    /// <summary>
    /// The fields each task's documents have, as its readers (DatasetReaders: xnli-tsv, xnli-1.0, xcopa-jsonl,
    /// xwinograd-tsv, mmlu-csv/-original) make them: a task file does not list its fields, so they are spelled here,
    /// and a task added to prompts/ without an entry fails <see cref="EveryShippedTaskHasADocumentSchema"/>.
    /// </summary>
    private static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, Gen<object?>>> Schemas = new Dictionary<string, IReadOnlyDictionary<string, Gen<object?>>>
    {
        ["xnli"] = new Dictionary<string, Gen<object?>>
        {
            ["premise"] = AnyText, ["hypothesis"] = AnyText, ["label"] = Gen.Long[0, 2].Select(l => (object?)l),
        },
        ["xcopa"] = new Dictionary<string, Gen<object?>>
        {
            ["premise"] = AnyText, ["choice1"] = AnyText, ["choice2"] = AnyText,
            ["question"] = Gen.OneOf(new[] { "cause", "effect" }).Select(q => (object?)q), ["label"] = Gen.Long[0, 1].Select(l => (object?)l),
        },
        ["xwinograd"] = new Dictionary<string, Gen<object?>>
        {
            ["sentence"] = AnyText, ["option1"] = AnyText, ["option2"] = AnyText, ["pronoun"] = AnyText,
            ["answer"] = Gen.OneOf(new[] { "1", "2" }).Select(a => (object?)a),
        },
        ["mmlu"] = new Dictionary<string, Gen<object?>>
        {
            ["question"] = AnyText, ["subject"] = AnyText, ["answer"] = Gen.Long[0, 3].Select(l => (object?)l),
            ["choices"] = AnyText.Array[4].Select(c => (object?)c.ToList()),
        },
        ["mmlu_pro"] = new Dictionary<string, Gen<object?>>
        {
            ["question"] = AnyText, ["category"] = AnyText, ["answer_index"] = Gen.Long[0, 9].Select(l => (object?)l),
            ["options"] = AnyText.Array[10].Select(c => (object?)c.ToList()),
        },
    };

    private static IEnumerable<TaskDefinition> ShippedTasks() =>
        TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts")).Tasks;

    public static IEnumerable<object[]> TaskNames() => Schemas.Keys.Select(k => new object[] { k });

    private static Gen<Dictionary<string, object?>> Documents(string task)
    {
        var schema = Schemas[task].ToList();
        var all = Gen.Const(Array.Empty<object?>());
        foreach (var field in schema) all = Gen.Select(all, field.Value, (values, value) => (object?[])[.. values, value]);
        return all.Select(values =>
        {
            var doc = new Dictionary<string, object?>(SlotFields);
            for (int i = 0; i < schema.Count; i++) doc[schema[i].Key] = values[i];
            return doc;
        });
    }

    private static string Show(IReadOnlyDictionary<string, object?> doc) => JsonSerializer.Serialize(doc);

    [TestMethod]
    public void EveryShippedTaskHasADocumentSchema()
    {
        var tasks = ShippedTasks().Select(t => t.Name).ToList();
        Assert.IsTrue(tasks.Count >= 4);
        CollectionAssert.AreEquivalent(tasks, Schemas.Keys.ToList(), "prompts/ and the schemas here name the same tasks");
    }

    // Characters the escaped render puts in place of template syntax in the values, so that whatever syntax is left
    // in its output came from the template. Private-use code points: the generators never make them.
    private static readonly (char Syntax, char Stand)[] Stands = [('{', '\uE100'), ('}', '\uE101'), ('%', '\uE102'), ('#', '\uE103'), ('|', '\uE104')];

    private static string Hide(string s) => Stands.Aggregate(s, (t, p) => t.Replace(p.Syntax, p.Stand));

    private static string Unhide(string s) => Stands.Aggregate(s, (t, p) => t.Replace(p.Stand, p.Syntax));

    private static object? HideValue(object? value) => value switch
    {
        string s => Hide(s),
        List<object?> list => list.Select(HideValue).ToList(),
        _ => value,
    };

    /// <summary>
    /// Every template renders every random document, and rendering is transparent to the values: rendering the
    /// document with its braces, '%', '#' and '|' swapped for stand-ins and swapping them back gives the same input,
    /// target and choices — so a value's "{{", "{%" or "|||" is never read as template syntax — and the stand-in render
    /// holds no "{{", "{%", "}}", "%}" or "{#", i.e. nothing of the template was left unrendered.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(TaskNames), DynamicDataSourceType.Method)]
    public void EveryTemplateRendersRandomDocumentsTransparently(string taskName)
    {
        var task = ShippedTasks().Single(t => t.Name == taskName);
        Assert.IsTrue(task.Templates.Count > 0);
        Documents(taskName).Sample(doc =>
        {
            foreach (var template in task.Templates)
            {
                var rendered = template.Render(doc);
                var hidden = template.Render(doc.ToDictionary(f => f.Key, f => HideValue(f.Value)));
                foreach (var text in new[] { hidden.Input, hidden.Target }.Concat(hidden.Choices))
                    foreach (var syntax in new[] { "{{", "}}", "{%", "%}", "{#" })
                        Assert.IsFalse(text.Contains(syntax, StringComparison.Ordinal), $"'{template.Name}' left '{syntax}' unrendered in {JsonSerializer.Serialize(text)}");
                Assert.AreEqual(Unhide(hidden.Input), rendered.Input, $"'{template.Name}' input");
                Assert.AreEqual(Unhide(hidden.Target), rendered.Target, $"'{template.Name}' target");
                CollectionAssert.AreEqual(hidden.Choices.Select(Unhide).ToList(), rendered.Choices.ToList(), $"'{template.Name}' choices");

                // The task's gold expression gives a choice index, and the answer slot renders.
                var gold = task.Gold.Render(doc).Trim();
                Assert.IsTrue(int.TryParse(gold, out var index) && index >= 0 && index < Math.Max(2, rendered.Choices.Count), $"gold '{gold}'");
                task.AnswerSlot.Render(doc);
            }
        }, iter: IterationsPerTask, threads: 1, print: Show);
    }

    [GeneratedRegex(@"[A-Za-z_][A-Za-z_0-9]*")]
    private static partial Regex Identifier();

    /// <summary>
    /// Rendering a document that lacks a field the template names fails with <see cref="TemplateException"/> (Jinja's
    /// StrictUndefined), whichever field it is; fields the template does not name (xwinograd's pronoun) may be missing.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(TaskNames), DynamicDataSourceType.Method)]
    public void MissingFieldGivesTemplateException(string taskName)
    {
        var task = ShippedTasks().Single(t => t.Name == taskName);
        var fieldNames = Schemas[taskName].Keys.Concat(SlotFields.Keys).ToList();
        int checkedCount = 0;
        Gen.Select(Documents(taskName), Gen.Int[0, fieldNames.Count - 1]).Sample((doc, which) =>
        {
            var missing = fieldNames[which];
            doc.Remove(missing);
            foreach (var template in task.Templates)
            {
                var names = Identifier().Matches(template.Source + " " + template.AnswerChoicesSource).Select(m => m.Value).ToHashSet();
                if (names.Contains(missing))
                {
                    var e = Assert.ThrowsException<TemplateException>(() => template.Render(doc), $"'{template.Name}' without {missing}");
                    StringAssert.Contains(e.Message, missing);
                    checkedCount++;
                }
                else
                    template.Render(doc);
            }
            var goldNames = Identifier().Matches(task.Gold.Source).Select(m => m.Value).ToHashSet();
            if (goldNames.Contains(missing)) Assert.ThrowsException<TemplateException>(() => task.Gold.Render(doc), $"gold without {missing}");
        }, iter: 100, threads: 1, print: t => $"without {fieldNames[t.Item2]}: {Show(t.Item1)}");
        Assert.IsTrue(checkedCount > 0);
    }
}
