using Eval.Harness.Decoding;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>
/// Scores batches of <see cref="MaskedPrompt"/>s with one forward pass each: the logits at the mask rows only go
/// through the head, and only their log-normalisers, argmaxes and the choices' logits come back from the backend
/// (<see cref="ILanguageModel.SummarizeLogits"/>). Choices shorter than the slot are scored on their own tokens, the
/// remaining masks left free.
/// </summary>
public sealed class MaskedChoiceScorer : IChoiceScorer
{
    private readonly ILanguageModel model;
    private readonly int padId;
    private IReadOnlyList<IScoredPrompt>? upcoming;

    /// <summary>
    /// A scorer for model's [MASK] answers. With the tokenizer that encodes the prompts, its mask token must be the id
    /// config.json's mask_token_id names where the config has one (EuroBERT, mmBERT): a prompt whose mask the model was
    /// not trained to fill is refused in one line instead of scored.
    /// </summary>
    public MaskedChoiceScorer(ILanguageModel model, int padId, Tokenizer? tokenizer = null)
    {
        if (model.Kind is not (ModelKind.Masked or ModelKind.SourceTarget))
            throw new NotSupportedException($"{model.Config.Path}: {string.Join(", ", model.Config.Architectures)} is {ModelKinds.Describe(model.Kind)}; single-[MASK] scoring needs a masked LM");
        if (tokenizer?.Specials.Mask is { } mask && tokenizer.TokenToId(mask) is { } maskId
            && model.Config.MaskTokenId is { } configured && maskId != configured)
            throw new ArgumentException(
                $"{tokenizer.Path}: mask token '{mask}' has id {maskId}, but {model.Config.Path} says mask_token_id {configured}: the tokenizer is not this model's");
        this.model = model;
        this.padId = padId;
    }

    /// <summary>The modes a masked LM is scored by; the first is the default.</summary>
    public static IReadOnlyList<ScoringMode> SupportedModes { get; } = [ScoringMode.Restricted, ScoringMode.EvalPy, ScoringMode.Unrestricted];

    public IReadOnlyList<ScoringMode> Modes => SupportedModes;

    public void Upcoming(IReadOnlyList<IScoredPrompt>? prompts) => upcoming = prompts;

    public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode) =>
        Score(prompts.Select(p => p as MaskedPrompt ?? throw new ArgumentException("the masked-LM scorer takes prompts from MaskedPromptEncoder")).ToList(), mode);

    public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<MaskedPrompt> prompts, ScoringMode mode)
    {
        ScoringModes.Require(this, mode, "a masked LM");
        var batch = Batch(prompts);
        var rows = new List<int>();
        var firstRow = new int[prompts.Count];
        for (int b = 0; b < prompts.Count; b++)
        {
            firstRow[b] = rows.Count;
            for (int j = 0; j < prompts[b].MaskLength; j++) rows.Add(b * batch.Length + prompts[b].MaskStart + j);
        }
        using var output = model.Forward(batch);
        // The forward is enqueued: the next batch's inputs travel while it runs.
        if (upcoming?.OfType<MaskedPrompt>().ToList() is { Count: > 0 } next) model.SendAhead(Batch(next));
        upcoming = null;
        // Every id a prompt of the batch may score (its choices' tokens, eval.py's bare first tokens), asked of every mask row:
        // the rows' log-normalisers, argmaxes and these logits are all that leave the backend.
        var wanted = new List<int>();
        var column = new Dictionary<int, int>();
        void Want(int id)
        {
            if (id >= 0 && column.TryAdd(id, wanted.Count)) wanted.Add(id);
        }
        foreach (var p in prompts)
            for (int c = 0; c < p.Choices.Count; c++)
            {
                foreach (int id in p.ChoiceIds[c]) Want(id);
                Want(p.BareChoiceFirstIds[c]);
            }
        var ids = new int[rows.Count * wanted.Count];
        for (int r = 0; r < rows.Count; r++) wanted.CopyTo(ids, r * wanted.Count);
        var logits = model.SummarizeLogits(output.LastHidden, rows.ToArray(), ids);

        var results = new ChoiceScore[prompts.Count];
        for (int b = 0; b < prompts.Count; b++)
        {
            var p = prompts[b];
            double LogProb(int position, int token) => logits.LogProbability(firstRow[b] + position, column[token]);
            var scores = new double[p.Choices.Count];
            for (int c = 0; c < scores.Length; c++)
            {
                var choiceIds = p.ChoiceIds[c];
                scores[c] = mode == ScoringMode.EvalPy
                    ? Math.Exp(LogProb(0, choiceIds[0])) + (p.BareChoiceFirstIds[c] is var bare && bare >= 0 && bare != choiceIds[0] ? Math.Exp(LogProb(0, bare)) : 0)
                    : Enumerable.Range(0, choiceIds.Length).Sum(j => LogProb(j, choiceIds[j]));
            }
            int prediction = mode == ScoringMode.Unrestricted ? UnrestrictedChoice(p, b, logits, firstRow) : LogProbabilities.ArgMax(scores);
            results[b] = new ChoiceScore(prediction, scores);
        }
        return results;
    }

    private TokenBatch Batch(IReadOnlyList<MaskedPrompt> prompts) =>
        TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p.Ids).ToList(), padId);

    private static int UnrestrictedChoice(MaskedPrompt p, int b, Engine.LogitSummary logits, int[] firstRow)
    {
        var best = Enumerable.Range(0, p.MaskLength).Select(j => logits.ArgMax[firstRow[b] + j]).ToArray();
        for (int c = 0; c < p.Choices.Count; c++)
        {
            var ids = p.ChoiceIds[c];
            if (Enumerable.Range(0, ids.Length).All(j => best[j] == ids[j])) return c;
            if (ids.Length == 1 && best[0] == p.BareChoiceFirstIds[c]) return c;
        }
        return -1;
    }
}
