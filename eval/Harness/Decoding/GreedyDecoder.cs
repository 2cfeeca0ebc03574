using Eval.Tokenizers;
using Eval.Models;

namespace Eval.Harness.Decoding;

/// <summary>What greedy decoding produced for one prompt, and why it stopped.</summary>
public sealed record GreedyOutput(int[] Tokens, bool Stopped);

/// <summary>
/// Greedy (argmax) decoding through caches, for a decoder-only model or an encoder–decoder one. A causal LM runs its
/// prompts once (right-padded, each at its own positions) into its KV cache; an encoder–decoder LM encodes the prompts
/// once (the cross-attention keys and values of every decoder layer computed there) and its decoder starts from
/// decoder_start_token_id with a self-attention KV cache. Then every step feeds each unfinished sequence its last
/// argmax token. A sequence finishes at a stop token (not kept) or when stopWhen says so (given the tokens so far), and
/// the batch ends when all have finished or maxNewTokens are out.
/// </summary>
public sealed class GreedyDecoder
{
    private readonly ILanguageModel model;
    private readonly int padId;

    public GreedyDecoder(ILanguageModel model, int padId)
    {
        if (model is not (ICausalLanguageModel or IEncoderDecoderModel))
            throw new NotSupportedException($"{model.Config.Path}: {Scoring.ModelKinds.Describe(model.Kind)} does not generate left to right; greedy decoding needs a causal or an encoder–decoder LM");
        this.model = model;
        this.padId = padId;
    }

    /// <summary>The tokens that end a generation: config.json's eos_token_id(s) and the tokenizer's EOS.</summary>
    public static HashSet<int> EndOfSequenceTokens(ModelConfig config, Tokenizer? tokenizer)
    {
        HashSet<int> stops = [.. config.EosTokenIds];
        if (tokenizer?.Specials.Eos is { } eos && tokenizer.TokenToId(eos) is { } eosId) stops.Add(eosId);
        return stops;
    }

    /// <summary>
    /// A text as the prompt of a generation: for a causal LM the tokenizer's leading special tokens (Llama's &lt;s&gt;) and
    /// the text; for an encoder–decoder LM the encoder input as its tokenizer makes it (T5's ends with &lt;/s&gt;).
    /// </summary>
    public static int[] PromptIds(ILanguageModel model, Tokenizer tokenizer, string text) => model is IEncoderDecoderModel
        ? tokenizer.Encode(text, addSpecialTokens: true).Ids.ToArray()
        : [.. Scoring.CausalPromptEncoder.LeadingSpecialTokens(tokenizer), .. tokenizer.Encode(text, addSpecialTokens: false).Ids];

    public IReadOnlyList<GreedyOutput> Generate(IReadOnlyList<int[]> prompts, int maxNewTokens, IReadOnlySet<int> stopTokens,
        Func<IReadOnlyList<int>, bool>? stopWhen = null)
    {
        if (maxNewTokens < 1) throw new ArgumentException($"greedy decoding needs at least 1 new token, got {maxNewTokens}");
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("a prompt for greedy decoding is empty; it needs at least a BOS token");
        var batch = TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p).ToList(), padId);
        using var session = model is IEncoderDecoderModel encoderDecoder
            ? (IGreedySession)new EncoderDecoderSession(encoderDecoder, batch, maxNewTokens)
            : new CausalSession((ICausalLanguageModel)model, batch, maxNewTokens);
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var finished = new bool[prompts.Count];
        var stopped = new bool[prompts.Count];

        var (output, lastRows) = session.Start(prompts);
        for (int step = 0; ; step++)
        {
            int[] next;
            using (output)
            using (var logits = model.Logits(output.LastHidden, lastRows))
                next = Enumerable.Range(0, prompts.Count).Select(b => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Row(b))).ToArray();
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
            lastRows = Enumerable.Range(0, prompts.Count).ToArray();
            output = session.Step(new TokenBatch(ids, mask, prompts.Count, 1));
        }
        return generated.Select((g, b) => new GreedyOutput(g.ToArray(), stopped[b])).ToList();
    }

    /// <summary>One generation's model state: the first pass (and the rows whose logits pick the first tokens), then one token per step.</summary>
    private interface IGreedySession : IDisposable
    {
        (ModelOutput Output, int[] LastRows) Start(IReadOnlyList<int[]> prompts);
        ModelOutput Step(TokenBatch next);
    }

    /// <summary>A decoder-only model: the prompts into the KV cache, each continued after its last real token.</summary>
    private sealed class CausalSession : IGreedySession
    {
        private readonly ICausalLanguageModel model;
        private readonly TokenBatch prompts;
        private readonly KvCache cache;

        public CausalSession(ICausalLanguageModel model, TokenBatch prompts, int maxNewTokens)
        {
            if (prompts.Length + maxNewTokens > model.MaxSequenceLength)
                throw new ArgumentException($"prompt and {maxNewTokens} new tokens exceed the model's {model.MaxSequenceLength} positions");
            this.model = model;
            this.prompts = prompts;
            cache = model.CreateCache(prompts.Batch, prompts.Length + maxNewTokens);
        }

        public (ModelOutput, int[]) Start(IReadOnlyList<int[]> ids) =>
            (model.Forward(prompts, cache), ids.Select((p, b) => b * prompts.Length + p.Length - 1).ToArray());

        public ModelOutput Step(TokenBatch next) => model.Forward(next, cache);

        public void Dispose() => cache.Dispose();
    }

    /// <summary>An encoder–decoder model: the prompts encoded once, the decoder from its start token through a self-attention cache.</summary>
    private sealed class EncoderDecoderSession : IGreedySession
    {
        private readonly IEncoderDecoderModel model;
        private readonly EncoderStates encoder;
        private readonly KvCache cache;

        public EncoderDecoderSession(IEncoderDecoderModel model, TokenBatch prompts, int maxNewTokens)
        {
            if (prompts.Length > model.MaxSequenceLength)
                throw new ArgumentException($"a prompt of {prompts.Length} tokens exceeds the model's {model.MaxSequenceLength}");
            this.model = model;
            encoder = model.Encode(prompts);
            cache = model.CreateDecoderCache(prompts.Batch, maxNewTokens);
        }

        public (ModelOutput, int[]) Start(IReadOnlyList<int[]> ids)
        {
            var start = new TokenBatch(Enumerable.Repeat(model.DecoderStartTokenId, ids.Count).ToArray(), Enumerable.Repeat(1, ids.Count).ToArray(), ids.Count, 1);
            return (Step(start), Enumerable.Range(0, ids.Count).ToArray());
        }

        public ModelOutput Step(TokenBatch next) => model.Decode(next, encoder, cache);

        public void Dispose()
        {
            cache.Dispose();
            encoder.Dispose();
        }
    }
}
