using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using OurTokenizer = Eval.Tokenizers.Tokenizer;

namespace Eval.Bench;

/// <summary>One tokenizer instance under test: ids of a text with the tokenizer's special tokens added.</summary>
public interface ITokenizerUnderTest : IDisposable
{
    int[] Encode(string text);
}

/// <summary>A way to make fresh instances (fresh caches) of one implementation for one tokenizer folder.</summary>
public sealed record TokenizerPeer(string Name, Func<ITokenizerUnderTest> Create);

/// <summary>Ours, Hugging Face's Rust library in-process (Tokenizers.DotNet), and Microsoft.ML.Tokenizers where it can load the tokenizer.</summary>
public static class TokenizerPeers
{
    private static readonly System.Text.RegularExpressions.Regex Gpt2Pattern = new(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", System.Text.RegularExpressions.RegexOptions.Compiled);

    public static IEnumerable<TokenizerPeer> For(string folder)
    {
        var json = Path.Combine(folder, "tokenizer.json");
        yield return new TokenizerPeer("ours", () => new Ours(OurTokenizer.Load(folder)));
        yield return new TokenizerPeer("rust (Tokenizers.DotNet 1.4.1)", () => new Rust(json));
        foreach (var ml in MlTokenizersPeers(folder)) yield return ml;
    }

    /// <summary>
    /// Microsoft.ML.Tokenizers 2.0.1 on what it can read: a SentencePiece .model beside tokenizer.json
    /// (SentencePieceTokenizer, with &lt;/s&gt; appended as T5's post-processor does), or the vocabulary and merges of a
    /// byte-level BPE (CodeGenTokenizer: GPT-2 regex + byte-level BPE) or of a SentencePiece-style BPE (BpeTokenizer with
    /// Prepend ▁ / space → ▁ normalisation; byte-level also as BpeTokenizer's byte-level mode). None where it can load
    /// neither (a Unigram without .model).
    /// </summary>
    public static IEnumerable<TokenizerPeer> MlTokenizersPeers(string folder)
    {
        var model = Path.Combine(folder, "spiece.model");
        if (File.Exists(model))
        {
            yield return new("ML.Tokenizers 2.0.1 SentencePiece (spiece.model)", () =>
            {
                using var stream = File.OpenRead(model);
                return new Ml(SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: true), ([], []));
            });
            yield break;
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "tokenizer.json")));
        var root = doc.RootElement;
        var m = root.GetProperty("model");
        if (!m.TryGetProperty("merges", out _)) yield break;
        var unknown = m.TryGetProperty("unk_token", out var u) ? u.GetString() : null;
        var vocab = m.GetProperty("vocab").GetRawText();
        var merges = m.GetProperty("merges").EnumerateArray()
            .Select(e => e.ValueKind == JsonValueKind.Array ? $"{e[0].GetString()} {e[1].GetString()}" : e.GetString()!).ToArray();
        var (prefix, suffix) = TemplateSpecials(root);
        var vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(vocab)!;
        if (root.GetProperty("pre_tokenizer").GetRawText().Contains("\"ByteLevel\"", StringComparison.Ordinal))
        {
            yield return new("ML.Tokenizers 2.0.1 CodeGen (vocab+merges)", () =>
            {
                using var vocabStream = new MemoryStream(Encoding.UTF8.GetBytes(vocab));
                using var mergesStream = new MemoryStream(Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join("\n", merges) + "\n"));
                return new Ml(CodeGenTokenizer.Create(vocabStream, mergesStream, addPrefixSpace: false), (prefix, suffix));
            });
            yield return new("ML.Tokenizers 2.0.1 Bpe byte-level (vocab+merges)", () => new Ml(BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges, ByteLevel = true, PreTokenizer = new RegexPreTokenizer(Gpt2Pattern, null),
            }), (prefix, suffix)));
            yield break;
        }
        yield return new("ML.Tokenizers 2.0.1 Bpe (vocab+merges)", () => new Ml(BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = merges, Normalizer = new SentencePieceSpaces(), PreTokenizer = new WholeText(), UnknownToken = unknown,
        }), (prefix, suffix)));
    }

    /// <summary>The ids TemplateProcessing puts before and after a single sequence ([CLS] … [SEP], &lt;s&gt; …).</summary>
    private static (int[] Prefix, int[] Suffix) TemplateSpecials(JsonElement root)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object
            || post.GetProperty("type").GetString() != "TemplateProcessing") return ([], []);
        var specials = post.GetProperty("special_tokens");
        List<int> before = [], after = [];
        bool seen = false;
        foreach (var part in post.GetProperty("single").EnumerateArray())
        {
            if (part.TryGetProperty("Sequence", out _)) { seen = true; continue; }
            var id = part.GetProperty("SpecialToken").GetProperty("id").GetString()!;
            (seen ? after : before).AddRange(specials.GetProperty(id).GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        }
        return (before.ToArray(), after.ToArray());
    }

    private sealed class Ours(OurTokenizer tokenizer) : ITokenizerUnderTest
    {
        public int[] Encode(string text) => tokenizer.Encode(text, addSpecialTokens: true).Ids is var ids && ids is int[] array ? array : [.. ids];
        public void Dispose() { }
    }

    private sealed class Rust(string path) : ITokenizerUnderTest
    {
        private readonly global::Tokenizers.DotNet.Tokenizer tokenizer = new(path);
        public int[] Encode(string text) => Array.ConvertAll(tokenizer.Encode(text), id => (int)id);
        public void Dispose() => tokenizer.Dispose();
    }

    private sealed class Ml(Microsoft.ML.Tokenizers.Tokenizer tokenizer, (int[] Prefix, int[] Suffix) specials) : ITokenizerUnderTest
    {
        public int[] Encode(string text)
        {
            var ids = tokenizer.EncodeToIds(text);
            return specials.Prefix.Length + specials.Suffix.Length == 0 ? ids as int[] ?? [.. ids] : [.. specials.Prefix, .. ids, .. specials.Suffix];
        }

        public void Dispose() { }
    }

    /// <summary>Llama-style normalisation for ML.Tokenizers' BPE: ▁ prepended, spaces as ▁.</summary>
    private sealed class SentencePieceSpaces : Normalizer
    {
        public override string Normalize(string original) => original.Length == 0 ? original : "\u2581" + original.Replace(' ', '\u2581');
        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }

    /// <summary>No pre-tokenization: SentencePiece BPE merges over the whole normalised text.</summary>
    private sealed class WholeText : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => [(0, text.Length)];
        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => [(0, text.Length)];
    }
}
