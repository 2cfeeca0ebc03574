using Eval.Engine;
using Eval.Models;

namespace Eval.Harness.Decoding;

/// <summary>Where a masked LM's target goes.</summary>
public enum MaskPredictLayout
{
    /// <summary>One sequence, prefix · [MASK]×L · suffix, attended bidirectionally (ModernBERT-Instruct's prompt ending in the answer masks).</summary>
    Appended,

    /// <summary>
    /// Instruct-XLMR's: source, then the target &lt;s&gt; [MASK]×L &lt;/s&gt; whose positions count from pad+1 again; the source
    /// cannot see the target, so it runs once into a cache and every iteration runs only the target.
    /// </summary>
    SourceTarget,
}

/// <summary>One prompt: the tokens before the target (the source), and for <see cref="MaskPredictLayout.Appended"/> those after it.</summary>
public sealed record MaskPredictInput(int[] Prefix, int[] Suffix);

/// <summary>
/// The generated target: L tokens, each with the log-probability it had in the iteration that last predicted it,
/// and how many iterations and forward passes it took.
/// </summary>
public sealed record MaskPredictOutput(int[] Tokens, float[] LogProbabilities, int Iterations, int ForwardPasses);

/// <summary>
/// Mask-Predict (Ghazvininejad et al., 2019, "Mask-Predict: Parallel Decoding of Conditional Masked Language Models"):
/// the L target positions start masked; for t = 1..T every masked position takes its argmax token and that token's
/// log-probability, and unless t = T the n = ⌊L·(T−t)/T⌋ positions with the lowest log-probabilities are masked again
/// (ties: the earlier position first). Length: given, or Instruct-XLMR's length head.
/// </summary>
public sealed class MaskPredictDecoder
{
    private readonly ILanguageModel model;
    private readonly int maskId, padId;
    private readonly int? bosId, eosId;

    public MaskPredictDecoder(ILanguageModel model, int maskId, int padId, int? bosId = null, int? eosId = null)
    {
        if (model.Kind is not (ModelKind.Masked or ModelKind.SourceTarget))
            throw new NotSupportedException($"{model.Config.Path}: {Scoring.ModelKinds.Describe(model.Kind)} generates left to right; Mask-Predict needs a masked LM");
        this.model = model;
        this.maskId = maskId;
        this.padId = padId;
        this.bosId = bosId;
        this.eosId = eosId;
    }

    /// <summary>Generates one target per input; lengths[i] is target i's length in tokens, or null for the length head.</summary>
    public IReadOnlyList<MaskPredictOutput> Decode(IReadOnlyList<MaskPredictInput> inputs, int iterations, IReadOnlyList<int>? lengths,
        MaskPredictLayout layout)
    {
        if (iterations < 1) throw new ArgumentException($"Mask-Predict needs at least 1 iteration, got {iterations}");
        if (inputs.Count == 0) return [];
        if (lengths is not null && lengths.Count != inputs.Count)
            throw new ArgumentException($"{lengths.Count} target lengths for {inputs.Count} inputs");
        if (lengths is not null && lengths.Any(l => l < 0))
            throw new ArgumentException($"target lengths must not be negative, got [{string.Join(", ", lengths)}]");
        return layout switch
        {
            MaskPredictLayout.Appended => DecodeAppended(inputs, iterations, lengths ?? throw new ArgumentException(
                $"{model.Config.Path}: the appended layout has no length head; give the target length (--length)")),
            _ => DecodeSourceTarget(inputs, iterations, lengths),
        };
    }

    private IReadOnlyList<MaskPredictOutput> DecodeAppended(IReadOnlyList<MaskPredictInput> inputs, int iterations, IReadOnlyList<int> lengths)
    {
        var states = inputs.Select((input, i) => new TargetState(lengths[i])).ToArray();
        int longest = inputs.Select((input, i) => input.Prefix.Length + lengths[i] + input.Suffix.Length).Max();
        if (longest > model.MaxSequenceLength)
            throw new ArgumentException($"prompt and target need {longest} tokens; the model takes {model.MaxSequenceLength}");
        int forwards = 0, t = 1;
        for (; t <= iterations && states.Any(s => s.AnyMasked); t++)
        {
            var sequences = inputs.Select((input, i) => (IReadOnlyList<int>)[.. input.Prefix, .. states[i].Tokens(maskId), .. input.Suffix]).ToList();
            var batch = TokenBatch.FromSequences(sequences, padId);
            using var output = model.Forward(batch);
            forwards++;
            PredictAndRemask(output.LastHidden, states, i => i * batch.Length + inputs[i].Prefix.Length, t, iterations);
        }
        return states.Select(s => s.Finish(t - 1, forwards)).ToList();
    }

    private IReadOnlyList<MaskPredictOutput> DecodeSourceTarget(IReadOnlyList<MaskPredictInput> inputs, int iterations, IReadOnlyList<int>? lengths)
    {
        if (model is not ISourceTargetModel sourceTarget)
            throw new NotSupportedException($"{model.Config.Path}: {model.Config.ModelType} does not run the source-then-target layout; use the appended layout");
        if (bosId is not { } bos || eosId is not { } eos)
            throw new ArgumentException("the source-then-target layout needs the tokenizer's <s> and </s> ids");
        if (inputs.Any(i => i.Suffix.Length > 0))
            throw new ArgumentException("the source-then-target layout takes no suffix after the source");
        var source = TokenBatch.FromSequences(inputs.Select(i => (IReadOnlyList<int>)i.Prefix).ToList(), padId);
        if (source.Length > model.MaxSequenceLength)
            throw new ArgumentException($"a source of {source.Length} tokens exceeds the model's {model.MaxSequenceLength} positions");

        // The length head reads the source's final states; the cache is sized once the lengths are known, so the source
        // runs a second time into it (counted among the forward passes).
        int forwards = 0;
        var targetLengths = lengths?.ToArray() ?? PredictLengths(sourceTarget, source, ref forwards);
        int longestTarget = targetLengths.Max() + 2;
        if (longestTarget > model.MaxSequenceLength)
            throw new ArgumentException($"a target of {longestTarget} tokens exceeds the model's {model.MaxSequenceLength} positions");
        using var cache = sourceTarget.CreateCache(source.Batch, source.Length + longestTarget);
        using (sourceTarget.Forward(source, cache, append: true)) { }
        forwards++;
        int t = 1;

        var states = targetLengths.Select(n => new TargetState(n)).ToArray();
        for (; t <= iterations && states.Any(s => s.AnyMasked); t++)
        {
            var targets = states.Select(s => (IReadOnlyList<int>)[bos, .. s.Tokens(maskId), eos]).ToList();
            var batch = TokenBatch.FromSequences(targets, padId);
            using var output = sourceTarget.Forward(batch, cache, append: false);
            forwards++;
            PredictAndRemask(output.LastHidden, states, i => i * batch.Length + 1, t, iterations);
        }
        return states.Select(s => s.Finish(t - 1, forwards)).ToList();
    }

    /// <summary>Target lengths without &lt;s&gt; and &lt;/s&gt; from the checkpoint's length head.</summary>
    private int[] PredictLengths(ISourceTargetModel sourceTarget, TokenBatch source, ref int forwards)
    {
        if (!sourceTarget.HasLengthHead)
            throw new ArgumentException($"{model.Config.Path}: the checkpoint has no length head (embed_length.weight); give the target length (--length)");
        using var output = sourceTarget.Forward(source);
        forwards++;
        return sourceTarget.PredictTargetLengths(output.LastHidden, source)!.Select(n => Math.Max(n, 2) - 2).ToArray();
    }

    /// <summary>Fills every masked position with its argmax, then re-masks the lowest-scoring ones unless this was the last iteration.</summary>
    private void PredictAndRemask(Tensor hidden, TargetState[] states, Func<int, int> firstTargetRow, int iteration, int iterations)
    {
        var rows = new List<int>();
        var owners = new List<(int Sequence, int Position)>();
        for (int i = 0; i < states.Length; i++)
            foreach (int p in states[i].MaskedPositions())
            {
                rows.Add(firstTargetRow(i) + p);
                owners.Add((i, p));
            }
        if (rows.Count == 0) return;
        var logits = model.SummarizeLogits(hidden, rows.ToArray());
        for (int r = 0; r < rows.Count; r++)
            states[owners[r].Sequence].Set(owners[r].Position, logits.ArgMax[r], (float)logits.BestLogProbability(r));
        if (iteration < iterations)
            foreach (var s in states) s.Remask(s.Length * (iterations - iteration) / iterations);
    }

    /// <summary>One target: its tokens, their log-probabilities, and which positions are masked.</summary>
    private sealed class TargetState(int length)
    {
        private readonly int[] tokens = new int[length];
        private readonly float[] scores = new float[length];
        private readonly bool[] masked = Enumerable.Repeat(true, length).ToArray();

        public int Length => length;
        public bool AnyMasked => masked.Contains(true);

        public IEnumerable<int> MaskedPositions() => Enumerable.Range(0, length).Where(p => masked[p]);

        public int[] Tokens(int maskId) => Enumerable.Range(0, length).Select(p => masked[p] ? maskId : tokens[p]).ToArray();

        public void Set(int position, int token, float logProbability)
        {
            tokens[position] = token;
            scores[position] = logProbability;
            masked[position] = false;
        }

        public void Remask(int count)
        {
            foreach (int p in Enumerable.Range(0, length).OrderBy(p => scores[p]).ThenBy(p => p).Take(count))
                masked[p] = true;
        }

        public MaskPredictOutput Finish(int iterations, int forwards) => new(tokens, scores, iterations, forwards);
    }
}
