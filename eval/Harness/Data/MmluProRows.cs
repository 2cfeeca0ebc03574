namespace Eval.Harness.Data;

/// <summary>
/// MMLU-Pro (TIGER-Lab) rows, as its JSON lines and its hub parquet files hold them: question_id, question, options
/// (a list of 1 to 10 strings), answer (a letter A–J), answer_index (0-based), category (14 of them), src. One
/// file holds every category; a subset is one category, named with '_' for its spaces ("computer science" →
/// computer_science). Every row is checked, whichever subset is asked for, so a bad row fails every subset the same
/// way: options that are missing, empty or more than ten, an answer letter beyond the row's options, an
/// answer_index that disagrees with the letter, or a category MMLU-Pro does not have.
/// </summary>
public static class MmluProRows
{
    /// <summary>The 14 categories of MMLU-Pro, as its category field spells them.</summary>
    public static readonly IReadOnlyList<string> Categories =
        ["biology", "business", "chemistry", "computer science", "economics", "engineering", "health", "history", "law", "math", "other", "philosophy", "physics", "psychology"];

    /// <summary>The options are lettered A–J.</summary>
    public const string Letters = "ABCDEFGHIJ";

    /// <summary>A category's subset name: spaces become underscores.</summary>
    public static string SubsetName(string category) => category.Replace(' ', '_');

    /// <summary>The rows of one category, checked, with answer_index taken from the answer letter.</summary>
    public static List<Document> Select(IReadOnlyList<Document> rows, string subset)
    {
        if (!Categories.Any(c => SubsetName(c) == subset))
            throw new ArgumentException($"'{subset}' is not an MMLU-Pro category ({string.Join(", ", Categories.Select(SubsetName))})");
        var docs = new List<Document>();
        foreach (var row in rows)
        {
            var (fields, category) = Checked(row);
            if (SubsetName(category) == subset) docs.Add(new Document(docs.Count, fields, row.Origin));
        }
        return docs;
    }

    private static (Dictionary<string, object?> Fields, string Category) Checked(Document row)
    {
        DatasetFormatException Bad(string message) => new(row.Origin, message);
        string Text(string field) => row.Fields.GetValueOrDefault(field) switch
        {
            string s => s,
            null when !row.Fields.ContainsKey(field) => throw Bad($"no '{field}' field"),
            var other => throw Bad($"'{field}' is {Describe(other)}, not text"),
        };

        Text("question");
        if (row.Fields.GetValueOrDefault("options") is not IReadOnlyList<object?> options)
            throw Bad(row.Fields.ContainsKey("options") ? $"'options' is {Describe(row.Fields["options"])}, not a list" : "no 'options' field");
        if (options.Count == 0) throw Bad("no options: a question needs at least one");
        if (options.Count > Letters.Length) throw Bad($"{options.Count} options; MMLU-Pro letters them A–J, at most {Letters.Length}");
        for (int i = 0; i < options.Count; i++)
            if (options[i] is not string) throw Bad($"option {Letters[i]} is {Describe(options[i])}, not text");

        var answer = Text("answer");
        int index = answer.Length == 1 ? Letters.IndexOf(answer[0], StringComparison.Ordinal) : -1;
        if (index < 0) throw Bad($"answer '{Shorten(answer)}' is not a letter A–J");
        if (index >= options.Count)
            throw Bad($"answer '{answer}' is beyond the question's {options.Count} option(s) ({(options.Count == 1 ? "A" : $"A–{Letters[options.Count - 1]}")})");
        if (row.Fields.TryGetValue("answer_index", out var given) && given is not null && !(given is long l && l == index))
            throw Bad($"answer_index {Shorten(Describe(given))} disagrees with answer '{answer}' (index {index})");

        var category = Text("category");
        if (!Categories.Contains(category))
            throw Bad($"unknown category '{Shorten(category)}' (MMLU-Pro's: {string.Join(", ", Categories)})");
        return (new Dictionary<string, object?>(row.Fields) { ["answer_index"] = (long)index }, category);
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        string s => $"'{Shorten(s)}'",
        IReadOnlyList<object?> => "a list",
        IReadOnlyDictionary<string, object?> => "an object",
        bool b => b ? "true" : "false",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
