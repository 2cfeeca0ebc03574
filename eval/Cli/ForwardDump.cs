using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Models;

namespace Eval.Cli;

/// <summary>
/// `eval forward`: runs a model on input_ids / attention_mask (and token_type_ids when present) from a safetensors file and writes every hidden state
/// and the logits under the names and shapes of the golden reference files, so a checkpoint can be compared with
/// the transformers forward pass tensor by tensor. A model with a length head (Instruct-XLMR) adds `length_logits`
/// [B, 512] and `length_argmax` [B]. An encoder–decoder model reads decoder_input_ids / decoder_attention_mask too
/// (default: the start token alone) and writes `encoder.hidden.*`, `decoder.hidden.*` and `logits` [B, T, V] at every
/// decoder position. With `choice_ids` [B, K, L] (candidates padded with −1) in the input, a kind scored by
/// log-likelihood also gets `choice_logprobs` [B, K]: each candidate scored after row b's prompt by the harness's own
/// scorer (encoder–decoder: t-zero's rank classification).
/// </summary>
public static class ForwardDump
{
    public static void Run(ILanguageModel model, string inputPath, string outputPath)
    {
        using var input = new SafetensorsFile(inputPath);
        var tokens = ReadBatch(input, inputPath, "input_ids", "attention_mask", model.Config.VocabSize, typesName: "token_type_ids");
        var writer = new SafetensorsWriter();
        AddBatch(writer, "input_ids", "attention_mask", tokens);
        if (model is IEncoderDecoderModel encoderDecoder) EncoderDecoder(encoderDecoder, input, inputPath, tokens, writer);
        else SingleStack(model, input, inputPath, tokens, writer);
        if (input.Entries.ContainsKey("choice_ids")) ChoiceLogProbabilities(model, input, inputPath, tokens, writer);
        writer.Write(outputPath);
    }

    private static void SingleStack(ILanguageModel model, SafetensorsFile input, string inputPath, TokenBatch tokens, SafetensorsWriter writer)
    {
        int batch = tokens.Batch, length = tokens.Length;
        using var output = model.Forward(tokens, keepHiddenStates: true);
        AddStates(writer, "", output, model, tokens);

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
            AddAllLogits(writer, model, output, tokens);
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
    }

    private static void EncoderDecoder(IEncoderDecoderModel model, SafetensorsFile input, string inputPath, TokenBatch source, SafetensorsWriter writer)
    {
        var target = input.Entries.ContainsKey("decoder_input_ids")
            ? ReadBatch(input, inputPath, "decoder_input_ids", "decoder_attention_mask", model.Config.VocabSize)
            : new TokenBatch(Enumerable.Repeat(model.DecoderStartTokenId, source.Batch).ToArray(), Enumerable.Repeat(1, source.Batch).ToArray(), source.Batch, 1);
        if (target.Batch != source.Batch)
            throw new CheckpointFormatException($"{inputPath}: 'decoder_input_ids' has {target.Batch} rows but 'input_ids' {source.Batch}");
        AddBatch(writer, "decoder_input_ids", "decoder_attention_mask", target);
        using var encoder = model.Encode(source, keepHiddenStates: true);
        AddStates(writer, "encoder.", encoder.Output, model, source);
        using var decoded = model.Decode(target, encoder, keepHiddenStates: true);
        AddStates(writer, "decoder.", decoded, model, target);
        AddAllLogits(writer, model, decoded, target);
    }

    /// <summary>choice_ids [B, K, L] scored after each row's prompt (its real input_ids) by the kind's scorer in log-likelihood mode.</summary>
    private static void ChoiceLogProbabilities(ILanguageModel model, SafetensorsFile input, string inputPath, TokenBatch tokens, SafetensorsWriter writer)
    {
        var kind = ModelKinds.Of(model);
        var fromIds = kind.PromptFromIds
            ?? throw new CheckpointFormatException($"{inputPath}: 'choice_ids' needs a model scored by log-likelihood; this is {kind.Description}");
        var entry = input.Get("choice_ids");
        if (entry.Shape.Length != 3 || entry.Shape[0] != tokens.Batch || entry.Shape[1] < 1 || entry.Shape[2] < 1 || entry.Shape.Any(d => d > int.MaxValue))
            throw new CheckpointFormatException($"{inputPath}: 'choice_ids' must be [{tokens.Batch}, choices, length], found {entry.ShapeText}");
        int choices = (int)entry.Shape[1], length = (int)entry.Shape[2];
        var all = input.ReadAsInt32("choice_ids");
        var prompts = new List<IScoredPrompt>();
        for (int b = 0; b < tokens.Batch; b++)
        {
            var prompt = Enumerable.Range(0, tokens.Length).Where(i => tokens.Mask[b * tokens.Length + i] != 0).Select(i => tokens.Ids[b * tokens.Length + i]).ToArray();
            var candidates = new List<int[]>();
            for (int k = 0; k < choices; k++)
            {
                var row = all.AsSpan((b * choices + k) * length, length);
                int count = row.IndexOf(-1) is >= 0 and var end ? end : length;
                for (int j = 0; j < length; j++)
                    if (j < count ? (uint)row[j] >= (uint)model.Config.VocabSize : row[j] != -1)
                        throw new CheckpointFormatException(
                            $"{inputPath}: choice_ids[{b}, {k}, {j}] = {row[j]}: a candidate is ids below {model.Config.VocabSize}, then only −1 padding");
                if (count == 0) throw new CheckpointFormatException($"{inputPath}: choice_ids[{b}, {k}] is empty (all −1)");
                candidates.Add(row[..count].ToArray());
            }
            prompts.Add(fromIds(new Document(b, new Dictionary<string, object?>(), $"{inputPath} row {b}"), prompt, candidates));
        }
        var scores = kind.CreateScorer(model, null, model.Config.PadTokenId ?? 0).Score(prompts, ScoringMode.LogLikelihood);
        writer.Add("choice_ids", all.Select(i => (long)i).ToArray(), tokens.Batch, choices, length);
        writer.Add("choice_logprobs", scores.SelectMany(s => s.Scores.Select(v => (float)v)).ToArray(), tokens.Batch, choices);
    }

    /// <summary>A [B, L] id tensor and its optional mask (default all ones), ids checked against the vocabulary.</summary>
    private static TokenBatch ReadBatch(SafetensorsFile input, string inputPath, string idsName, string maskName, int vocabSize,
        string? typesName = null)
    {
        var idsEntry = input.Get(idsName);
        if (idsEntry.Shape.Length != 2 || idsEntry.Shape[0] < 1 || idsEntry.Shape[1] < 1 || idsEntry.Shape.Any(d => d > int.MaxValue))
            throw new CheckpointFormatException($"{inputPath}: '{idsName}' must be [batch, length] of at most {int.MaxValue} each, found {idsEntry.ShapeText}");
        int batch = (int)idsEntry.Shape[0], length = (int)idsEntry.Shape[1];
        var ids = input.ReadAsInt32(idsName);
        int[] mask = ReadLikeIds(input, inputPath, maskName, idsName, idsEntry) ?? Enumerable.Repeat(1, ids.Length).ToArray();
        // Segment ids (BERT's token_type_ids) where the caller names them: the encoder's input has them, a decoder's has none.
        var tokenTypes = typesName is null ? null : ReadLikeIds(input, inputPath, typesName, idsName, idsEntry);
        foreach (var id in ids)
            if (id < 0 || id >= vocabSize)
                throw new CheckpointFormatException($"{inputPath}: {idsName[..^4].Replace('_', ' ')} id {id} is outside the vocabulary of {vocabSize}");
        return new TokenBatch(ids, mask, batch, length) { TokenTypeIds = tokenTypes };
    }

    /// <summary>An optional [batch, length] input beside the ids (attention_mask, token_type_ids), or null when absent.</summary>
    private static int[]? ReadLikeIds(SafetensorsFile input, string inputPath, string name, string idsName, SafetensorsEntry idsEntry)
    {
        if (!input.Entries.ContainsKey(name)) return null;
        var entry = input.Get(name);
        if (!entry.Shape.SequenceEqual(idsEntry.Shape))
            throw new CheckpointFormatException($"{inputPath}: '{name}' {entry.ShapeText} does not match '{idsName}' {idsEntry.ShapeText}");
        return input.ReadAsInt32(name);
    }

    private static void AddBatch(SafetensorsWriter writer, string idsName, string maskName, TokenBatch batch)
    {
        writer.Add(idsName, batch.Ids.Select(i => (long)i).ToArray(), batch.Batch, batch.Length)
            .Add(maskName, batch.Mask.Select(i => (long)i).ToArray(), batch.Batch, batch.Length);
        if (batch.TokenTypeIds is { } types) writer.Add("token_type_ids", types.Select(i => (long)i).ToArray(), batch.Batch, batch.Length);
    }

    /// <summary>The recorded states and the final one, under prefix ("" or "encoder." / "decoder.").</summary>
    private static void AddStates(SafetensorsWriter writer, string prefix, ModelOutput output, ILanguageModel model, TokenBatch tokens)
    {
        int h = output.LastHidden.Columns;
        foreach (var (name, value) in output.HiddenStates)
            writer.Add(prefix + name, value.Span, tokens.Batch, tokens.Length, h);
        using var lastHidden = model.Backend.CopyToHost(output.LastHidden);
        writer.Add(prefix + "hidden.last_hidden_state", lastHidden.Span, tokens.Batch, tokens.Length, h);
    }

    private static void AddAllLogits(SafetensorsWriter writer, ILanguageModel model, ModelOutput output, TokenBatch tokens)
    {
        using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, tokens.Tokens).ToArray());
        writer.Add("logits", logits.Span, tokens.Batch, tokens.Length, logits.Columns);
    }
}
