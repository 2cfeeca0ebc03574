namespace Eval.Tokenizers;

/// <summary>Adds the special tokens around one or two encoded sequences (tokenizer.json "post_processor").</summary>
public interface IPostProcessor
{
    /// <summary>
    /// The tokens of first (and second) with the special tokens added (without, when addSpecialTokens is false: then only
    /// the type ids follow the template); typeIds, when given, receives each output token's segment id (token_type_ids)
    /// as the Rust library sets them.
    /// </summary>
    List<Token> Process(List<Token> first, List<Token>? second, List<int>? typeIds = null, bool addSpecialTokens = true);
}

/// <summary>
/// TemplateProcessing and the fixed Bert/Roberta layouts, expressed as templates: each part a special token's tokens or
/// sequence A (0) / B (1), with the type id the part gives its tokens.
/// </summary>
public sealed class TemplatePostProcessor(IReadOnlyList<TemplatePart> single, IReadOnlyList<TemplatePart> pair) : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second, List<int>? typeIds = null, bool addSpecialTokens = true)
    {
        var result = new List<Token>(first.Count + (second?.Count ?? 0) + 4);
        foreach (var part in second is null ? single : pair)
        {
            int before = result.Count;
            if (part.Special is { } special)
            {
                if (addSpecialTokens) result.AddRange(special);
            }
            else result.AddRange(part.Sequence == 0 ? first : second ?? []);
            for (int i = before; i < result.Count; i++) typeIds?.Add(part.TypeId);
        }
        return result;
    }
}

/// <summary>A template element: a special token's tokens, or sequence A (0) / B (1); TypeId is the segment id of its tokens.</summary>
public sealed record TemplatePart(IReadOnlyList<Token>? Special, int Sequence, int TypeId = 0);

/// <summary>
/// Post-processors applied in turn (tokenizer.json "Sequence"). ByteLevel only trims offsets, so it passes both
/// sequences on unmerged, as the Rust library's does: Llama-3's [ByteLevel, TemplateProcessing] applies its pair
/// template to a pair.
/// </summary>
public sealed class SequencePostProcessor(IReadOnlyList<IPostProcessor> steps) : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second, List<int>? typeIds = null, bool addSpecialTokens = true)
    {
        bool merged = false;
        var types = new List<int>();
        foreach (var step in steps)
        {
            if (step is PassThroughPostProcessor) continue;
            types.Clear();
            first = step.Process(first, second, types, addSpecialTokens);
            second = null;
            merged = true;
        }
        if (!merged) return PassThroughPostProcessor.Merge(first, second, typeIds);
        typeIds?.AddRange(types);
        return first;
    }
}

/// <summary>ByteLevel's post-processing only trims offsets; ids and tokens pass through.</summary>
public sealed class PassThroughPostProcessor : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second, List<int>? typeIds = null, bool addSpecialTokens = true) =>
        Merge(first, second, typeIds);

    /// <summary>
    /// The two sequences one after the other, as the Rust library encodes them without special tokens: the first with
    /// type id 0, the second with type id 1.
    /// </summary>
    public static List<Token> Merge(List<Token> first, List<Token>? second, List<int>? typeIds)
    {
        if (typeIds is not null)
        {
            typeIds.AddRange(Enumerable.Repeat(0, first.Count));
            if (second is not null) typeIds.AddRange(Enumerable.Repeat(1, second.Count));
        }
        return second is null ? first : [.. first, .. second];
    }
}

internal static class PostProcessorFactory
{
    public static IPostProcessor Create(JsonConfig c, Func<string, int> idOf)
    {
        switch (c.Type)
        {
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, Token[]>();
                if (c.Has("special_tokens"))
                    foreach (var p in c.Element.GetProperty("special_tokens").EnumerateObject())
                    {
                        var ids = p.Value.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                        var tokens = p.Value.GetProperty("tokens").EnumerateArray().Select(e => c.StringIn(e, $"a token of special token '{p.Name}'")).ToArray();
                        specials[p.Name] = tokens.Zip(ids, (t, i) => new Token(t, i)).ToArray();
                    }
                return new TemplatePostProcessor(Parts(c.Child("single"), specials), c.Has("pair") ? Parts(c.Child("pair"), specials) : Parts(c.Child("single"), specials));
            }
            case "BertProcessing":
            case "RobertaProcessing":
            {
                var sep = SpecialPair(c, "sep", idOf);
                var cls = SpecialPair(c, "cls", idOf);
                TemplatePart A = new(null, 0), Cls = new([cls], 0), Sep = new([sep], 0);
                // BERT's second segment, with its closing [SEP], is type 1; RoBERTa's types are all 0 (also without special tokens).
                return c.Type == "BertProcessing"
                    ? new TemplatePostProcessor([Cls, A, Sep], [Cls, A, Sep, new(null, 1, 1), new([sep], 0, 1)])
                    : new TemplatePostProcessor([Cls, A, Sep], [Cls, A, Sep, Sep, new(null, 1), Sep]);
            }
            case "ByteLevel":
                return new PassThroughPostProcessor();
            case "Sequence":
                return new SequencePostProcessor(c.Array("processors").Select(p => Create(p, idOf)).ToArray());
            default:
                throw c.Unsupported("post_processor", "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
        }
    }

    private static Token SpecialPair(JsonConfig c, string name, Func<string, int> idOf)
    {
        var value = c.Child(name).Element;
        return value.ValueKind == System.Text.Json.JsonValueKind.Array
            ? new Token(c.StringIn(value[0], $"a \"{name}\" token"), value[1].GetInt32())
            : new Token(c.StringIn(value, $"a \"{name}\" token"), idOf(c.StringIn(value, $"a \"{name}\" token")));
    }

    /// <summary>A template piece's "type_id" (0 when absent, as serde's default); anything but a small non-negative integer is an error.</summary>
    private static int TypeId(JsonConfig template, System.Text.Json.JsonElement piece) =>
        !piece.TryGetProperty("type_id", out var value) ? 0
        : value.ValueKind == System.Text.Json.JsonValueKind.Number && value.TryGetInt32(out var id) && id >= 0 ? id
        : throw template.Error("has a type_id that is not a non-negative integer");

    private static List<TemplatePart> Parts(JsonConfig template, Dictionary<string, Token[]> specials)
    {
        var parts = new List<TemplatePart>();
        foreach (var item in template.Element.EnumerateArray())
        {
            if (item.TryGetProperty("SpecialToken", out var special))
            {
                var id = template.StringIn(special.GetProperty("id"), "a SpecialToken id");
                parts.Add(new TemplatePart(specials.TryGetValue(id, out var tokens) ? tokens
                    : throw template.Error($"names special token '{id}' that special_tokens does not define"), 0, TypeId(template, special)));
            }
            else if (item.TryGetProperty("Sequence", out var sequence))
            {
                parts.Add(new TemplatePart(null, sequence.GetProperty("id").GetString() == "B" ? 1 : 0, TypeId(template, sequence)));
            }
            else throw template.Error("has an element that is neither SpecialToken nor Sequence");
        }
        return parts;
    }
}
