namespace Eval.Tokenizers;

/// <summary>Adds the special tokens around one or two encoded sequences (tokenizer.json "post_processor").</summary>
public interface IPostProcessor
{
    List<Token> Process(List<Token> first, List<Token>? second);
}

/// <summary>TemplateProcessing and the fixed Bert/Roberta layouts, expressed as templates.</summary>
public sealed class TemplatePostProcessor(IReadOnlyList<TemplatePart> single, IReadOnlyList<TemplatePart> pair) : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second)
    {
        var result = new List<Token>(first.Count + (second?.Count ?? 0) + 4);
        foreach (var part in second is null ? single : pair)
        {
            if (part.Special is { } special) result.AddRange(special);
            else result.AddRange(part.Sequence == 0 ? first : second ?? []);
        }
        return result;
    }
}

/// <summary>A template element: a special token's tokens, or sequence A (0) / B (1).</summary>
public sealed record TemplatePart(IReadOnlyList<Token>? Special, int Sequence);

public sealed class SequencePostProcessor(IReadOnlyList<IPostProcessor> steps) : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second)
    {
        foreach (var step in steps)
        {
            first = step.Process(first, second);
            second = null;
        }
        return first;
    }
}

/// <summary>ByteLevel's post-processing only trims offsets; ids and tokens pass through.</summary>
public sealed class PassThroughPostProcessor : IPostProcessor
{
    public List<Token> Process(List<Token> first, List<Token>? second) => second is null ? first : [.. first, .. second];
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
                TemplatePart A = new(null, 0), B = new(null, 1), Cls = new([cls], 0), Sep = new([sep], 0);
                return c.Type == "BertProcessing"
                    ? new TemplatePostProcessor([Cls, A, Sep], [Cls, A, Sep, B, Sep])
                    : new TemplatePostProcessor([Cls, A, Sep], [Cls, A, Sep, Sep, B, Sep]);
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

    private static List<TemplatePart> Parts(JsonConfig template, Dictionary<string, Token[]> specials)
    {
        var parts = new List<TemplatePart>();
        foreach (var item in template.Element.EnumerateArray())
        {
            if (item.TryGetProperty("SpecialToken", out var special))
            {
                var id = template.StringIn(special.GetProperty("id"), "a SpecialToken id");
                parts.Add(new TemplatePart(specials.TryGetValue(id, out var tokens) ? tokens
                    : throw template.Error($"names special token '{id}' that special_tokens does not define"), 0));
            }
            else if (item.TryGetProperty("Sequence", out var sequence))
            {
                parts.Add(new TemplatePart(null, sequence.GetProperty("id").GetString() == "B" ? 1 : 0));
            }
            else throw template.Error("has an element that is neither SpecialToken nor Sequence");
        }
        return parts;
    }
}
