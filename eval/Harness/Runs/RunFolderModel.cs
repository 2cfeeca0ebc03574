namespace Eval.Harness.Runs;

/// <summary>
/// Which model an output folder already holds a run of, so that evaluating another model into it — which would write
/// over that run's results — is refused unless the user says so (eval --force).
/// </summary>
public static class RunFolderModel
{
    /// <summary>
    /// Null when the folder is new or holds a run of this model (same fingerprint: weights, config, tokenizer); otherwise
    /// a sentence naming the model there: run.json's, or — for a run that never finished — the fingerprints in the
    /// folder's score cache (only when <paramref name="scoreCache"/> is that folder's own scores.sqlite).
    /// </summary>
    public static string? Other(string folder, string fingerprint, string? scoreCache)
    {
        var runJson = Path.Combine(folder, "run.json");
        if (File.Exists(runJson))
        {
            RunModelEntry model;
            try
            {
                model = RunManifest.Read(runJson).Model;
            }
            catch (FormatException e)
            {
                return $"{folder} holds a run.json that cannot be read ({e.Message}), so which model it holds is unknown";
            }
            return model.Fingerprint == fingerprint ? null
                : $"{folder} holds a run of {model.Id} (model fingerprint {Short(model.Fingerprint)}; this model's is {Short(fingerprint)})";
        }
        if (scoreCache is null || !File.Exists(scoreCache)) return null;
        using var cache = new ScoreCache(scoreCache);
        var models = cache.Models();
        return models.Count == 0 || models.Contains(fingerprint) ? null
            : $"{scoreCache} holds the scores of another model (model fingerprint {string.Join(", ", models.Select(Short))}) from a run that did not finish; this model's is {Short(fingerprint)}";
    }

    private static string Short(string? fingerprint) => fingerprint is null ? "none" : fingerprint.Length > 12 ? fingerprint[..12] + "…" : fingerprint;
}
