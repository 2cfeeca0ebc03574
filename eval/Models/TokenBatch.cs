namespace Eval.Models;

/// <summary>
/// A right-padded batch of token ids: Ids and Mask are [Batch, Length] row-major; Mask is 1 for real tokens.
/// </summary>
public sealed record TokenBatch
{
    public TokenBatch(int[] ids, int[] mask, int batch, int length)
    {
        if (batch <= 0 || length <= 0) throw new ArgumentException($"a batch needs positive size, got [{batch}, {length}]");
        if (ids.Length != batch * length) throw new ArgumentException($"{ids.Length} ids do not fill [{batch}, {length}]");
        if (mask.Length != ids.Length) throw new ArgumentException($"attention mask has {mask.Length} entries, ids {ids.Length}");
        Ids = ids;
        Mask = mask;
        Batch = batch;
        Length = length;
    }

    public int[] Ids { get; }
    public int[] Mask { get; }
    public int Batch { get; }
    public int Length { get; }
    public int Tokens => Batch * Length;

    /// <summary>Each slot's position in its row, 0 … Length − 1 per row (what RoPE models rotate by without a cache).</summary>
    public int[] SlotPositions()
    {
        var positions = new int[Tokens];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % Length;
        return positions;
    }

    /// <summary>
    /// Instruct-XLMR's source-then-target layout: when set, the first SourceLengths[b] slots of sequence b are its source
    /// and the rest its target. The source cannot attend to the target, and the target's positions count from the start
    /// again. Only models that implement <see cref="ISourceTargetModel"/> accept it.
    /// </summary>
    public int[]? SourceLengths
    {
        get;
        init
        {
            if (value is not null && (value.Length != Batch || value.Any(n => n < 0 || n > Length)))
                throw new ArgumentException($"source lengths [{string.Join(", ", value)}] do not fit a batch of [{Batch}, {Length}]");
            field = value;
        }
    }

    /// <summary>
    /// Each token's segment ([Batch, Length], BERT's token_type_ids: 0 for a single text; a pair's second segment 1 from
    /// its first token through its [SEP]), or null for all 0. Only models with token-type embeddings accept a non-zero
    /// type (<see cref="TokenTypesWithin"/>).
    /// </summary>
    public int[]? TokenTypeIds
    {
        get;
        init
        {
            if (value is not null && value.Length != Ids.Length)
                throw new ArgumentException($"token type ids have {value.Length} entries, ids {Ids.Length}");
            field = value;
        }
    }

    /// <summary>
    /// The token types as ids into a table of count rows (all 0 when none were given); a type outside it (any non-zero
    /// type for a model without token-type embeddings, count 1) is an error naming the sequence and position.
    /// </summary>
    public int[] TokenTypesWithin(int count, string architecture)
    {
        if (TokenTypeIds is null) return new int[Tokens];
        for (int i = 0; i < TokenTypeIds.Length; i++)
            if ((uint)TokenTypeIds[i] >= (uint)count)
                throw new ArgumentException(count == 1
                    ? $"token type {TokenTypeIds[i]} at sequence {i / Length}, position {i % Length}: {architecture} takes only token type 0"
                    : $"token type {TokenTypeIds[i]} at sequence {i / Length}, position {i % Length} is outside {architecture}'s {count} token types");
        return TokenTypeIds;
    }

    /// <summary>Throws, naming the first, when a token type is not 0: for a model without token-type embeddings.</summary>
    public void RequireNoTokenTypes(string architecture) => TokenTypesWithin(1, architecture);

    /// <summary>Throws for a model that cannot run the source-then-target layout.</summary>
    public void RequireSingleSegment(string architecture)
    {
        if (SourceLengths is not null)
            throw new NotSupportedException($"{architecture} does not run the source-then-target layout (only XLM-R models do)");
    }

    /// <summary>Right-pads sequences of different lengths into one batch.</summary>
    public static TokenBatch FromSequences(IReadOnlyList<IReadOnlyList<int>> sequences, int padId)
    {
        if (sequences.Count == 0) throw new ArgumentException("no sequences");
        int length = Math.Max(1, sequences.Max(s => s.Count));
        var ids = new int[sequences.Count * length];
        var mask = new int[ids.Length];
        Array.Fill(ids, padId);
        for (int b = 0; b < sequences.Count; b++)
            for (int i = 0; i < sequences[b].Count; i++)
            {
                ids[b * length + i] = sequences[b][i];
                mask[b * length + i] = 1;
            }
        return new TokenBatch(ids, mask, sequences.Count, length);
    }
}
