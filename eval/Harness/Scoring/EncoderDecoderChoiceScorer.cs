using Eval.Harness.Decoding;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>
/// Scores <see cref="EncoderDecoderPrompt"/>s with an encoder–decoder LM. Log-likelihood is t-zero's rank classification
/// (t0/model.py, EncoderDecoderModel.forward): each choice's target is the decoder's labels, its input
/// decoder_start_token_id then the target but its last token (transformers' shift right), and the score is the summed
/// log-softmax of the target's tokens (eos included); the prediction is the argmax (acc), and acc_norm divides by the
/// choice's characters. The batch's sources are encoded once, and every choice of a prompt reads that encoding (its
/// cross-attention keys and values) in one decoder pass over all choices. Scores depend on nothing but the prompt:
/// sources are right-padded and masked, targets right-padded behind a causal mask.
/// </summary>
public sealed class EncoderDecoderChoiceScorer : IChoiceScorer
{
    private readonly IEncoderDecoderModel model;
    private readonly Tokenizer? tokenizer;
    private readonly int padId;
    private readonly HashSet<int> stopTokens;
    private IReadOnlyList<IScoredPrompt>? upcoming;

    /// <summary>The tokenizer decodes greedy generations and names the EOS token; log-likelihood and next-token scoring do without.</summary>
    public EncoderDecoderChoiceScorer(ILanguageModel model, Tokenizer? tokenizer, int padId)
    {
        this.model = model as IEncoderDecoderModel
            ?? throw new NotSupportedException($"{model.Config.Path}: {string.Join(", ", model.Config.Architectures)} is {ModelKinds.Describe(model.Kind)}; encoder–decoder scoring needs an encoder–decoder model");
        this.tokenizer = tokenizer;
        this.padId = padId;
        stopTokens = GreedyDecoder.EndOfSequenceTokens(model.Config, tokenizer);
    }

    /// <summary>The modes an encoder–decoder LM is scored by; the first (rank classification) is the default.</summary>
    public static IReadOnlyList<ScoringMode> SupportedModes => ScoringModes.LeftToRight;

    public IReadOnlyList<ScoringMode> Modes => SupportedModes;

    public void Upcoming(IReadOnlyList<IScoredPrompt>? prompts) => upcoming = prompts;

    /// <summary>Encodes this call's sources; while the encoder runs, the next call's sources travel.</summary>
    private EncoderStates EncodeSendingAhead(IReadOnlyList<EncoderDecoderPrompt> prompts)
    {
        var encoder = model.Encode(Sources(prompts));
        if (upcoming?.OfType<EncoderDecoderPrompt>().ToList() is { Count: > 0 } next) model.SendAhead(Sources(next));
        upcoming = null;
        return encoder;
    }

    public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode)
    {
        ScoringModes.Require(this, mode, ModelKinds.Describe(ModelKind.EncoderDecoder));
        var typed = prompts.Select(p => p as EncoderDecoderPrompt
            ?? throw new ArgumentException("the encoder–decoder scorer takes prompts from EncoderDecoderPromptEncoder")).ToList();
        if (typed.Count == 0) return [];
        return mode switch
        {
            ScoringMode.LogLikelihood => RankClassification(typed),
            ScoringMode.NextToken => NextToken(typed),
            _ => Greedy(typed),
        };
    }

    /// <summary>Each choice's summed target log-probability given its prompt; prediction is the argmax.</summary>
    public IReadOnlyList<ChoiceScore> RankClassification(IReadOnlyList<EncoderDecoderPrompt> prompts)
    {
        using var encoder = EncodeSendingAhead(prompts);
        int choicesPerPrompt = prompts.Max(p => p.ChoiceIds.Count);
        // Sequence b·K + c is choice c of prompt b shifted right behind the start token; a prompt with fewer choices gets bare start tokens.
        var sequences = new List<IReadOnlyList<int>>();
        foreach (var p in prompts)
            for (int c = 0; c < choicesPerPrompt; c++)
                sequences.Add(c < p.ChoiceIds.Count ? [model.DecoderStartTokenId, .. p.ChoiceIds[c][..^1]] : [model.DecoderStartTokenId]);
        var targets = TokenBatch.FromSequences(sequences, padId);
        var rows = new List<int>();
        var tokens = new List<int>();
        var owners = new List<(int Prompt, int Choice)>();
        for (int b = 0; b < prompts.Count; b++)
            for (int c = 0; c < prompts[b].ChoiceIds.Count; c++)
            {
                var ids = prompts[b].ChoiceIds[c];
                for (int j = 0; j < ids.Length; j++)
                {
                    rows.Add((b * choicesPerPrompt + c) * targets.Length + j);
                    tokens.Add(ids[j]);
                    owners.Add((b, c));
                }
            }
        var scores = prompts.Select(p => new double[p.ChoiceIds.Count]).ToArray();
        using (var output = model.Decode(targets, encoder))
        {
            var logProbabilities = LogProbabilities.OfTokens(model, output.LastHidden, rows, tokens);
            for (int r = 0; r < rows.Count; r++) scores[owners[r].Prompt][owners[r].Choice] += logProbabilities[r];
        }
        return scores.Select(ChoiceScore.ByArgMax).ToList();
    }

    /// <summary>The log-probability of each choice's first token as the decoder's first output, restricted to the choices.</summary>
    private IReadOnlyList<ChoiceScore> NextToken(IReadOnlyList<EncoderDecoderPrompt> prompts)
    {
        using var encoder = EncodeSendingAhead(prompts);
        var start = new TokenBatch(Enumerable.Repeat(model.DecoderStartTokenId, prompts.Count).ToArray(), Enumerable.Repeat(1, prompts.Count).ToArray(), prompts.Count, 1);
        using var output = model.Decode(start, encoder);
        var rows = prompts.SelectMany((p, b) => p.ChoiceIds.Select(_ => b)).ToList();
        var firstTokens = prompts.SelectMany(p => p.ChoiceIds.Select(ids => ids[0])).ToList();
        var logProbabilities = LogProbabilities.OfTokens(model, output.LastHidden, rows, firstTokens);
        int next = 0;
        return prompts.Select(p => ChoiceScore.ByArgMax(p.ChoiceIds.Select(_ => logProbabilities[next++]).ToArray())).ToList();
    }

    /// <summary>Greedy generation from the decoder's start token up to a stop token; the choice equal to the trimmed text scores 1 and is the prediction.</summary>
    private IReadOnlyList<ChoiceScore> Greedy(IReadOnlyList<EncoderDecoderPrompt> prompts)
    {
        var tokenizer = this.tokenizer ?? throw new InvalidOperationException("greedy scoring decodes the generated text and needs the tokenizer");
        int budget = prompts.Max(p => p.ChoiceIds.Max(c => c.Length)) + 8;
        var outputs = new GreedyDecoder(model, padId).Generate(prompts.Select(p => p.SourceIds).ToList(), budget, stopTokens);
        return prompts.Select((p, b) => ChoiceScore.OfGeneratedText(tokenizer.Decode(outputs[b].Tokens, skipSpecialTokens: true), p.Choices)).ToList();
    }

    private TokenBatch Sources(IReadOnlyList<EncoderDecoderPrompt> prompts) =>
        TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p.SourceIds).ToList(), padId);
}
