using Eval.Harness.Data;
using Eval.Harness.Templates;

namespace Eval.Harness.Tasks;

/// <summary>
/// A task file that could not be read (bad YAML, a bad field, a template that does not parse, a name defined twice):
/// the error names its file and line. Its task is the one its file name names (xnli.yaml: xnli).
/// </summary>
public sealed record BrokenTaskFile(string FilePath, long Line, string Reason)
{
    public string TaskName => Path.GetFileNameWithoutExtension(FilePath);
    public string Message => $"{FilePath}:{Line}: {Reason}";
    public TaskFileException ToException() => new(FilePath, Line, Reason);
}

/// <summary>
/// The tasks defined by the YAML files of prompts folders (one file per task). A file that cannot be read does not
/// take the others down: it is listed in <see cref="Broken"/>, and asking for its task gives its error.
/// </summary>
public sealed class TaskRegistry
{
    private readonly Dictionary<string, TaskDefinition> tasks;
    private readonly Dictionary<string, BrokenTaskFile> brokenByName;

    private TaskRegistry(IReadOnlyList<string> folders, Dictionary<string, TaskDefinition> tasks, Dictionary<string, BrokenTaskFile> brokenByName,
        IReadOnlyList<BrokenTaskFile> broken)
    {
        Folders = folders;
        this.tasks = tasks;
        this.brokenByName = brokenByName;
        Broken = broken;
    }

    /// <summary>The folders the tasks were read from, later ones overriding earlier ones.</summary>
    public IReadOnlyList<string> Folders { get; }
    public IEnumerable<TaskDefinition> Tasks => tasks.Values.OrderBy(t => t.Name, StringComparer.Ordinal);

    /// <summary>Every task file of the folders that could not be read, in folder then file order.</summary>
    public IReadOnlyList<BrokenTaskFile> Broken { get; }

    public static TaskRegistry Load(string folder) => Load([folder]);

    /// <summary>
    /// The tasks of every folder in order: a task in a later folder replaces the one of the same name in an earlier
    /// folder (the program's own prompts, then EVAL_PROMPTS, then --prompts); within one folder a name is defined once.
    /// A broken NAME.yaml in a later folder makes task NAME unusable rather than leave the earlier one in its place:
    /// the run the user asked for is not silently replaced by another.
    /// </summary>
    public static TaskRegistry Load(IReadOnlyList<string> folders)
    {
        var tasks = new Dictionary<string, TaskDefinition>();
        var brokenByName = new Dictionary<string, BrokenTaskFile>();
        var broken = new List<BrokenTaskFile>();
        foreach (var folder in folders)
        {
            if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: prompts folder not found");
            var inFolder = new Dictionary<string, TaskDefinition>();
            var brokenInFolder = new List<BrokenTaskFile>();
            foreach (var file in Directory.EnumerateFiles(folder, "*.yaml").Order(StringComparer.Ordinal))
            {
                TaskDefinition task;
                try
                {
                    task = LoadTask(file);
                }
                catch (TaskFileException e)
                {
                    brokenInFolder.Add(new BrokenTaskFile(e.FilePath, e.Line, e.Reason));
                    continue;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    brokenInFolder.Add(new BrokenTaskFile(file, 1, $"cannot be read: {e.Message}"));
                    continue;
                }
                if (inFolder.TryGetValue(task.Name, out var other))
                    brokenInFolder.Add(new BrokenTaskFile(file, 1, $"task '{task.Name}' is already defined in {other.FilePath}"));
                else inFolder[task.Name] = task;
            }
            foreach (var (name, task) in inFolder)
            {
                tasks[name] = task;
                brokenByName.Remove(name);
            }
            foreach (var b in brokenInFolder.Where(b => !inFolder.ContainsKey(b.TaskName)))
            {
                tasks.Remove(b.TaskName);
                brokenByName[b.TaskName] = b;
            }
            broken.AddRange(brokenInFolder);
        }
        return new TaskRegistry(folders, tasks, brokenByName, broken);
    }

    public TaskDefinition Get(string name)
    {
        if (tasks.TryGetValue(name, out var task)) return task;
        if (brokenByName.TryGetValue(name, out var broken)) throw broken.ToException();
        var unreadable = Broken.Count == 0 ? "" : $"; unreadable task files: {string.Join(", ", Broken.Select(b => b.FilePath))} (`mlm-eval tasks` says why)";
        throw new ArgumentException($"unknown task '{name}' (tasks in {string.Join(" + ", Folders)}: {string.Join(", ", tasks.Keys.Order(StringComparer.Ordinal))}{unreadable})");
    }

    public static TaskDefinition LoadTask(string file)
    {
        var y = YamlFields.Load(file);
        y.RejectUnknown("task", "description", "subset_kind", "subsets", "groups", "splits", "default_split", "sources", "gold", "answer_slot", "templates");
        var name = y.Text("task");
        var subsets = y.TextList("subsets");
        var groups = y.ListMap("groups");
        foreach (var (group, members) in groups)
            foreach (var m in members.Where(m => !subsets.Contains(m)))
                throw y.Error($"group '{group}' names '{m}', which is not in subsets");
        var splits = y.TextList("splits");
        var defaultSplit = y.Text("default_split");
        if (!splits.Contains(defaultSplit)) throw y.Error($"default_split '{defaultSplit}' is not in splits ({string.Join(", ", splits)})");

        var sources = y.Mappings("sources").Select(s => ReadSource(s, splits)).ToList();
        var gold = ParseJinja(y, $"{name}: gold", y.Text("gold"));
        var answerSlot = ParseJinja(y, $"{name}: answer_slot", y.OptionalText("answer_slot") ?? " {{ mask }}");

        var templates = new List<PromptTemplate>();
        foreach (var t in y.Mappings("templates"))
        {
            t.RejectUnknown("name", "id", "jinja", "answer_choices", "reference");
            var templateName = t.Text("name");
            if (templates.Any(x => x.Name == templateName)) throw t.Error($"template '{templateName}' is defined twice");
            try
            {
                templates.Add(new PromptTemplate(templateName, t.OptionalText("id") ?? templateName, t.Text("jinja"),
                    t.OptionalText("answer_choices"), t.OptionalText("reference"), Path.GetFileName(file)) { FilePath = file, Line = t.Line });
            }
            catch (TemplateException e)
            {
                throw new TaskFileException(file, t.Line, e.Message);
            }
        }
        if (templates.Count == 0) throw y.Error("a task needs at least one template");
        return new TaskDefinition(name, y.OptionalText("description") ?? "", file, y.OptionalText("subset_kind") ?? "language",
            subsets, groups, splits, defaultSplit, sources, gold, answerSlot, templates);
    }

    private static DataSource ReadSource(YamlFields s, IReadOnlyList<string> splits)
    {
        s.RejectUnknown("format", "path", "split_names", "download", "hub");
        var format = s.Text("format");
        if (!DatasetReaders.Formats.Contains(format)) throw s.Error($"unknown format '{format}' (formats: {string.Join(", ", DatasetReaders.Formats)})");
        var splitNames = s.TextMap("split_names");
        foreach (var key in splitNames.Keys.Where(k => !splits.Contains(k)))
            throw s.Error($"split_names maps '{key}', which is not one of the task's splits");
        DataDownload? download = null;
        if (s.OptionalMapping("download") is { } d)
        {
            d.RejectUnknown("url", "sha256", "archive");
            var archive = d.OptionalText("archive");
            if (archive is not (null or "zip" or "tar")) throw d.Error($"archive '{archive}' must be zip or tar");
            var sha = d.IsText("sha256")
                ? new Dictionary<string, string> { [""] = d.Text("sha256") }
                : d.TextMap("sha256");
            download = new DataDownload(d.Text("url"), sha, archive);
        }
        HubDataset? hub = null;
        if (s.OptionalMapping("hub") is { } h)
        {
            if (download is not null) throw h.Error("a source has either download or hub, not both");
            h.RejectUnknown("repo", "revision", "sha256");
            var repo = h.Text("repo");
            if (!HubModelStore.LooksLikeHubId(repo) || repo.Contains('@')) throw h.Error($"hub repo '{repo}' is not of the form org/name");
            var revision = h.Text("revision");
            if (revision.Length == 0 || revision.Contains("..") || revision.StartsWith('/')) throw h.Error($"hub revision '{revision}' is not a branch or commit");
            hub = new HubDataset(repo, revision, h.TextMap("sha256"));
        }
        return new DataSource(format, s.Text("path"), splitNames, download) { Hub = hub };
    }

    private static JinjaTemplate ParseJinja(YamlFields y, string name, string source)
    {
        try
        {
            return JinjaTemplate.Parse(name, source);
        }
        catch (TemplateException e)
        {
            throw y.Error(e.Message);
        }
    }
}
