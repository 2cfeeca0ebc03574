using Eval.Engine;
using Eval.Harness.Decoding;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>
/// Scores <see cref="CausalPrompt"/>s with a decoder-only model through its KV cache. The batch's contexts run once,
/// right-padded, each at its own positions; log-likelihood then copies each context's cache once per choice and runs
/// all continuations together, so a shared prefix is computed once however many choices follow it.
/// </summary>
public sealed class CausalChoiceScorer : IChoiceScorer
{
    private readonly ICausalLanguageModel model;
    private readonly Tokenizer? tokenizer;
    private readonly int padId;
    private readonly HashSet<int> stopTokens;
    private IReadOnlyList<IScoredPrompt>? upcoming;

    /// <summary>The tokenizer decodes greedy generations and names the EOS token; log-likelihood and next-token scoring do without.</summary>
    public CausalChoiceScorer(ILanguageModel model, Tokenizer? tokenizer, int padId)
    {
        this.model = model as ICausalLanguageModel
            ?? throw new NotSupportedException($"{model.Config.Path}: {string.Join(", ", model.Config.Architectures)} is {ModelKinds.Describe(model.Kind)}; causal scoring needs a decoder-only model");
        this.tokenizer = tokenizer;
        this.padId = padId;
        stopTokens = GreedyDecoder.EndOfSequenceTokens(model.Config, tokenizer);
    }

    /// <summary>The modes a causal LM is scored by; the first is the default.</summary>
    public static IReadOnlyList<ScoringMode> SupportedModes => ScoringModes.LeftToRight;

    public IReadOnlyList<ScoringMode> Modes => SupportedModes;

    public void Upcoming(IReadOnlyList<IScoredPrompt>? prompts) => upcoming = prompts;

    /// <summary>After this call's first forward is enqueued: the next call's contexts travel while it runs.</summary>
    private void SendUpcomingAhead()
    {
        if (upcoming?.OfType<CausalPrompt>().ToList() is { Count: > 0 } next) model.SendAhead(Contexts(next));
        upcoming = null;
    }

    public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode)
    {
        ScoringModes.Require(this, mode, "a causal LM");
        var causal = prompts.Select(p => p as CausalPrompt ?? throw new ArgumentException("the causal scorer takes prompts from CausalPromptEncoder")).ToList();
        return mode switch
        {
            ScoringMode.LogLikelihood => LogLikelihoods(causal),
            ScoringMode.NextToken => NextToken(causal),
            _ => Greedy(causal),
        };
    }

    /// <summary>Summed log-probability of each choice's continuation given the context; prediction is the argmax (acc).</summary>
    public IReadOnlyList<ChoiceScore> LogLikelihoods(IReadOnlyList<CausalPrompt> prompts)
    {
        int choicesPerPrompt = prompts.Max(p => p.ChoiceIds.Count);
        int longestChoice = prompts.Max(p => p.ChoiceIds.Max(c => c.Length));
        var contexts = Contexts(prompts);
        using var cache = model.CreateCache(prompts.Count, contexts.Length);
        var scores = FirstTokenScores(prompts, contexts, cache);
        if (longestChoice == 1) return scores.Select(ChoiceScore.ByArgMax).ToList();

        // Sequence b·K + c continues context b with choice c's tokens but its last (which nothing after it predicts).
        int steps = longestChoice - 1;
        using var branches = cache.Repeat(choicesPerPrompt, contexts.Length + steps);
        var sequences = new List<IReadOnlyList<int>>();
        for (int b = 0; b < prompts.Count; b++)
            for (int c = 0; c < choicesPerPrompt; c++)
                sequences.Add(c < prompts[b].ChoiceIds.Count ? prompts[b].ChoiceIds[c][..^1] : []);
        var continuation = TokenBatch.FromSequences(sequences, padId);   // [B·K, steps]
        var rows = new List<int>();
        var targets = new List<(int Prompt, int Choice, int Token)>();
        for (int b = 0; b < prompts.Count; b++)
            for (int c = 0; c < prompts[b].ChoiceIds.Count; c++)
            {
                var ids = prompts[b].ChoiceIds[c];
                for (int j = 1; j < ids.Length; j++)
                {
                    rows.Add((b * choicesPerPrompt + c) * steps + j - 1);
                    targets.Add((b, c, ids[j]));
                }
            }
        using (var output = model.Forward(continuation, branches))
        {
            var logProbabilities = LogProbabilities.OfTokens(model, output.LastHidden, rows, targets.Select(t => t.Token).ToList());
            for (int r = 0; r < rows.Count; r++)
                scores[targets[r].Prompt][targets[r].Choice] += logProbabilities[r];
        }
        return scores.Select(ChoiceScore.ByArgMax).ToList();
    }

    private IReadOnlyList<ChoiceScore> NextToken(IReadOnlyList<CausalPrompt> prompts) =>
        FirstTokenScores(prompts, Contexts(prompts), cache: null).Select(ChoiceScore.ByArgMax).ToList();

    private TokenBatch Contexts(IReadOnlyList<CausalPrompt> prompts) =>
        TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p.ContextIds).ToList(), padId);

    /// <summary>Runs the contexts (into cache, when given): the last context token's log-probability of each choice's first token.</summary>
    private double[][] FirstTokenScores(IReadOnlyList<CausalPrompt> prompts, TokenBatch contexts, KvCache? cache)
    {
        using var output = cache is null ? model.Forward(contexts) : model.Forward(contexts, cache);
        SendUpcomingAhead();
        // Row b asks for prompt b's choices' first tokens, padded to the batch's most choices with its first.
        int perRow = prompts.Max(p => p.ChoiceIds.Count);
        var firstTokens = new int[prompts.Count * perRow];
        for (int b = 0; b < prompts.Count; b++)
            for (int c = 0; c < perRow; c++)
                firstTokens[b * perRow + c] = prompts[b].ChoiceIds[Math.Min(c, prompts[b].ChoiceIds.Count - 1)][0];
        var logits = model.SummarizeLogits(output.LastHidden,
            prompts.Select((p, b) => b * contexts.Length + p.ContextIds.Length - 1).ToArray(), firstTokens);
        return prompts.Select((p, b) => Enumerable.Range(0, p.ChoiceIds.Count).Select(c => logits.LogProbability(b, c)).ToArray()).ToArray();
    }

    /// <summary>Greedy generation up to a stop token or a line break; the choice equal to the trimmed first line scores 1 and is the prediction.</summary>
    private IReadOnlyList<ChoiceScore> Greedy(IReadOnlyList<CausalPrompt> prompts)
    {
        var tokenizer = this.tokenizer ?? throw new InvalidOperationException("greedy scoring decodes the generated text and needs the tokenizer");
        int budget = prompts.Max(p => p.ChoiceIds.Max(c => c.Length)) + 8;
        var outputs = new GreedyDecoder(model, padId).Generate(prompts.Select(p => p.ContextIds).ToList(), budget, stopTokens,
            tokens => tokenizer.Decode(tokens, skipSpecialTokens: true).TrimStart().Contains('\n'));
        return prompts.Select((p, b) => ChoiceScore.OfGeneratedText(tokenizer.Decode(outputs[b].Tokens, skipSpecialTokens: true).Split('\n')[0], p.Choices)).ToList();
    }

}
