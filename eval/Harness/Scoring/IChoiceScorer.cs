using Eval.Harness.Data;

namespace Eval.Harness.Scoring;

/// <summary>How a model's outputs pick one of an example's answer choices.</summary>
public enum ScoringMode
{
    /// <summary>Masked LM: log-probability of each choice's tokens at the masks (full-vocabulary softmax), restricted to the choices; argmax.</summary>
    Restricted,

    /// <summary>Masked LM, ModernBERT-Instruct eval.py: probability of "X" plus that of " X" (first token) at the mask; argmax.</summary>
    EvalPy,

    /// <summary>Masked LM, model card: argmax over the whole vocabulary; a token that is no choice counts as wrong (prediction -1).</summary>
    Unrestricted,

    /// <summary>
    /// Causal LM, lm-evaluation-harness multiple_choice: the summed log-likelihood of each continuation after the
    /// context; encoder–decoder LM, t-zero's rank classification: the summed log-likelihood of each choice (+ eos) as
    /// the decoder's target. acc takes the argmax, acc_norm the argmax of log-likelihood per character of the choice.
    /// </summary>
    LogLikelihood,

    /// <summary>
    /// Causal LM: the log-probability of each choice's first token right after the context (encoder–decoder LM: as the
    /// decoder's first token), restricted to the choices; argmax.
    /// </summary>
    NextToken,

    /// <summary>Causal or encoder–decoder LM: greedy generation until a stop token (or a causal LM's line break); the choice it spells out, or -1.</summary>
    Greedy,
}

/// <summary>One example's outcome: the predicted choice (-1 for none) and a score per choice.</summary>
public sealed record ChoiceScore(int Prediction, double[] Scores)
{
    /// <summary>Greedy scoring's outcome: the choice equal to the trimmed generated text scores 1 and is the prediction (-1 when none is).</summary>
    public static ChoiceScore OfGeneratedText(string text, IReadOnlyList<string> choices)
    {
        var trimmed = text.Trim();
        var scores = choices.Select(c => string.Equals(c.Trim(), trimmed, StringComparison.Ordinal) ? 1.0 : 0.0).ToArray();
        return new ChoiceScore(Array.IndexOf(scores, 1.0), scores);
    }

    /// <summary>A prediction by argmax (the first on ties) over the scores.</summary>
    public static ChoiceScore ByArgMax(double[] scores) => new(Decoding.LogProbabilities.ArgMax(scores), scores);
}

/// <summary>An example rendered and tokenized for one scorer.</summary>
public interface IScoredPrompt
{
    Document Document { get; }
    string Text { get; }
    IReadOnlyList<string> Choices { get; }
    int Gold { get; }
    bool Truncated { get; }

    /// <summary>Tokens of the prompt as the model sees it (for batching by length).</summary>
    int TokenCount { get; }

    /// <summary>Each choice's tokens as scored.</summary>
    IReadOnlyList<int[]> ChoiceIds { get; }
}

/// <summary>Scores batches of prompts made by its model kind's encoder (<see cref="MaskedPromptEncoder"/>, <see cref="CausalPromptEncoder"/>).</summary>
public interface IChoiceScorer
{
    /// <summary>The scoring modes this scorer implements; the first is the default.</summary>
    IReadOnlyList<ScoringMode> Modes { get; }

    IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode);

    /// <summary>
    /// The prompts the next <see cref="Score"/> call after this one will be given (null: none known). A scorer may send
    /// their inputs to the device while it scores the coming call's batch (<see cref="Models.ILanguageModel.SendAhead"/>);
    /// no score depends on it.
    /// </summary>
    void Upcoming(IReadOnlyList<IScoredPrompt>? prompts)
    {
    }
}

/// <summary>The command-line names of the scoring modes.</summary>
public static class ScoringModes
{
    public static readonly IReadOnlyList<(string Name, ScoringMode Mode)> Names =
    [
        ("restricted", ScoringMode.Restricted), ("eval-py", ScoringMode.EvalPy), ("unrestricted", ScoringMode.Unrestricted),
        ("loglik", ScoringMode.LogLikelihood), ("next-token", ScoringMode.NextToken), ("greedy", ScoringMode.Greedy),
    ];

    /// <summary>The modes of the kinds that read their answer left to right (causal and encoder–decoder LMs); log-likelihood is the default.</summary>
    public static IReadOnlyList<ScoringMode> LeftToRight { get; } = [ScoringMode.LogLikelihood, ScoringMode.NextToken, ScoringMode.Greedy];

    public static string NameOf(ScoringMode mode) => Names.First(n => n.Mode == mode).Name;

    public static ScoringMode Parse(string name) =>
        Names.FirstOrDefault(n => n.Name == name.Trim().ToLowerInvariant()) is { Name: not null } found
            ? found.Mode
            : throw new ArgumentException($"unknown scoring mode '{name}'; one of: {string.Join(", ", Names.Select(n => n.Name))}");

    public static void Require(IChoiceScorer scorer, ScoringMode mode, string modelKind)
    {
        if (!scorer.Modes.Contains(mode))
            throw new ArgumentException(
                $"scoring mode '{NameOf(mode)}' does not apply to {modelKind}; use one of: {string.Join(", ", scorer.Modes.Select(NameOf))}");
    }
}
