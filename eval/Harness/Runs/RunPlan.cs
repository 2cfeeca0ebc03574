using System.Globalization;
using System.Security.Cryptography;
using System.Text;
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
    public PlanEntry ToEntry() => new(Fingerprint, Units,
        Tasks.Select(t => new PlanTaskEntry(t.Task.Name, t.Split, t.Subsets, t.Templates, t.Subsets.ToDictionary(s => s, s => new DataFileEntry(t.Data[s].Path, t.Data[s].Format, t.Data[s].Sha256)))).ToList(),
        Groups.Select(g => new PlanGroupEntry(g.Task, g.Subset, g.Split, g.Template, g.TemplateKey, DocumentRanges.Format(g.DocIds))).ToList());

    /// <summary>
    /// Reads run.json's "plan" back, taking each task's definition from the registry and checking that its templates
    /// still give the recorded cache keys (the prompts have not changed since the run).
    /// </summary>
    public static RunPlan FromEntry(PlanEntry plan, string modelFingerprint, Func<string, TaskDefinition> taskNamed, Func<TaskDefinition, string, string> templateKey)
    {
        var tasks = new List<TaskRunInfo>();
        foreach (var t in plan.Tasks)
        {
            var task = taskNamed(t.Task);
            // The documents' ids are in the groups; their texts are in the score cache, not needed here.
            var data = t.Subsets.ToDictionary(s => s, s => t.Data.TryGetValue(s, out var d)
                ? new LoadedSplit([], d.Path, d.Format, d.Sha256)
                : throw new FormatException($"the plan's task {t.Task} has no data entry for its subset '{s}'"));
            tasks.Add(new TaskRunInfo(task, t.Split, t.Subsets, t.Templates, data, 0));
        }
        var groups = plan.Groups.Select(g => new PlanGroup(g.Task, g.Subset, g.Split, g.Template, g.Key, DocumentRanges.Parse(g.Documents))).ToList();
        foreach (var g in groups)
        {
            var task = tasks.FirstOrDefault(t => t.Task.Name == g.Task)?.Task
                       ?? throw new FormatException($"the plan's group {g} belongs to no task of the plan");
            var now = templateKey(task, g.Template);
            if (now != g.TemplateKey)
                throw new InvalidOperationException($"{g}: the template in {task.FilePath} is not the one the run used (cache key {now}, the run's {g.TemplateKey}); merge with the prompts the shards ran with (--prompts)");
        }
        var rebuilt = new RunPlan(modelFingerprint, tasks, groups);
        if (rebuilt.Fingerprint != plan.Fingerprint)
            throw new InvalidOperationException($"the plan read back has fingerprint {rebuilt.Fingerprint}, run.json says {plan.Fingerprint}");
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
