using Eval.Engine;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Cli;

/// <summary>
/// `eval forward`: runs a model on input_ids / attention_mask (and token_type_ids when present) from a safetensors file and writes every hidden state
/// and the logits under the names and shapes of the golden reference files, so a checkpoint can be compared with
/// the transformers forward pass tensor by tensor. A model with a length head (Instruct-XLMR) adds `length_logits`
/// [B, 512] and `length_argmax` [B].
/// </summary>
public static class ForwardDump
{
    public static void Run(ILanguageModel model, string inputPath, string outputPath)
    {
        using var input = new SafetensorsFile(inputPath);
        var idsEntry = input.Get("input_ids");
        if (idsEntry.Shape.Length != 2 || idsEntry.Shape.Any(d => d > int.MaxValue))
            throw new CheckpointFormatException($"{inputPath}: 'input_ids' must be [batch, length] of at most {int.MaxValue} each, found {idsEntry.ShapeText}");
        int batch = (int)idsEntry.Shape[0], length = (int)idsEntry.Shape[1];
        var ids = input.ReadAsInt32("input_ids");
        int[] mask = ReadLikeIds(input, inputPath, "attention_mask", idsEntry) ?? Enumerable.Repeat(1, ids.Length).ToArray();
        var tokenTypes = ReadLikeIds(input, inputPath, "token_type_ids", idsEntry);
        foreach (var id in ids)
            if (id < 0 || id >= model.Config.VocabSize)
                throw new CheckpointFormatException($"{inputPath}: input id {id} is outside the vocabulary of {model.Config.VocabSize}");

        var tokens = new TokenBatch(ids, mask, batch, length) { TokenTypeIds = tokenTypes };
        using var output = model.Forward(tokens, keepHiddenStates: true);
        int h = model.Config.HiddenSize;
        var writer = new SafetensorsWriter()
            .Add("input_ids", ids.Select(i => (long)i).ToArray(), batch, length)
            .Add("attention_mask", mask.Select(i => (long)i).ToArray(), batch, length);
        if (tokenTypes is not null) writer.Add("token_type_ids", tokenTypes.Select(i => (long)i).ToArray(), batch, length);
        foreach (var (name, value) in output.HiddenStates)
            writer.Add(name, value.Span, batch, length, h);
        using var lastHidden = model.Backend.CopyToHost(output.LastHidden);
        writer.Add("hidden.last_hidden_state", lastHidden.Span, batch, length, h);

        if (input.Entries.ContainsKey("logits_at"))
        {
            var at = input.ReadAsInt32("logits_at");
            if (at.Length % 2 != 0) throw new CheckpointFormatException($"{inputPath}: 'logits_at' must be [N, 2]");
            var rows = new int[at.Length / 2];
            for (int i = 0; i < rows.Length; i++)
            {
                int b = at[2 * i], s = at[2 * i + 1];
                if ((uint)b >= batch || (uint)s >= length)
                    throw new CheckpointFormatException($"{inputPath}: logits_at row {i} = ({b}, {s}) is outside [{batch}, {length}]");
                rows[i] = b * length + s;
            }
            using var logits = model.Logits(output.LastHidden, rows);
            writer.Add("logits_at", at.Select(i => (long)i).ToArray(), rows.Length, 2);
            writer.Add("logits", logits.Span, rows.Length, logits.Columns);
        }
        else
        {
            var rows = Enumerable.Range(0, tokens.Tokens).ToArray();
            using var logits = model.Logits(output.LastHidden, rows);
            writer.Add("logits", logits.Span, batch, length, logits.Columns);
        }
        if (model is ISourceTargetModel sourceTarget)
        {
            using var lengthLogits = sourceTarget.LengthLogits(output.LastHidden, tokens);
            if (lengthLogits is not null)
            {
                writer.Add("length_logits", lengthLogits.Span, batch, lengthLogits.Columns);
                writer.Add("length_argmax", Enumerable.Range(0, batch)
                    .Select(b => (long)System.Numerics.Tensors.TensorPrimitives.IndexOfMax(lengthLogits.Row(b))).ToArray(), batch);
            }
        }
        writer.Write(outputPath);
    }

    /// <summary>An optional [batch, length] input beside input_ids (attention_mask, token_type_ids), or null when absent.</summary>
    private static int[]? ReadLikeIds(SafetensorsFile input, string inputPath, string name, SafetensorsEntry idsEntry)
    {
        if (!input.Entries.ContainsKey(name)) return null;
        var entry = input.Get(name);
        if (!entry.Shape.SequenceEqual(idsEntry.Shape))
            throw new CheckpointFormatException($"{inputPath}: '{name}' {entry.ShapeText} does not match 'input_ids' {idsEntry.ShapeText}");
        return input.ReadAsInt32(name);
    }
}
