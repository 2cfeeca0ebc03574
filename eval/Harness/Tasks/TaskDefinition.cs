using Eval.Harness.Data;
using Eval.Harness.Templates;

namespace Eval.Harness.Tasks;

/// <summary>A task as its YAML file in prompts/ defines it; its data is found by <see cref="DatasetStore"/>.</summary>
public sealed record TaskDefinition(
    string Name,
    string Description,
    string FilePath,
    string SubsetKind,
    IReadOnlyList<string> Subsets,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Groups,
    IReadOnlyList<string> Splits,
    string DefaultSplit,
    IReadOnlyList<DataSource> Sources,
    JinjaTemplate Gold,
    JinjaTemplate AnswerSlot,
    IReadOnlyList<PromptTemplate> Templates) : IDatasetDescription
{
    public PromptTemplate Template(string name) =>
        Templates.FirstOrDefault(t => t.Name == name || t.Id == name)
        ?? throw new ArgumentException($"task '{Name}' has no template '{name}' (templates: {string.Join(", ", Templates.Select(t => $"\"{t.Name}\""))})");

    /// <summary>The group each subset belongs to (MMLU categories), or null when the task has no groups.</summary>
    public string? GroupOf(string subset) => Groups.FirstOrDefault(g => g.Value.Contains(subset)).Key;
}
