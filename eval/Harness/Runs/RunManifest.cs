using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Eval.Harness.Data;

namespace Eval.Harness.Runs;

/// <summary>
/// run.json as one typed record: what `eval` writes (<see cref="ResultWriter"/>), what `merge` reads back from each shard
/// (<see cref="RunMerger"/>) and what `report`, `compare` and `scaling` read (Reports.RunRecord). The field names are the
/// file's (snake_case, <see cref="RunManifestJson"/>); properties are written in declaration order, so a run.json
/// read and written again keeps its bytes. Only `model.id` and `options.scoring` must be present: run folders written by
/// older versions (or by hand, as the report tests do) lack the rest; a reader that needs more says which field is missing.
/// </summary>
public sealed record RunManifest
{
    public required RunModelEntry Model { get; init; }
    public RunTokenizerEntry? Tokenizer { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? GitCommit { get; init; }
    public RunVersionsEntry? Versions { get; init; }
    public string? Device { get; init; }
    public RunMachineEntry? Machine { get; init; }
    public required RunOptionsEntry Options { get; init; }
    public IReadOnlyList<RunTaskEntry>? Tasks { get; init; }
    public RunTimingsEntry? Timings { get; init; }

    /// <summary>The whole run's plan (runs since sharding was added): what `merge` rebuilds the run from.</summary>
    public PlanEntry? Plan { get; init; }

    /// <summary>The part of the plan this run evaluated, when it was one shard of it.</summary>
    public ShardEntry? Shard { get; init; }

    /// <summary>The shard folders a merged run was assembled from.</summary>
    public IReadOnlyList<string>? MergedFrom { get; init; }

    /// <summary>The contract, indented as the files always were, with non-ASCII text (model paths, template names) written as itself.</summary>
    private static readonly RunManifestJson Json = new(new JsonSerializerOptions(RunManifestJson.Default.Options)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Reads a run.json; anything that is not one (not JSON, a required field missing, a field of the wrong kind) is a FormatException naming the file.</summary>
    public static RunManifest Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), Json.RunManifest)
                   ?? throw new FormatException("null instead of an object");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            throw new FormatException($"{path}: not a run.json this program wrote ({e.Message})", e);
        }
    }

    /// <summary>The file's text: indented, non-ASCII text as itself.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json.RunManifest);

    /// <summary>
    /// The fields `eval` always writes that this file lacks (those that older versions did not write included): what
    /// a reader that needs the whole record, like `merge`, refuses a file for.
    /// </summary>
    public IReadOnlyList<string> MissingFields()
    {
        var missing = new List<string>();
        void Check(object? value, string field)
        {
            if (value is null) missing.Add(field);
        }
        Check(Model.Path, "model.path");
        Check(Model.Architecture, "model.architecture");
        Check(Model.Fingerprint, "model.fingerprint");
        Check(Model.WeightsSha256, "model.weights_sha256");
        Check(Tokenizer, "tokenizer");
        Check(Versions, "versions");
        Check(Device, "device");
        Check(Machine, "machine");
        Check(Options.BatchSize, "options.batch_size");
        Check(Options.MaxLength, "options.max_length");
        Check(Options.SampleText, "options.sample_text");
        Check(Options.CommandLine, "options.command_line");
        Check(Tasks, "tasks");
        Check(Timings, "timings");
        if (Timings is { } t && !DateTime.TryParse(t.StartedUtc, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
            missing.Add($"timings.started_utc as a time (it is '{t.StartedUtc}')");
        return missing;
    }

    /// <summary>When the run started (timings.started_utc); <see cref="MissingFields"/> says whether it can be read.</summary>
    public DateTime StartedUtc() =>
        DateTime.Parse(Timings?.StartedUtc ?? throw new FormatException("run.json has no timings"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}

/// <summary>run.json's "model": the model as given, where it was loaded from, and what identifies its weights.</summary>
public sealed record RunModelEntry
{
    public required string Id { get; init; }
    public string? Path { get; init; }
    public string? Architecture { get; init; }
    public long Parameters { get; init; }
    public string? Fingerprint { get; init; }
    public IReadOnlyDictionary<string, string>? WeightsSha256 { get; init; }

    /// <summary>The model's config.json as it was (null for a fairseq folder, whose config is synthesised from the checkpoint).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public JsonNode? Config { get; init; }
}

public sealed record RunTokenizerEntry(string Path, string Sha256);

public sealed record RunVersionsEntry(string Dotnet, string Os, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Harness);

public sealed record RunMachineEntry(int Cores, string Arch);

/// <summary>run.json's "options": how the run scored; SampleText is absent in runs older than --no-sample-text (they kept the text).</summary>
public sealed record RunOptionsEntry
{
    public required string Scoring { get; init; }
    public int? BatchSize { get; init; }
    public int? MaxLength { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public int? Limit { get; init; }
    public bool? SampleText { get; init; }
    public IReadOnlyList<string>? CommandLine { get; init; }
}

/// <summary>
/// A data file a run read: where, in which reader format, and its sha256; a hub dataset's file (in "tasks", not in the
/// plan) also names its repository file and whether the task file pins its sha256.
/// </summary>
public sealed record DataFileEntry(string Path, string Format, string Sha256)
{
    public string? HubFile { get; init; }
    public bool? Sha256Pinned { get; init; }

    public static DataFileEntry Of(LoadedSplit split) =>
        new(split.Path, split.Format, split.Sha256) { HubFile = split.HubFile, Sha256Pinned = split.Sha256Pinned };
}

/// <summary>One task of a run: its definition file, split, the subsets and templates evaluated, their data, and the seconds spent.</summary>
public sealed record RunTaskEntry(string Task, string File, string Split, double Seconds, IReadOnlyList<string> Subsets, IReadOnlyList<string> Templates,
    IReadOnlyDictionary<string, DataFileEntry> Data);

public sealed record RunTimingsEntry
{
    /// <summary>The start in round-trip format ("O"); kept as text so a file read and written again keeps its digits.</summary>
    public required string StartedUtc { get; init; }
    public double Seconds { get; init; }
    public long Examples { get; init; }
    public long Scored { get; init; }
    public long FromCache { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public double? ScoredPerSecond { get; init; }

    /// <summary>Batches the model ran (a merged run: its shards' together; a batch two shards share counts in each); absent in older runs.</summary>
    public long? Batches { get; init; }

    /// <summary>The prompt tokens of those batches (every prompt of a batch, those stored for another shard included).</summary>
    public long? BatchedTokens { get; init; }

    /// <summary>The padding the batches carried: count × longest prompt less the prompt tokens, summed over batches.</summary>
    public long? PaddingTokens { get; init; }

    /// <summary>PaddingTokens ÷ (BatchedTokens + PaddingTokens): the share of the model's token slots that was padding.</summary>
    public double? PaddingShare { get; init; }

    /// <summary>BatchedTokens ÷ Seconds: prompt tokens through the model per second of the run, load excluded.</summary>
    public double? TokensPerSecond { get; init; }

    /// <summary>
    /// What the GPU backend did while the run scored, from the first batch to the last (<see cref="Engine.Gpu.DeviceWork"/>;
    /// a merged run: its shards' summed); absent on the CPU backend and in older runs.
    /// </summary>
    public Engine.Gpu.DeviceWork? DeviceWork { get; init; }

    /// <summary>The batching tally these fields record (none for a run written before they were).</summary>
    public BatchingTally Batching() => new(Batches ?? 0, 0, BatchedTokens ?? 0, (BatchedTokens ?? 0) + (PaddingTokens ?? 0));

    /// <summary>These timings with a tally's fields filled in (tokens per second over <see cref="Seconds"/>).</summary>
    public RunTimingsEntry WithBatching(BatchingTally batching) => this with
    {
        Batches = batching.Batches, BatchedTokens = batching.Tokens, PaddingTokens = batching.Slots - batching.Tokens,
        PaddingShare = Math.Round(batching.PaddingShare, 4), TokensPerSecond = Seconds > 0 ? Math.Round(batching.Tokens / Seconds, 1) : null,
    };
}

/// <summary>run.json's "plan" (<see cref="RunPlan"/>): the tasks with their data, and every group's cache key and documents ("0-4,7").</summary>
public sealed record PlanEntry(string Fingerprint, long Units, IReadOnlyList<PlanTaskEntry> Tasks, IReadOnlyList<PlanGroupEntry> Groups);

public sealed record PlanTaskEntry(string Task, string Split, IReadOnlyList<string> Subsets, IReadOnlyList<string> Templates, IReadOnlyDictionary<string, DataFileEntry> Data);

public sealed record PlanGroupEntry(string Task, string Subset, string Split, string Template, string Key, string Documents);

/// <summary>run.json's "shard" (<see cref="ShardAssignment"/>): shard Index of Count, plan positions [FirstUnit, EndUnit), its tokens and the plan's.</summary>
public sealed record ShardEntry(int Index, int Count, long FirstUnit, long EndUnit, long Units, long Tokens, long PlanTokens);

/// <summary>
/// The run.json contract, generated at compile time: snake_case names, null members left out unless marked otherwise
/// (git_commit, limit, config, harness and scored_per_second are always written), nulls refused where a field is not
/// nullable, unknown fields skipped (a newer version's additions).
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(RunManifest))]
public sealed partial class RunManifestJson : JsonSerializerContext;
