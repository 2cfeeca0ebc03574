using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Eval.Harness.Data;
using Eval.Harness.Tasks;

namespace Eval.Harness.Runs;

/// <summary>
/// The documents of one (task, subset, split, template) of a plan, in data order; TemplateKey is the score-cache key
/// (template, scoring mode and max length). Each (group, document) is one work unit.
/// </summary>
public sealed record PlanGroup(string Task, string Subset, string Split, string Template, string TemplateKey, IReadOnlyList<int> DocIds)
{
    public override string ToString() => $"{Task} · {Subset} · {Split} · {Template}";
}

/// <summary>
/// Everything a run evaluates, in the order a single process evaluates it: tasks, then subsets, then templates, then
/// documents. Fingerprint hashes the model, every group's cache key and documents, and the data digests, so two
/// runs with equal fingerprints score the same units the same way whatever the batch size or the sharding.
/// </summary>
public sealed record RunPlan(string ModelFingerprint, IReadOnlyList<TaskRunInfo> Tasks, IReadOnlyList<PlanGroup> Groups)
{
    public long Units => Groups.Sum(g => (long)g.DocIds.Count);

    public string Fingerprint => ComputeFingerprint(ModelFingerprint, Tasks, Groups);

    private static string ComputeFingerprint(string model, IReadOnlyList<TaskRunInfo> tasks, IReadOnlyList<PlanGroup> groups)
    {
        var text = new StringBuilder().Append("model=").Append(model).Append('\n');
        foreach (var t in tasks)
            foreach (var s in t.Subsets)
                text.Append("data=").Append(t.Task.Name).Append('/').Append(s).Append('/').Append(t.Split).Append('=').Append(t.Data[s].Sha256).Append('\n');
        foreach (var g in groups)
            text.Append("group=").Append(string.Join("\u001F", g.Task, g.Subset, g.Split, g.TemplateKey)).Append('=').Append(DocumentRanges.Format(g.DocIds)).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The plan as run.json's "plan" holds it: enough for `merge` to rebuild the run's tables without the data.</summary>
    public JsonObject ToJson() => new()
    {
        ["fingerprint"] = Fingerprint,
        ["units"] = Units,
        ["tasks"] = new JsonArray(Tasks.Select(t => (JsonNode)new JsonObject
        {
            ["task"] = t.Task.Name, ["split"] = t.Split,
            ["subsets"] = new JsonArray(t.Subsets.Select(s => (JsonNode)s!).ToArray()),
            ["templates"] = new JsonArray(t.Templates.Select(s => (JsonNode)s!).ToArray()),
            ["data"] = new JsonObject(t.Subsets.Select(s => KeyValuePair.Create(s, (JsonNode?)new JsonObject
            {
                ["path"] = t.Data[s].Path, ["format"] = t.Data[s].Format, ["sha256"] = t.Data[s].Sha256,
            }))),
        }).ToArray()),
        ["groups"] = new JsonArray(Groups.Select(g => (JsonNode)new JsonObject
        {
            ["task"] = g.Task, ["subset"] = g.Subset, ["split"] = g.Split, ["template"] = g.Template, ["key"] = g.TemplateKey,
            ["documents"] = DocumentRanges.Format(g.DocIds),
        }).ToArray()),
    };

    /// <summary>
    /// Reads run.json's "plan" back, taking each task's definition from the registry and checking that its templates
    /// still give the recorded cache keys (the prompts have not changed since the run).
    /// </summary>
    public static RunPlan FromJson(JsonNode plan, string modelFingerprint, Func<string, TaskDefinition> taskNamed, Func<TaskDefinition, string, string> templateKey)
    {
        var tasks = new List<TaskRunInfo>();
        foreach (var t in plan["tasks"]!.AsArray())
        {
            var task = taskNamed(t!["task"]!.GetValue<string>());
            var subsets = t["subsets"]!.AsArray().Select(s => s!.GetValue<string>()).ToList();
            var templates = t["templates"]!.AsArray().Select(s => s!.GetValue<string>()).ToList();
            // The documents' ids are in the groups; their texts are in the score cache, not needed here.
            var data = subsets.ToDictionary(s => s, s =>
            {
                var d = t["data"]![s]!;
                return new LoadedSplit([], d["path"]!.GetValue<string>(), d["format"]!.GetValue<string>(), d["sha256"]!.GetValue<string>());
            });
            tasks.Add(new TaskRunInfo(task, t["split"]!.GetValue<string>(), subsets, templates, data, 0));
        }
        var groups = plan["groups"]!.AsArray().Select(g => new PlanGroup(g!["task"]!.GetValue<string>(), g["subset"]!.GetValue<string>(),
            g["split"]!.GetValue<string>(), g["template"]!.GetValue<string>(), g["key"]!.GetValue<string>(),
            DocumentRanges.Parse(g["documents"]!.GetValue<string>()))).ToList();
        foreach (var g in groups)
        {
            var task = tasks.First(t => t.Task.Name == g.Task).Task;
            var now = templateKey(task, g.Template);
            if (now != g.TemplateKey)
                throw new InvalidOperationException($"{g}: the template in {task.FilePath} is not the one the run used (cache key {now}, the run's {g.TemplateKey}); merge with the prompts the shards ran with (--prompts)");
        }
        var rebuilt = new RunPlan(modelFingerprint, tasks, groups);
        var recorded = plan["fingerprint"]!.GetValue<string>();
        if (rebuilt.Fingerprint != recorded)
            throw new InvalidOperationException($"the plan read back has fingerprint {rebuilt.Fingerprint}, run.json says {recorded}");
        return rebuilt;
    }

    /// <summary>The documents of each group that fall in plan positions [first, end).</summary>
    public IEnumerable<(PlanGroup Group, IReadOnlyList<int> DocIds)> Slices(long first, long end)
    {
        long start = 0;
        foreach (var g in Groups)
        {
            long from = Math.Max(first, start), to = Math.Min(end, start + g.DocIds.Count);
            if (from < to) yield return (g, g.DocIds.Skip((int)(from - start)).Take((int)(to - from)).ToList());
            start += g.DocIds.Count;
        }
    }

    /// <summary>The units in [first, end) of the plan's order, named as "task · subset · split · template documents 0-4,7".</summary>
    public IReadOnlyList<string> Describe(long first, long end) =>
        Slices(first, end).Select(s => $"{s.Group} documents {DocumentRanges.Format(s.DocIds)}").ToList();
}

/// <summary>Document ids written as ranges: "0-4,7,9-12" (ascending runs of consecutive ids).</summary>
public static class DocumentRanges
{
    public static string Format(IReadOnlyList<int> ids)
    {
        var parts = new List<string>();
        for (int i = 0; i < ids.Count;)
        {
            int j = i;
            while (j + 1 < ids.Count && ids[j + 1] == ids[j] + 1) j++;
            parts.Add(i == j ? ids[i].ToString(CultureInfo.InvariantCulture) : $"{ids[i].ToString(CultureInfo.InvariantCulture)}-{ids[j].ToString(CultureInfo.InvariantCulture)}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }

    public static IReadOnlyList<int> Parse(string text)
    {
        var ids = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash < 0) ids.Add(int.Parse(part, CultureInfo.InvariantCulture));
            else
            {
                int from = int.Parse(part[..dash], CultureInfo.InvariantCulture), to = int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
                if (to < from) throw new FormatException($"document range '{part}' runs backwards");
                for (int i = from; i <= to; i++) ids.Add(i);
            }
        }
        return ids;
    }
}
