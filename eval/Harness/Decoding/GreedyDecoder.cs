using Eval.Tokenizers;
using Eval.Models;

namespace Eval.Harness.Decoding;

/// <summary>What greedy decoding produced for one prompt, and why it stopped.</summary>
public sealed record GreedyOutput(int[] Tokens, bool Stopped);

/// <summary>
/// Autoregressive greedy decoding through the KV cache: the prompts run once (right-padded, each at its own positions),
/// then every step feeds each unfinished sequence its last argmax token. A sequence finishes at a stop token (not kept)
/// or when stopWhen says so (given the tokens so far), and the batch ends when all have finished or maxNewTokens are out.
/// </summary>
public sealed class GreedyDecoder(ICausalLanguageModel model, int padId)
{
    /// <summary>The tokens that end a generation: config.json's eos_token_id(s) and the tokenizer's EOS.</summary>
    public static HashSet<int> EndOfSequenceTokens(ModelConfig config, Tokenizer? tokenizer)
    {
        HashSet<int> stops = [.. config.EosTokenIds];
        if (tokenizer?.Specials.Eos is { } eos && tokenizer.TokenToId(eos) is { } eosId) stops.Add(eosId);
        return stops;
    }

    public IReadOnlyList<GreedyOutput> Generate(IReadOnlyList<int[]> prompts, int maxNewTokens, IReadOnlySet<int> stopTokens,
        Func<IReadOnlyList<int>, bool>? stopWhen = null)
    {
        if (maxNewTokens < 1) throw new ArgumentException($"greedy decoding needs at least 1 new token, got {maxNewTokens}");
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("a prompt for greedy decoding is empty; it needs at least a BOS token");
        var batch = TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p).ToList(), padId);
        int capacity = batch.Length + maxNewTokens;
        if (prompts.Max(p => p.Length) + maxNewTokens > model.MaxSequenceLength)
            throw new ArgumentException($"prompt and {maxNewTokens} new tokens exceed the model's {model.MaxSequenceLength} positions");
        using var cache = model.CreateCache(prompts.Count, capacity);
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var finished = new bool[prompts.Count];
        var stopped = new bool[prompts.Count];

        var lastRows = prompts.Select((p, b) => b * batch.Length + p.Length - 1).ToArray();
        var output = model.Forward(batch, cache);
        for (int step = 0; ; step++)
        {
            int[] next;
            using (output)
                next = model.SummarizeLogits(output.LastHidden, lastRows).ArgMax;
            for (int b = 0; b < prompts.Count; b++)
            {
                if (finished[b]) continue;
                if (stopTokens.Contains(next[b])) { finished[b] = stopped[b] = true; continue; }
                generated[b].Add(next[b]);
                if (stopWhen?.Invoke(generated[b]) == true) finished[b] = stopped[b] = true;
            }
            if (finished.All(f => f) || step + 1 >= maxNewTokens) break;
            var ids = Enumerable.Range(0, prompts.Count).Select(b => finished[b] ? padId : next[b]).ToArray();
            var mask = finished.Select(f => f ? 0 : 1).ToArray();
            var stepBatch = new TokenBatch(ids, mask, prompts.Count, 1);
            lastRows = Enumerable.Range(0, prompts.Count).ToArray();
            output = model.Forward(stepBatch, cache);
        }
        return generated.Select((g, b) => new GreedyOutput(g.ToArray(), stopped[b])).ToList();
    }
}
