namespace Eval.Engine;

/// <summary>Element-wise activation used by <see cref="IBackend.Activation"/> and <see cref="IBackend.GatedActivation"/>.</summary>
public enum ActivationKind
{
    /// <summary>GELU with the exact erf, as torch.nn.functional.gelu with approximate='none'.</summary>
    Gelu,
    /// <summary>x · sigmoid(x).</summary>
    Silu,
    /// <summary>
    /// GELU's tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): transformers' gelu_new (T5 v1.1, mT5) and
    /// gelu_pytorch_tanh, BLOOM's bloom_gelu_forward.
    /// </summary>
    GeluTanh,
    /// <summary>max(x, 0) (T5 v1.0's feed-forward).</summary>
    Relu,
}

/// <summary>A column range of a [rows, columns] tensor: the q, k or v part of a fused projection.</summary>
public readonly record struct ColumnSlice(Tensor Tensor, int Offset);

/// <summary>
/// Blocks of rows of a [rows, columns] tensor, one per batch element: block b starts at row FirstRow + b·BatchStride,
/// column Column (a sequence's rows in a KV cache, or its rows in a batch of new tokens).
/// </summary>
public readonly record struct RowBlocks(Tensor Tensor, int FirstRow, int BatchStride, int Column = 0);

/// <summary>
/// The operations a model forward is made of. Tensors are row-major; "rows" means the product of all axes but the last.
/// Outputs may alias inputs where noted.
/// </summary>
public interface IBackend : IDisposable
{
    string Name { get; }

    /// <summary>An uninitialised tensor where this backend computes.</summary>
    Tensor Allocate(params int[] shape);

    /// <summary>
    /// An uninitialised tensor that only the x of <see cref="Linear"/> and <see cref="LinearActivation"/> will read, written
    /// by a norm, an activation or <see cref="LinearActivation"/>: the backend may store it as its GEMMs read their input
    /// (the GPU backend under bf16: bfloat16, rounded where it is written, so no conversion runs between the op and the
    /// GEMM). Other ops may refuse it; its values read back through <see cref="CopyToHost"/> are those the GEMM sees.
    /// </summary>
    Tensor AllocateGemmInput(params int[] shape);

    /// <summary>A zero-filled tensor where this backend computes.</summary>
    Tensor Zeros(params int[] shape);

    /// <summary>
    /// Takes ownership of a host tensor of weights and returns the tensor this backend computes with: the CPU backend
    /// returns it as it is; a device backend uploads it once (matrices in its weight precision) and frees the host copy.
    /// </summary>
    Tensor TakeWeight(Tensor host);

    /// <summary>A copy of a host tensor where this backend computes (inputs, tests).</summary>
    Tensor CopyFromHost(Tensor host);

    /// <summary>
    /// Int values (token ids, a key mask, positions) that an op of a coming forward will upload: a device backend starts
    /// copying them now, beside the work already enqueued, and the op that later asks for equal values takes the copy
    /// instead of waiting to upload (<see cref="Gpu.IlgpuBackend"/>: from page-locked memory on a copy stream). A hint:
    /// results never depend on it; the CPU backend, whose ops read host memory, ignores it.
    /// </summary>
    void SendAhead(ReadOnlySpan<int> values);

    /// <summary>A new host tensor with the elements of one of this backend's tensors, as float32.</summary>
    Tensor CopyToHost(Tensor tensor);

    /// <summary>Takes ownership of one of this backend's tensors and returns it in host memory (the CPU backend returns it as it is).</summary>
    Tensor TakeToHost(Tensor tensor);

    /// <summary>y[n, m] = Σ_k x[n, k] · w[m, k] + bias[m] (the layout of torch.nn.Linear).</summary>
    void Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y);

    /// <summary>y[i, :] = table[ids[i], :].</summary>
    void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y);

    /// <summary>Per-row LayerNorm; weight and bias optional (bias-free LayerNorm). y may alias x.</summary>
    void LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float epsilon, Tensor y);

    /// <summary>Per-row RMSNorm: x / sqrt(mean(x²) + ε) · weight. y may alias x.</summary>
    void RmsNorm(Tensor x, Tensor weight, float epsilon, Tensor y);

    /// <summary>
    /// The residual step of a transformer layer in one op: residual ← residual + x (+ xBias[c] on every row, the bias of
    /// the linear map that made x, when given), then y ← LayerNorm(residual) with weight and bias optional. Pre-LN layers
    /// keep the sum in residual and normalise into y; post-LN layers pass y = residual. x is not changed.
    /// </summary>
    void AddLayerNorm(Tensor residual, Tensor x, Tensor? xBias, Tensor? weight, Tensor? bias, float epsilon, Tensor y);

    /// <summary><see cref="AddLayerNorm"/> with RMSNorm: residual ← residual + x, then y ← RMSNorm(residual)·weight. y may alias residual.</summary>
    void AddRmsNorm(Tensor residual, Tensor x, Tensor weight, float epsilon, Tensor y);

    /// <summary>y = act(x·Wᵀ + bias): <see cref="Linear"/> followed by <see cref="Activation"/>, with the bias and the
    /// activation applied together.</summary>
    void LinearActivation(ActivationKind kind, Tensor x, Tensor weight, Tensor? bias, Tensor y);

    /// <summary>y = act(x). y may alias x.</summary>
    void Activation(ActivationKind kind, Tensor x, Tensor y);

    /// <summary>x is [rows, 2·I]: y[r, i] = act(x[r, i]) · x[r, I + i] (GeGLU, SwiGLU).</summary>
    void GatedActivation(ActivationKind kind, Tensor x, Tensor y);

    /// <summary>y = a + b (same shapes). y may alias a or b.</summary>
    void Add(Tensor a, Tensor b, Tensor y);

    /// <summary>
    /// Rotate-half rotary embedding applied in place to <paramref name="heads"/> heads of size headDim starting at the
    /// slice's column offset; row r is at position positions[r]; invFrequencies has headDim/2 entries.
    /// </summary>
    void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies);

    /// <summary>
    /// <see cref="Rope(ColumnSlice, int, int, ReadOnlySpan{int}, ReadOnlySpan{float})"/> on the queries and the keys of
    /// an attention at once (the same positions and frequencies): queryHeads heads from queries' column offset and
    /// keyHeads heads from keys' offset. The two may share a tensor (a fused q/k/v projection) but not columns.
    /// </summary>
    void Rope(ColumnSlice queries, int queryHeads, ColumnSlice keys, int keyHeads, int headDim, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFrequencies);

    /// <summary>
    /// Scaled dot-product attention with grouped query heads (ggml_flash_attn_ext's op): for batch element b, query head
    /// h (reading key/value head h / (QueryHeads / KeyValueHeads)) and query i, at position p = QueryStart + i,
    /// out[b, i, h] = Σ_j softmax_j(s_j)·v[b, j], over the keys j &lt; KeyLength, where
    /// s_j = Scale · q[b, i, h]·k[b, j] + bias(b, h, i, j) for a visible key and −∞ otherwise.
    /// <para>Key j is visible when all of: KeyValid[b·KeyRowsPerBatch + j] ≠ 0; Causal ⇒ j ≤ p; a Window ⇒
    /// p − Before ≤ j ≤ p + After (over valid keys, n(p) − Before ≤ n(j) ≤ n(p) + After with n as below, when the window
    /// <see cref="AttentionWindow.CountsValidKeys"/>); SourceLengths given and p &lt; SourceLengths[b] ⇒ j &lt; SourceLengths[b] (in a
    /// source-then-target sequence the source cannot see its target). A query that sees no key gets a zero output.</para>
    /// <para>Scale is mask.Scale, or 1/√HeadDim when null. bias(b, h, i, j) is: none, 0; ALiBi, Slopes[h] · n(b, j), with
    /// n(b, j) the number of keys j' &lt; j with KeyValid[b·KeyRowsPerBatch + j'] ≠ 0 (as a float32 product); relative
    /// position buckets, Table[AttentionBias.RelativePositionBucket(j − p), h]; given, Values[h, i, j] (finite, or −∞ to hide
    /// the key: a query whose every visible score is −∞ gets a zero output too).</para>
    /// q rows are b·QueryLength + i, k/v rows b·KeyRowsPerBatch + j; output is [Batch·QueryLength, QueryHeads·HeadDim].
    /// </summary>
    void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape shape, AttentionMask mask, Tensor output);

    /// <summary>Row-wise softmax, in place.</summary>
    void Softmax(Tensor x);

    /// <summary>
    /// What log-softmax scoring needs of each row of logits [rows, V], computed where the logits are, so that only these
    /// few numbers reach the host: per row its maximum, Σ exp(logit − maximum), the first index of the maximum, and the
    /// logits of ids[r·n .. r·n + n) (n = ids.Length / rows; ids may be empty). See <see cref="LogitSummary"/>.
    /// </summary>
    LogitSummary SummarizeLogits(Tensor logits, ReadOnlySpan<int> ids);

    /// <summary>
    /// For each of <paramref name="batches"/> blocks, copies rows × columns elements from source's block b to destination's
    /// block b (a KV cache's write of new keys, or its copy per continuation). The blocks must not overlap.
    /// </summary>
    void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns);

    /// <summary>
    /// y[b, :] = the mean of x[b·length + i, :] over the i &lt; length with include[b·length + i] ≠ 0 (zero when none):
    /// x is [batch·length, columns], y [batch, columns].
    /// </summary>
    void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y);
}
