using System.Text.Json.Nodes;

namespace Eval.Tests.Reports;

/// <summary>Writes run folders in the layout `eval` writes (run.json and samples_&lt;task&gt;.jsonl) from chosen outcomes.</summary>
public static class SyntheticRuns
{
    /// <summary>An example: which row it belongs to and what was predicted.</summary>
    public sealed record Example(string Task, string Language, string Template, int DocId, int Prediction, int Gold, int Choices = 3);

    public static string Write(string folder, string modelId, long parameters, IEnumerable<Example> examples, string? modelPath = null,
        string architecture = "ModernBertForMaskedLM", string scoring = "restricted")
    {
        Directory.CreateDirectory(folder);
        var run = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["id"] = modelId, ["path"] = modelPath ?? folder, ["architecture"] = architecture, ["parameters"] = parameters,
                ["fingerprint"] = "fp-" + modelId,
            },
            ["options"] = new JsonObject { ["scoring"] = scoring },
        };
        File.WriteAllText(Path.Combine(folder, "run.json"), run.ToJsonString());
        foreach (var task in examples.GroupBy(e => e.Task))
            File.WriteAllLines(Path.Combine(folder, $"samples_{task.Key}.jsonl"), task.Select(e => new JsonObject
            {
                ["task"] = e.Task, ["language"] = e.Language, ["split"] = "test", ["template"] = e.Template, ["doc_id"] = e.DocId,
                ["prompt"] = "p", ["choices"] = new JsonArray(Enumerable.Range(0, e.Choices).Select(i => (JsonNode)$"c{i}").ToArray()),
                ["prediction"] = e.Prediction, ["gold"] = e.Gold, ["correct"] = e.Prediction == e.Gold,
            }.ToJsonString()));
        return folder;
    }

    /// <summary>Examples for tasks × languages × templates × docs where a doc is right when accept(task, language, template, doc).</summary>
    public static List<Example> Grid(string[] tasks, string[] languages, string[] templates, int docs, Func<string, string, string, int, bool> accept) =>
        (from t in tasks
         from l in languages
         from tp in templates
         from d in Enumerable.Range(0, docs)
         select new Example(t, l, tp, d, accept(t, l, tp, d) ? d % 3 : (d + 1) % 3, d % 3)).ToList();
}
