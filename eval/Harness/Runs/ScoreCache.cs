using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Eval.Harness.Runs;

/// <summary>The stored outcome of one example under one (model, task, subset, split, template, scoring).</summary>
public sealed record CachedScore(int DocId, int Prediction, int Gold, double[] Scores, bool Truncated, string Prompt, IReadOnlyList<string> Choices, int[] ChoiceLengths);

/// <summary>Scores of one (task, subset, split, template): a part of a batch that spans several groups.</summary>
public sealed record ScoreCacheRows(string Task, string Subset, string Split, string Template, IReadOnlyCollection<CachedScore> Scores);

/// <summary>
/// Per-example scores in SQLite, keyed by model fingerprint, task, subset, split, template fingerprint and document.
/// Each batch is one transaction (WAL journal), so a killed run keeps every batch it finished and repeats none. One
/// statement runs at a time: the runner loads on its scoring thread while its store thread stores.
/// </summary>
public sealed class ScoreCache : IDisposable
{
    private readonly SqliteConnection connection;
    private readonly Lock statement = new();

    public ScoreCache(string path)
    {
        SQLitePCL.Batteries_V2.Init();
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Path = path;
        // 10 s per attempt (busy_timeout below, and the provider's own retries): Store reports each one it waits through.
        connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 10 }.ToString());
        connection.Open();
        Execute("PRAGMA journal_mode=WAL;");
        Execute("PRAGMA synchronous=NORMAL;");
        Execute("PRAGMA busy_timeout=10000;");
        Execute("""
            CREATE TABLE IF NOT EXISTS scores (
                model TEXT NOT NULL, task TEXT NOT NULL, subset TEXT NOT NULL, split TEXT NOT NULL, template TEXT NOT NULL,
                doc_id INTEGER NOT NULL, prediction INTEGER NOT NULL, gold INTEGER NOT NULL, scores TEXT NOT NULL,
                truncated INTEGER NOT NULL, prompt TEXT NOT NULL, choices TEXT NOT NULL, choice_lengths TEXT NOT NULL,
                PRIMARY KEY (model, task, subset, split, template, doc_id));
            """);
    }

    public string Path { get; }

    public Dictionary<int, CachedScore> Load(string model, string task, string subset, string split, string template)
    {
        lock (statement) return LoadOnce(model, task, subset, split, template);
    }

    private Dictionary<int, CachedScore> LoadOnce(string model, string task, string subset, string split, string template)
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT doc_id, prediction, gold, scores, truncated, prompt, choices, choice_lengths FROM scores
            WHERE model = $model AND task = $task AND subset = $subset AND split = $split AND template = $template
            """;
        AddKey(command, model, task, subset, split, template);
        var result = new Dictionary<int, CachedScore>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var score = new CachedScore(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2),
                JsonSerializer.Deserialize<double[]>(reader.GetString(3))!, reader.GetInt32(4) != 0, reader.GetString(5),
                JsonSerializer.Deserialize<string[]>(reader.GetString(6))!, JsonSerializer.Deserialize<int[]>(reader.GetString(7))!);
            result[score.DocId] = score;
        }
        return result;
    }

    /// <summary>How long <see cref="Store"/> waits for another process's write lock before it gives up.</summary>
    public TimeSpan LockWaitLimit { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Stores a batch's scores in one transaction. While another process holds the cache's write lock this waits (SQLite
    /// retries for 10 s at a time; each time still locked is reported to <paramref name="waiting"/>) and gives up with an
    /// IOException naming the file after <see cref="LockWaitLimit"/>, rather than failing the run at the first 10 s.
    /// </summary>
    public void Store(string model, string task, string subset, string split, string template, IEnumerable<CachedScore> scores,
        Action<string>? waiting = null) =>
        Store(model, [new ScoreCacheRows(task, subset, split, template, scores as IReadOnlyCollection<CachedScore> ?? scores.ToList())], waiting);

    /// <summary>Stores a batch whose prompts come from several groups in one transaction, waiting for another process's lock as above.</summary>
    public void Store(string model, IReadOnlyList<ScoreCacheRows> parts, Action<string>? waiting = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                lock (statement) StoreOnce(model, parts);
                return;
            }
            catch (SqliteException e) when (e.SqliteErrorCode is SqliteBusy or SqliteLocked)
            {
                if (clock.Elapsed >= LockWaitLimit)
                    throw new IOException($"{Path}: locked by another process for {clock.Elapsed.TotalMinutes:0} minutes; the scores of this batch were not stored", e);
                waiting?.Invoke($"{Path} is locked by another process; waiting ({clock.Elapsed.TotalSeconds:0} s so far, at most {LockWaitLimit.TotalMinutes:0} min)");
            }
        }
    }

    private const int SqliteBusy = 5, SqliteLocked = 6;

    private void StoreOnce(string model, IReadOnlyList<ScoreCacheRows> parts)
    {
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT OR REPLACE INTO scores (model, task, subset, split, template, doc_id, prediction, gold, scores, truncated, prompt, choices, choice_lengths)
            VALUES ($model, $task, $subset, $split, $template, $doc, $prediction, $gold, $scores, $truncated, $prompt, $choices, $mask)
            """;
        var key = AddKey(command, model, "", "", "", "");
        var doc = command.Parameters.Add("$doc", SqliteType.Integer);
        var prediction = command.Parameters.Add("$prediction", SqliteType.Integer);
        var gold = command.Parameters.Add("$gold", SqliteType.Integer);
        var values = command.Parameters.Add("$scores", SqliteType.Text);
        var truncated = command.Parameters.Add("$truncated", SqliteType.Integer);
        var prompt = command.Parameters.Add("$prompt", SqliteType.Text);
        var choices = command.Parameters.Add("$choices", SqliteType.Text);
        var lengths = command.Parameters.Add("$mask", SqliteType.Text);
        foreach (var (part, s) in parts.SelectMany(p => p.Scores.Select(s => (p, s))))
        {
            (key.Task.Value, key.Subset.Value, key.Split.Value, key.Template.Value) = (part.Task, part.Subset, part.Split, part.Template);
            doc.Value = s.DocId;
            prediction.Value = s.Prediction;
            gold.Value = s.Gold;
            values.Value = JsonSerializer.Serialize(s.Scores.Select(v => double.IsFinite(v) ? v : -1e30));
            truncated.Value = s.Truncated ? 1 : 0;
            prompt.Value = s.Prompt;
            choices.Value = JsonSerializer.Serialize(s.Choices);
            lengths.Value = JsonSerializer.Serialize(s.ChoiceLengths);
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>The model fingerprints the cache holds scores of.</summary>
    public IReadOnlyList<string> Models()
    {
        lock (statement) return ModelsOnce();
    }

    private IReadOnlyList<string> ModelsOnce()
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT model FROM scores ORDER BY model";
        using var reader = command.ExecuteReader();
        var models = new List<string>();
        while (reader.Read()) models.Add(reader.GetString(0));
        return models;
    }

    public long Count()
    {
        lock (statement)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM scores";
                return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
    }

    private static (SqliteParameter Task, SqliteParameter Subset, SqliteParameter Split, SqliteParameter Template) AddKey(SqliteCommand command,
        string model, string task, string subset, string split, string template)
    {
        command.Parameters.AddWithValue("$model", model);
        return (command.Parameters.AddWithValue("$task", task), command.Parameters.AddWithValue("$subset", subset),
            command.Parameters.AddWithValue("$split", split), command.Parameters.AddWithValue("$template", template));
    }

    private void Execute(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose() => connection.Dispose();
}
