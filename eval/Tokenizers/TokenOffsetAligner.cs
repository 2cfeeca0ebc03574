using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Eval.Tokenizers;

/// <summary>A token with the span of the original text it came from: [Start, End) in UTF-16 code units.</summary>
public readonly record struct OffsetToken(int Id, string Text, int Start, int End)
{
    /// <summary>Post-processor tokens ([CLS], &lt;/s&gt;, …) come from no text: (0, 0), as in Hugging Face's tokenizers.</summary>
    public bool FromText => End > Start;
}

/// <summary>
/// Offsets for <see cref="Tokenizer.Encode"/>, which returns ids and token strings only. The pipeline is not re-run with
/// alignment tracking; instead the tokens are matched, in order, against the normalised text, whose characters carry
/// the span of the original text they came from:
/// <list type="bullet">
/// <item>the text is split around raw added tokens as the tokenizer splits it, and each plain section is normalised
/// unit by unit (code points, or grapheme clusters when the normaliser composes across code points), so every
/// normalised character knows its original span — a prepended ▁ shares the first character's span, a decomposed
/// character's pieces share its span;</item>
/// <item>each token is turned back into the UTF-8 bytes it spells (byte-level alphabet, &lt;0xXX&gt; byte fallback,
/// ▁ for a space) and matched at the cursor, skipping whitespace the pre-tokenizer dropped and a ▁ it prepended;</item>
/// <item>a token that covers part of a character (byte-level BPE, byte fallback) gets the whole character's span,
/// and unknown tokens get the gap between their neighbours.</item>
/// </list>
/// Against the Rust library (npm tokenizers 0.23.2, code points converted to UTF-16) on the fixture lines whose ids agree:
/// every line of modernbert, smollm2, llama2-phi3 and t5-small, 858 of 862 of t5-ru; on the adversarial lines the
/// misses are characters the normaliser deletes (controls, zero-width) and t5-ru's Precompiled + Replace(" {2,}")
/// mix, where a section that does not normalise unit by unit falls back to the whole section's span.
/// Immutable and thread-safe.
/// </summary>
public sealed class TokenOffsetAligner
{
    private const string Metaspace = "\u2581";
    private readonly Tokenizer tokenizer;
    private readonly AddedTokenSplitter rawSplitter;
    private readonly Dictionary<int, AddedToken> addedById = [];
    private readonly bool byteLevel, spacesDropped;
    private readonly bool[]? unproducible;

    public TokenOffsetAligner(Tokenizer tokenizer)
    {
        this.tokenizer = tokenizer;
        rawSplitter = new AddedTokenSplitter(tokenizer.AddedTokens
            .Where(t => !t.Normalized || tokenizer.Normalizer is null).Select(t => (t.Content, t)));
        foreach (var t in tokenizer.AddedTokens) addedById.TryAdd(t.Id, t);
        byteLevel = PreTokenizerHas(tokenizer.Path, "ByteLevel");
        // Bytes whose byte-level character is not in the vocabulary (smollm2 lacks 0x04, 0x06, 0x13, …): the model
        // drops them, and matching steps over them.
        if (byteLevel)
        {
            unproducible = new bool[256];
            for (int b = 0; b < 256; b++)
                unproducible[b] = !tokenizer.Model.TryGetId(ByteLevelAlphabet.CharOf((byte)b).ToString(), out _);
        }
        spacesDropped = PreTokenizerHas(tokenizer.Path, "WhitespaceSplit") || PreTokenizerHas(tokenizer.Path, "Whitespace");
    }

    /// <summary>Encodes and returns every token with its span of <paramref name="text"/>.</summary>
    public OffsetToken[] Encode(string text, bool addSpecialTokens)
    {
        var plain = tokenizer.Encode(text, addSpecialTokens: false);
        var aligned = Align(text, plain);
        if (!addSpecialTokens) return aligned;
        var full = tokenizer.Encode(text, addSpecialTokens: true);
        return WithPostProcessorTokens(full, aligned);
    }

    /// <summary>Spans for the tokens of an encoding made with addSpecialTokens = false.</summary>
    public OffsetToken[] Align(string text, TokenEncoding plain)
    {
        var view = NormalizedView.Build(text, rawSplitter, tokenizer.Normalizer, canonicalSpaces: !byteLevel);
        var result = new OffsetToken[plain.Ids.Count];
        var matched = new bool[result.Length];
        int cursor = 0;
        var surface = new List<byte>(32);
        for (int i = 0; i < result.Length; i++)
        {
            var token = plain.Tokens[i];
            surface.Clear();
            AppendSurface(token, plain.Ids[i], surface);
            if (view.TryMatch(surface, spacesDropped, ref cursor, out var start, out var end, unproducible))
            {
                result[i] = new OffsetToken(plain.Ids[i], token, start, end);
                matched[i] = true;
            }
            else result[i] = new OffsetToken(plain.Ids[i], token, 0, 0);
        }
        FillUnmatched(result, matched, text.Length);
        return result;
    }

    /// <summary>Unknown tokens (and anything else that did not match) take the gap between their matched neighbours.</summary>
    private static void FillUnmatched(OffsetToken[] tokens, bool[] matched, int textLength)
    {
        for (int i = 0; i < tokens.Length; i++)
        {
            if (matched[i]) continue;
            int start = 0;
            for (int k = i - 1; k >= 0; k--) if (matched[k]) { start = tokens[k].End; break; }
            int end = textLength;
            for (int k = i + 1; k < tokens.Length; k++) if (matched[k]) { end = tokens[k].Start; break; }
            tokens[i] = tokens[i] with { Start = start, End = Math.Max(start, end) };
        }
    }

    /// <summary>Places the aligned tokens inside the post-processed encoding; the post-processor's own tokens get (0, 0).</summary>
    private static OffsetToken[] WithPostProcessorTokens(TokenEncoding full, OffsetToken[] plain)
    {
        var result = new OffsetToken[full.Ids.Count];
        for (int i = 0; i < result.Length; i++) result[i] = new OffsetToken(full.Ids[i], full.Tokens[i], 0, 0);
        for (int window = 0; window + plain.Length <= result.Length; window++)
        {
            int k = 0;
            while (k < plain.Length && full.Ids[window + k] == plain[k].Id) k++;
            if (k < plain.Length) continue;
            plain.CopyTo(result, window);
            return result;
        }
        for (int i = 0, j = 0; i < result.Length && j < plain.Length; i++)
            if (full.Ids[i] == plain[j].Id) result[i] = plain[j++];
        return result;
    }

    /// <summary>The UTF-8 bytes of the normalised text a token spells.</summary>
    private void AppendSurface(string token, int id, List<byte> output)
    {
        if (addedById.TryGetValue(id, out var added) && added.Content == token)
        {
            var content = added.Normalized && tokenizer.Normalizer is not null ? tokenizer.Normalizer.Normalize(token) : token;
            AppendText(byteLevel ? content : content.Replace(" ", Metaspace, StringComparison.Ordinal), output);
            return;
        }
        if (byteLevel)
        {
            ByteLevelAlphabet.Decode(token, output);
            return;
        }
        if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
        {
            output.Add(value);
            return;
        }
        AppendText(token.Replace(" ", Metaspace, StringComparison.Ordinal), output);
    }

    private static void AppendText(string text, List<byte> output)
    {
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            int n = rune.EncodeToUtf8(buffer);
            for (int b = 0; b < n; b++) output.Add(buffer[b]);
        }
    }

    /// <summary>Whether tokenizer.json's pre-tokenizer has a step of this type at any depth (ByteLevel: tokens are spelled
    /// in its alphabet; WhitespaceSplit: spaces are dropped before Metaspace prepends its ▁).</summary>
    private static bool PreTokenizerHas(string path, string type)
    {
        if (!File.Exists(path)) return false;
        using var doc = TokenizerJson.ReadPipeline(path);
        return doc.RootElement.TryGetProperty("pre_tokenizer", out var pre) && HasType(pre, type);

        static bool HasType(JsonElement e, string type) => e.ValueKind switch
        {
            JsonValueKind.Object => e.EnumerateObject().Any(p =>
                p.Name == "type" && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == type || HasType(p.Value, type)),
            JsonValueKind.Array => e.EnumerateArray().Any(x => HasType(x, type)),
            _ => false,
        };
    }
}
