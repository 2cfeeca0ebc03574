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
