using System.Text.RegularExpressions;
using Eval.Models;

namespace Eval.Harness.Reports;

/// <summary>
/// How `scaling` splits its runs (or a `bench decode` CSV's models) into series, each fitted and drawn on its own:
/// <list type="bullet">
/// <item>none — one series of every run (<see cref="Single"/>);</item>
/// <item><c>--series kind</c> — by model kind, from the architecture run.json (or the CSV) names through the registry
/// of architectures: masked (ModernBERT, XLM-R…), causal (Llama, Qwen2, the Ettin decoders…), encoder-decoder;</item>
/// <item><c>--series NAME=REGEX</c>, repeated — a run belongs to the first family whose regular expression matches
/// its model's name, hub id or run folder name (.NET syntax, unanchored: <c>encoder=ettin-encoder</c>);</item>
/// <item><c>--series-file FILE</c> — a CSV of <c>run,series</c> lines, a run named as in <c>--x-values</c> (run
/// folder, folder name or model name).</item>
/// </list>
/// Runs that no family or line claims are left out, and listed.
/// </summary>
public sealed class ScalingSeries
{
    private readonly Func<IReadOnlyList<string>, string, string?> assign;

    private ScalingSeries(string description, Func<IReadOnlyList<string>, string, string?> assign)
    {
        Description = description;
        this.assign = assign;
    }

    /// <summary>How the series were chosen, for the report ("by model kind", "by family: encoder, decoder").</summary>
    public string Description { get; }

    public bool IsSingle { get; private init; }

    /// <summary>The name of the one series when there is a single one.</summary>
    public const string SingleName = "runs";

    public static ScalingSeries Single { get; } = new("one series", (_, _) => SingleName) { IsSingle = true };

    public static ScalingSeries ByKind { get; } = new("by model kind (from each run's architecture)", (_, architecture) => KindName(architecture));

    /// <summary>
    /// The series of a model with these names (model name, hub id or path, run folder, folder name) and this architecture
    /// (the registry's name, as run.json and the decode CSV record it); null when none claims it.
    /// </summary>
    public string? Of(IReadOnlyList<string> names, string architecture) => assign(names, architecture);

    /// <summary>masked, causal or encoder-decoder for a registered architecture; a one-line error naming it otherwise.</summary>
    public static string KindName(string architecture)
    {
        var entry = ModelArchitectures.Find(architecture)
            ?? throw new ArgumentException(
                $"--series kind: architecture '{(architecture.Length > 0 ? architecture : "(none recorded)")}' is not one this program knows ({string.Join(", ", ModelArchitectures.Names)}); group such runs with --series NAME=REGEX");
        return entry.Kind switch
        {
            ModelKind.Masked or ModelKind.SourceTarget => "masked",
            ModelKind.Causal => "causal",
            ModelKind.EncoderDecoder => "encoder-decoder",
            var other => other.ToString(),
        };
    }

    /// <summary>
    /// The series the options ask for: none → <see cref="Single"/>; "kind" → <see cref="ByKind"/>; NAME=REGEX options →
    /// families; a file → its table. Mixing "kind", families and a file is an error.
    /// </summary>
    public static ScalingSeries Parse(IReadOnlyList<string> options, string? file)
    {
        if (file is not null)
        {
            if (options.Count > 0) throw new ArgumentException("give the series either by --series or by --series-file, not both");
            return FromFile(file);
        }
        if (options.Count == 0) return Single;
        if (options.Contains("kind"))
        {
            if (options.Count > 1) throw new ArgumentException("--series kind groups by model kind; it cannot be combined with families (NAME=REGEX)");
            return ByKind;
        }
        var families = new List<(string Name, Regex Pattern)>();
        foreach (var option in options)
        {
            int equals = option.IndexOf('=');
            if (equals <= 0 || equals == option.Length - 1)
                throw new ArgumentException($"--series '{option}': expected 'kind' or NAME=REGEX (e.g. encoder=ettin-encoder)");
            var (name, pattern) = (option[..equals].Trim(), option[(equals + 1)..]);
            if (families.Any(f => f.Name == name)) throw new ArgumentException($"--series: family '{name}' is given twice");
            try
            {
                families.Add((name, new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"--series {name}=: '{pattern}' is not a regular expression ({e.Message.ReplaceLineEndings(" ")})");
            }
        }
        return new ScalingSeries($"by family: {string.Join(", ", families.Select(f => $"{f.Name} = /{f.Pattern}/"))}",
            (names, _) => families.FirstOrDefault(f => names.Any(n => f.Pattern.IsMatch(n))).Name);
    }

    /// <summary>A CSV of run,series (a header line is allowed); errors name the file and line.</summary>
    public static ScalingSeries FromFile(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--series-file {path} does not exist");
        var table = new Dictionary<string, string>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var parts = line.Split(',');
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
                throw new FormatException($"{path}:{lineNumber}: expected 'run,series', got '{line}'");
            if (lineNumber == 1 && parts[0].Trim() == "run" && parts[1].Trim() == "series") continue;
            if (!table.TryAdd(parts[0].Trim(), parts[1].Trim()))
                throw new FormatException($"{path}:{lineNumber}: run '{parts[0].Trim()}' is already given a series");
        }
        return new ScalingSeries($"from {path}", (names, _) => names.Select(n => table.GetValueOrDefault(n)).FirstOrDefault(s => s is not null));
    }

    /// <summary>The names a run is known by: its folder, the folder's name, its model's name and hub id or path.</summary>
    public static string[] NamesOf(RunRecord run) =>
        [run.Name, run.ModelId, run.Folder, Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Folder))];
}
