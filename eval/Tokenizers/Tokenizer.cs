using System.Text.Json;

namespace Eval.Tokenizers;

/// <summary>The result of encoding: ids and their token strings.</summary>
/// <summary>
/// An encoded text (or pair): ids, token strings, and each token's segment id (token_type_ids, as the post-processor
/// sets them; without a post-processor 0 for the first text and 1 for the pair).
/// </summary>
public sealed record TokenEncoding(IReadOnlyList<int> Ids, IReadOnlyList<string> Tokens, IReadOnlyList<int> TypeIds);

/// <summary>
/// A Hugging Face tokenizer.json pipeline: added tokens split out of the raw text, normaliser, added tokens split out
/// of the normalised text, pre-tokenizer, model, post-processor; and the decoder for the way back. Immutable after
/// loading and safe to use from several threads.
/// </summary>
public sealed class Tokenizer
{
    private readonly AddedTokenSplitter rawSplitter, normalizedSplitter;
    private readonly Dictionary<string, AddedToken> addedByContent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AddedToken>.AlternateLookup<ReadOnlySpan<char>> addedByContentSpan;
    private readonly int longestAddedContent;
    /// <summary>The characters added tokens start with: a word starting otherwise spells none.</summary>
    private readonly System.Buffers.SearchValues<char> addedFirstCharacters;
    /// <summary>Each thread's list for the pieces of the pre-tokenizer (Encode is not re-entered on a thread).</summary>
    private readonly ThreadLocal<PieceList> pieceScratch = new(() => new PieceList(1024));
    private readonly Dictionary<int, AddedToken> addedById = [];

    private Tokenizer(string path, INormalizer? normalizer, IPreTokenizer? preTokenizer, ITokenizerModel model,
        IPostProcessor? postProcessor, IDecoder? decoder, IReadOnlyList<AddedToken> addedTokens, SpecialTokens specials)
    {
        Path = path;
        Normalizer = normalizer;
        PreTokenizer = preTokenizer;
        Model = model;
        PostProcessor = postProcessor;
        Decoder = decoder;
        AddedTokens = addedTokens;
        Specials = specials;
        foreach (var t in addedTokens)
        {
            addedByContent.TryAdd(t.Content, t);
            addedById.TryAdd(t.Id, t);
            longestAddedContent = Math.Max(longestAddedContent, t.Content.Length);
        }
        addedByContentSpan = addedByContent.GetAlternateLookup<ReadOnlySpan<char>>();
        addedFirstCharacters = System.Buffers.SearchValues.Create(addedTokens.Where(t => t.Content.Length > 0).Select(t => t.Content[0]).Distinct().ToArray());
        // As in the Rust library: tokens with normalized = false are split out of the raw text first, then those with
        // normalized = true, by their normalised content, out of the normalised pieces between.
        rawSplitter = new AddedTokenSplitter(addedTokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        normalizedSplitter = new AddedTokenSplitter(addedTokens.Where(t => t.Normalized)
            .Select(t => (normalizer?.Normalize(t.Content) ?? t.Content, t)));
    }

    public string Path { get; }
    public INormalizer? Normalizer { get; }
    public IPreTokenizer? PreTokenizer { get; }
    public ITokenizerModel Model { get; }
    public IPostProcessor? PostProcessor { get; }
    public IDecoder? Decoder { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public SpecialTokens Specials { get; }

    /// <summary>How many ids the tokenizer can produce: its model's vocabulary and its added tokens.</summary>
    public int IdCount => Math.Max(Model.VocabularySize, AddedTokens.Count == 0 ? 0 : AddedTokens.Max(t => t.Id) + 1);

    /// <summary>Throws unless every id this tokenizer produces has a row in a model vocabulary of the given size.</summary>
    public void RequireFits(int modelVocabularySize, string model)
    {
        if (IdCount > modelVocabularySize)
            throw new ArgumentException(
                $"{Path} produces ids up to {IdCount - 1}, but {model} has a vocabulary of {modelVocabularySize}: the tokenizer does not belong to this model (see --tokenizer)");
    }

    /// <summary>Loads tokenizer.json (and tokenizer_config.json beside it) from a folder or the file's path.</summary>
    public static Tokenizer Load(string folderOrFile)
    {
        var path = Directory.Exists(folderOrFile) ? System.IO.Path.Combine(folderOrFile, "tokenizer.json") : folderOrFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: tokenizer.json not found", path);
        // Only the pipeline's members are parsed; the rest of the file is checked and stepped over.
        using var doc = TokenizerJson.ReadPipeline(path);
        try
        {
            return Build(path, new JsonConfig(path, doc.RootElement));
        }
        catch (TokenizerFormatException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // A component's own check (a BPE merge, a Unigram score) knows no file name.
            throw new TokenizerFormatException($"{path}: {e.Message}");
        }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException or IndexOutOfRangeException)
        {
            // The components read their JSON directly (GetProperty, GetInt32, [i]): a value of the wrong kind, a
            // missing key or a short list is a malformed file, not a bug.
            throw new TokenizerFormatException($"{path}: a component does not have the shape tokenizer.json gives it: {e.Message}");
        }
    }

    private static Tokenizer Build(string path, JsonConfig root)
    {

        var added = root.Array("added_tokens").Select(a => new AddedToken(
            a.Int("id") ?? throw a.Error("has no id"), a.String("content") ?? throw a.Error("has no content"),
            a.Bool("special", false), a.Bool("single_word", false), a.Bool("lstrip", false), a.Bool("rstrip", false),
            a.Bool("normalized", !a.Bool("special", false)))).ToArray();
        var normalizer = root.Has("normalizer") ? NormalizerFactory.Create(root.Child("normalizer")) : null;
        var preTokenizer = root.Has("pre_tokenizer") ? PreTokenizerFactory.Create(root.Child("pre_tokenizer")) : null;
        var model = TokenizerModelFactory.Create(root.Child("model"));
        int IdOf(string token) => added.FirstOrDefault(a => a.Content == token)?.Id
            ?? (model.TryGetId(token, out var id) ? id : throw root.Error($"special token '{token}' is not in the vocabulary"));
        var post = root.Has("post_processor") ? PostProcessorFactory.Create(root.Child("post_processor"), IdOf) : null;
        // The post-processor's special tokens carry their own ids: each must be one the tokenizer can decode and a
        // model has a row for (an added token, or in the model's vocabulary).
        if (post is not null)
            foreach (var special in post.Process([], null).Concat(post.Process([], [])))
                if (!added.Any(a => a.Id == special.Id) && model.IdToToken(special.Id) is null)
                    throw root.Child("post_processor").Error($"adds '{special.Text}' with id {special.Id}, which is neither an added token nor in the model's vocabulary");
        var decoder = root.Has("decoder") ? DecoderFactory.Create(root.Child("decoder")) : null;
        var configPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, "tokenizer_config.json");
        var specials = SpecialTokens.Load(configPath, added);
        return new Tokenizer(path, normalizer, preTokenizer, model, post, decoder, added, specials);
    }

    public TokenEncoding Encode(string text, bool addSpecialTokens = true, string? pair = null)
    {
        var first = EncodeText(text);
        var second = pair is null ? null : EncodeText(pair);
        var typeIds = new List<int>(first.Count + (second?.Count ?? 0) + 4);
        // Without special tokens the post-processor still sets the type ids (a template's, RoBERTa's 0s), as in the Rust library.
        var tokens = PostProcessor is not null
            ? PostProcessor.Process(first, second, typeIds, addSpecialTokens)
            : PassThroughPostProcessor.Merge(first, second, typeIds);
        var ids = new int[tokens.Count];
        var texts = new string[tokens.Count];
        for (int i = 0; i < ids.Length; i++) (ids[i], texts[i]) = (tokens[i].Id, tokens[i].Text);
        return new TokenEncoding(ids, texts, typeIds);
    }

    public int? TokenToId(string token) =>
        addedByContent.TryGetValue(token, out var a) ? a.Id : Model.TryGetId(token, out var id) ? id : null;

    public string? IdToToken(int id) => addedById.TryGetValue(id, out var a) ? a.Content : Model.IdToToken(id);

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && addedById.TryGetValue(id, out var a) && a.Special) continue;
            tokens.Add(IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} is not in the vocabulary of {Path}"));
        }
        return string.Concat(Decoder is null ? tokens : Decoder.Decode(tokens));
    }

    private List<Token> EncodeText(string text)
    {
        var output = new List<Token>(text.Length / 3 + 8);
        var pieces = PreTokenizer is null ? null : pieceScratch.Value!;
        var sections = rawSplitter.Split(text);
        for (int sectionIndex = 0; sectionIndex < sections.Count; sectionIndex++)
        {
            var (raw, token) = sections[sectionIndex];
            if (token is not null)
            {
                output.Add(new Token(raw, token.Id));
                continue;
            }
            if (raw.Length == 0) continue;
            var normalized = Normalizer?.Normalize(raw) ?? raw;
            foreach (var (piece, inner) in normalizedSplitter.Split(normalized))
            {
                if (inner is not null)
                {
                    output.Add(new Token(piece, inner.Id));
                    continue;
                }
                if (piece.Length == 0) continue;
                if (pieces is null)
                {
                    TokenizeWord(piece, output);
                    continue;
                }
                pieces.Clear();
                PreTokenizer!.Split(piece, sectionIndex, pieces);
                for (int w = 0; w < pieces.Count; w++) TokenizeWord(pieces[w], output);
            }
        }
        return output;
    }

    /// <summary>A pre-tokenized word that spells an added token is that token; any other goes to the model.</summary>
    private void TokenizeWord(ReadOnlySpan<char> word, List<Token> output)
    {
        if (word.Length <= longestAddedContent && addedFirstCharacters.Contains(word[0]) && addedByContentSpan.TryGetValue(word, out var exact)) output.Add(new Token(exact.Content, exact.Id));
        else Model.Tokenize(word, output);
    }
}

internal static class TokenizerModelFactory
{
    public static ITokenizerModel Create(JsonConfig c)
    {
        var type = c.String("type");
        if (type is null && c.Has("vocab"))
            type = c.Element.GetProperty("vocab").ValueKind == JsonValueKind.Array ? "Unigram" : c.Has("merges") ? "BPE" : "WordPiece";
        switch (type)
        {
            case "BPE":
            {
                var vocab = Vocabulary(c);
                var merges = c.Array("merges").Select(m => m.Element.ValueKind == JsonValueKind.Array
                    ? (m.StringIn(m.Element[0], "a left part"), m.StringIn(m.Element[1], "a right part"))
                    : m.StringIn(m.Element, "a merge").Split(' ', 2) is [var a, var b] ? (a, b) : throw m.Error("is not 'left right'")).ToArray();
                if (c.Has("dropout") && c.Element.GetProperty("dropout").GetDouble() > 0)
                    throw c.Error("has BPE dropout > 0, which makes tokenization random; only dropout null or 0 is supported");
                return new BpeModel(vocab, merges, c.String("unk_token"), c.Bool("byte_fallback", false), c.Bool("fuse_unk", false),
                    c.Bool("ignore_merges", false), c.String("continuing_subword_prefix"), c.String("end_of_word_suffix"));
            }
            case "Unigram":
            {
                var vocab = c.Child("vocab").Element.EnumerateArray().Select(e => (c.StringIn(e[0], "a piece"), RustJsonNumber.Parse(e[1].GetRawText()))).ToArray();
                int unkId = c.Int("unk_id") ?? 0;
                // As the Rust library: an empty vocabulary, or an unk_id outside it, is refused when loading.
                if (vocab.Length == 0) throw c.Error("has an empty Unigram vocabulary");
                if (unkId < 0 || unkId >= vocab.Length) throw c.Error($"has unk_id {unkId} outside its {vocab.Length} pieces");
                return new UnigramModel(vocab, unkId, c.Bool("byte_fallback", false));
            }
            case "WordPiece":
            {
                var vocab = Vocabulary(c);
                var unk = c.String("unk_token") ?? "[UNK]";
                // Every word it cannot split becomes the unknown token, so that token must have an id.
                if (!vocab.ContainsKey(unk)) throw c.Error($"has unk_token '{unk}', which is not in its vocabulary");
                return new WordPieceModel(vocab, unk, c.String("continuing_subword_prefix") ?? "##", c.Count("max_input_chars_per_word", 100));
            }
            default:
                throw c.Unsupported("model", "BPE, Unigram, WordPiece");
        }
    }

    private static Dictionary<string, int> Vocabulary(JsonConfig c)
    {
        var vocab = c.Child("vocab");
        if (vocab.Element.ValueKind != JsonValueKind.Object) throw vocab.Error("is not an object of token → id");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.Element.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw vocab.Error($"gives token '{p.Name}' the id {p.Value.GetRawText()}, not a non-negative 32-bit integer");
            if (!result.TryAdd(p.Name, id)) throw vocab.Error($"has token '{p.Name}' twice");
        }
        // The models index their tokens by id in an array: ids far beyond the entries would allocate for nothing.
        int limit = 2 * result.Count + 1024;
        if (result.Count > 0 && result.Values.Max() is var max && max >= limit)
            throw vocab.Error($"has id {max} for {result.Count} tokens; ids must be (nearly) dense, below {limit}");
        return result;
    }
}
