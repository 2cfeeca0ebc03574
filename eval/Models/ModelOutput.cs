using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// The result of a forward pass: the final hidden states [Batch·Length, Hidden] (where the model's backend computes) and,
/// when asked for, host copies of the named intermediate ones ("hidden.embeddings", "hidden.layer.{i}") in the order
/// they were computed.
/// </summary>
public sealed class ModelOutput(Tensor lastHidden, IReadOnlyList<(string Name, Tensor Value)> hiddenStates) : IDisposable
{
    public Tensor LastHidden { get; } = lastHidden;
    public IReadOnlyList<(string Name, Tensor Value)> HiddenStates { get; } = hiddenStates;

    public void Dispose()
    {
        LastHidden.Dispose();
        foreach (var (_, t) in HiddenStates) t.Dispose();
    }
}

/// <summary>Collects host copies of intermediate hidden states when a caller asks for them.</summary>
internal sealed class HiddenStateRecorder(IBackend backend, bool enabled)
{
    private readonly List<(string, Tensor)> states = [];

    public void Record(string name, Tensor value)
    {
        if (enabled) states.Add((name, backend.CopyToHost(value)));
    }

    public ModelOutput Finish(Tensor lastHidden) => new(lastHidden, states);
}

/// <summary>Any model we run: a forward pass over a batch, and logits for chosen rows and vocabulary ids.</summary>
public interface ILanguageModel : IDisposable
{
    ModelConfig Config { get; }
    IBackend Backend { get; }

    /// <summary>Parameters held in memory (tied weights counted once).</summary>
    long ParameterCount { get; }

    /// <summary>How the model reads a prompt and answers: what the harness encodes prompts, scores and decodes with.</summary>
    ModelKind Kind { get; }

    /// <summary>The longest sequence, in tokens, the model's positions cover.</summary>
    int MaxSequenceLength { get; }

    ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false);

    /// <summary>
    /// The int arrays a forward over batch without a cache uploads: its token ids and mask, and what the model derives
    /// from them — the RoPE models' slot positions (<see cref="TokenBatch.SlotPositions"/>), the BERT family's position
    /// ids and token types, a source-then-target batch's source lengths.
    /// </summary>
    IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [batch.Ids, batch.Mask];

    /// <summary>
    /// Sends <see cref="ForwardInputs"/> ahead of the forward over batch (<see cref="IBackend.SendAhead"/>), so that they
    /// travel while the device finishes earlier work. Scorers call it with their next batch after enqueuing the current
    /// one; no result depends on it. A batch the model cannot take (too long, a token type it has no row for) is not sent:
    /// its own forward says why in one line.
    /// </summary>
    void SendAhead(TokenBatch batch)
    {
        IReadOnlyList<int[]> inputs;
        try
        {
            inputs = ForwardInputs(batch);
        }
        catch (ArgumentException)
        {
            return;
        }
        foreach (var values in inputs) Backend.SendAhead(values);
    }

    /// <summary>
    /// Logits [rows.Length, vocabIds.Length] (or the whole vocabulary when vocabIds is empty) for the given rows of
    /// hidden (row = b·Length + position), in host memory. Only these rows and ids go through the head.
    /// </summary>
    Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default);

    /// <summary>
    /// What scoring needs of the logits over the whole vocabulary at the given rows of hidden, computed where the model
    /// computes (<see cref="IBackend.SummarizeLogits"/>): per row the log-sum-exp, the argmax and the logits of
    /// ids[r·n .. r·n + n) (n = ids.Length / rows.Length). Only these reach the host, not the [rows, V] logits.
    /// </summary>
    LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default);
}

/// <summary>A decoder-only model that can extend a sequence incrementally through a <see cref="KvCache"/>.</summary>
public interface ICausalLanguageModel : ILanguageModel
{
    KvCache CreateCache(int batch, int capacity);

    /// <summary>Runs the new tokens of batch after what the cache holds, appending their keys and values to it.</summary>
    ModelOutput Forward(TokenBatch batch, KvCache cache, bool keepHiddenStates = false);
}

/// <summary>
/// A masked LM that runs Instruct-XLMR's source-then-target layout (see <see cref="TokenBatch.SourceLengths"/>), either
/// as one sequence or split: the source once into a <see cref="KvCache"/>, then any number of targets against it.
/// </summary>
public interface ISourceTargetModel : ILanguageModel
{
    KvCache CreateCache(int batch, int capacity);

    /// <summary>
    /// Runs batch after what cache holds, bidirectionally; its positions count from the start again. With append the
    /// tokens' keys and values stay in the cache (a source); without, they serve this call only (a target that
    /// changes every Mask-Predict iteration).
    /// </summary>
    ModelOutput Forward(TokenBatch batch, KvCache cache, bool append, bool keepHiddenStates = false);

    bool HasLengthHead { get; }

    /// <summary>Target lengths (counting &lt;s&gt; and &lt;/s&gt;) from the length head, or null when the checkpoint has none.</summary>
    int[]? PredictTargetLengths(Tensor sourceHidden, TokenBatch source);

    /// <summary>The length head's scores as a host tensor [batch, 512] (the argmax is PredictTargetLengths), or null without a head.</summary>
    Tensor? LengthLogits(Tensor sourceHidden, TokenBatch source);
}

/// <summary>
/// An encoder–decoder LM (T5, mT5, mT0): the source runs once through the encoder (<see cref="Encode"/>), whose states
/// then serve any number of decoder passes (<see cref="Decode"/>), incrementally through a self-attention
/// <see cref="KvCache"/> or over a whole target at once. Rank classification decodes every answer choice of a prompt
/// against one encoding; greedy generation decodes one token per step.
/// <para>The members of <see cref="ILanguageModel"/> mean: <see cref="ILanguageModel.Forward"/> runs the encoder alone
/// (LastHidden is the encoder's final, normed states, as transformers' <c>get_encoder()</c> returns them);
/// <see cref="ILanguageModel.Logits"/> applies the LM head to decoder states (rows of a <see cref="Decode"/> output);
/// <see cref="ILanguageModel.MaxSequenceLength"/> bounds the source.</para>
/// </summary>
public interface IEncoderDecoderModel : ILanguageModel
{
    /// <summary>The token every target starts from (config decoder_start_token_id).</summary>
    int DecoderStartTokenId { get; }

    /// <summary>
    /// Runs the encoder over source once and computes, for every decoder layer, the cross-attention keys and values of
    /// its states: nothing of the source is recomputed however many decoder passes follow.
    /// </summary>
    EncoderStates Encode(TokenBatch source, bool keepHiddenStates = false);

    /// <summary>A decoder self-attention cache for batch target sequences of up to capacity tokens.</summary>
    KvCache CreateDecoderCache(int batch, int capacity);

    /// <summary>
    /// Runs target tokens through the decoder against encoder's states. target.Batch must be a multiple g of
    /// encoder.Batch: target sequences b·g … b·g + g − 1 all read source b (a prompt's answer choices share its states
    /// without copies). Positions are slot indices: without a cache target holds whole targets from the start token
    /// (right-padded); with one its tokens follow what the cache holds, whose keys and values they extend.
    /// Returns the decoder's final, normed states [target.Tokens, hidden] for <see cref="ILanguageModel.Logits"/>.
    /// </summary>
    ModelOutput Decode(TokenBatch target, EncoderStates encoder, KvCache? cache = null, bool keepHiddenStates = false);
}

/// <summary>
/// What <see cref="IEncoderDecoderModel.Encode"/> computed for a batch of sources: the encoder's output (final states and,
/// when asked for, the intermediate ones), the source batch whose mask the cross-attention reads, and per decoder layer
/// the cross-attention keys and values [Source.Tokens, 2·inner] (keys in the first inner columns). Owns them all.
/// </summary>
public sealed class EncoderStates(TokenBatch source, ModelOutput output, IReadOnlyList<Tensor> crossKeyValues) : IDisposable
{
    public TokenBatch Source { get; } = source;
    public ModelOutput Output { get; } = output;
    public int Batch => Source.Batch;

    /// <summary>Decoder layer layer's cross-attention keys (columns 0 … inner − 1) and values (inner … 2·inner − 1).</summary>
    public Tensor CrossKeyValues(int layer) => crossKeyValues[layer];

    /// <summary>How many target sequences read each source in a decoder batch of targets sequences (throws unless a whole number).</summary>
    public int TargetsPerSource(int targets) => targets % Batch == 0 && targets > 0
        ? targets / Batch
        : throw new ArgumentException($"a decoder batch of {targets} sequences does not divide evenly over {Batch} encoded sources");

    public void Dispose()
    {
        Output.Dispose();
        foreach (var t in crossKeyValues) t.Dispose();
    }
}
