using System.Globalization;
using System.Text.Json;
using CsvHelper;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>One example: its position in the (subset, split) file, its fields for the templates, and where it came from.</summary>
public sealed record Document(int Index, IReadOnlyDictionary<string, object?> Fields, string Origin);

/// <summary>A data file that cannot be read, naming the file and line (or, for a parquet file, the row).</summary>
public sealed class DatasetFormatException(string location, string message) : Exception($"{location}: {message}")
{
    public DatasetFormatException(string path, long line, string message) : this($"{path}:{line}", message) { }
}

/// <summary>
/// Readers for the file formats the tasks come in. Each returns the documents of one subset (language or subject)
/// with the field names the PromptSource templates use.
/// </summary>
public static class DatasetReaders
{
    private static readonly string[] XnliLabels = ["entailment", "neutral", "contradiction"];

    /// <summary>The format names task files may give a source; <see cref="Read"/> handles each.</summary>
    public static readonly IReadOnlyList<string> Formats =
        ["xnli-tsv", "xnli-1.0", "xcopa-jsonl", "xwinograd-tsv", "mmlu-csv", "mmlu-original", "json-lines", "parquet", "mmlu-pro-jsonl", "mmlu-pro-parquet"];

    /// <summary>The binary formats; every other format is text.</summary>
    private static readonly IReadOnlyList<string> BinaryFormats = ["parquet", "mmlu-pro-parquet"];

    /// <summary>
    /// The documents of one subset of a data file. A text file must be UTF-8 throughout: a byte sequence that is not
    /// (a Latin-1 or UTF-16 file, a damaged copy) is a <see cref="DatasetFormatException"/> naming its line and byte
    /// offset, never text with U+FFFD in its place. (Parquet text is decoded by Parquet.Net, which does not report it.)
    /// </summary>
    public static IReadOnlyList<Document> Read(string format, string path, string subset)
    {
        if (!Formats.Contains(format)) throw new ArgumentException($"unknown dataset format '{format}'");
        if (!BinaryFormats.Contains(format)) Utf8File.Check(path);
        return ReadFormat(format, path, subset);
    }

    private static IReadOnlyList<Document> ReadFormat(string format, string path, string subset) => format switch
    {
        "xnli-tsv" => ReadXnliTsv(path),
        "xnli-1.0" => ReadXnliOriginal(path, subset),
        "xcopa-jsonl" or "json-lines" => ReadJsonLines(path),
        "xwinograd-tsv" => ReadXWinogradTsv(path, subset),
        "mmlu-csv" => ReadMmlu(path, subset, header: true),
        "mmlu-original" => ReadMmlu(path, subset, header: false),
        "parquet" => ParquetRows.Read(path),
        "mmlu-pro-jsonl" => MmluProRows.Select(ReadJsonLines(path), subset),
        "mmlu-pro-parquet" => MmluProRows.Select(ParquetRows.Read(path), subset),
        _ => throw new ArgumentException($"unknown dataset format '{format}'"),
    };

    /// <summary>Hugging Face xnli as TSV: header id, premise, hypothesis, label; no quoting.</summary>
    private static List<Document> ReadXnliTsv(string path)
    {
        var docs = new List<Document>();
        var lines = LinkedFile.ReadLines(path).GetEnumerator();
        if (!lines.MoveNext()) throw new DatasetFormatException(path, 1, "empty file; expected the header id, premise, hypothesis, label");
        var header = lines.Current.Split('\t');
        int premise = Column(header, "premise", path), hypothesis = Column(header, "hypothesis", path), label = Column(header, "label", path);
        int lineNo = 1;
        while (lines.MoveNext())
        {
            lineNo++;
            if (lines.Current.Length == 0) continue;
            var cells = lines.Current.Split('\t');
            if (cells.Length != header.Length)
                throw new DatasetFormatException(path, lineNo, $"{cells.Length} tab-separated cells, the header has {header.Length}");
            docs.Add(new Document(docs.Count, new Dictionary<string, object?>
            {
                ["premise"] = cells[premise],
                ["hypothesis"] = cells[hypothesis],
                ["label"] = Integer(cells[label], 0, 2, path, lineNo, "label"),
            }, $"{path}:{lineNo}"));
        }
        return docs;
    }

    /// <summary>The XNLI-1.0 release: one TSV for all languages with named columns and labels as words.</summary>
    private static List<Document> ReadXnliOriginal(string path, string language)
    {
        var docs = new List<Document>();
        var lines = LinkedFile.ReadLines(path).GetEnumerator();
        if (!lines.MoveNext()) throw new DatasetFormatException(path, 1, "empty file; expected a header with language, gold_label, sentence1, sentence2");
        var header = lines.Current.Split('\t');
        int lang = Column(header, "language", path), gold = Column(header, "gold_label", path);
        int s1 = Column(header, "sentence1", path), s2 = Column(header, "sentence2", path);
        int lineNo = 1;
        while (lines.MoveNext())
        {
            lineNo++;
            if (lines.Current.Length == 0) continue;
            var cells = lines.Current.Split('\t');
            if (cells.Length < header.Length)
                throw new DatasetFormatException(path, lineNo, $"{cells.Length} tab-separated cells, the header has {header.Length}");
            if (cells[lang] != language) continue;
            int label = Array.IndexOf(XnliLabels, cells[gold]);
            if (label < 0) throw new DatasetFormatException(path, lineNo, $"gold_label '{cells[gold]}' is not one of {string.Join(", ", XnliLabels)}");
            docs.Add(new Document(docs.Count, new Dictionary<string, object?>
            {
                ["premise"] = cells[s1], ["hypothesis"] = cells[s2], ["label"] = (long)label,
            }, $"{path}:{lineNo}"));
        }
        return docs;
    }

    /// <summary>JSON lines (XCOPA's own files, and exports of Hugging Face datasets): every field passes through.</summary>
    private static List<Document> ReadJsonLines(string path)
    {
        var docs = new List<Document>();
        int lineNo = 0;
        foreach (var line in LinkedFile.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument json;
            try
            {
                json = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw new DatasetFormatException(path, lineNo, $"invalid JSON: {e.Message}");
            }
            using (json)
            {
                if (json.RootElement.ValueKind != JsonValueKind.Object) throw new DatasetFormatException(path, lineNo, "each line must be a JSON object");
                object? fields;
                try
                {
                    fields = FromJson(json.RootElement);
                }
                catch (InvalidOperationException e)
                {
                    // A string with a lone surrogate escape (\ud800) has no .NET string.
                    throw new DatasetFormatException(path, lineNo, $"a string is not valid text: {e.Message}");
                }
                docs.Add(new Document(docs.Count, (IReadOnlyDictionary<string, object?>)fields!, $"{path}:{lineNo}"));
            }
        }
        return docs;
    }

    /// <summary>A JSON value as .NET values; an object's repeated key keeps its last value, as Python's json does.</summary>
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new Dictionary<string, object?>(),
            (fields, p) => { fields[p.Name] = FromJson(p.Value); return fields; }),
        _ => null,
    };

    /// <summary>
    /// The XWinograd authors' TSV (no header): lang, source, english_original, sentence, tokens, pronoun, candidates,
    /// with JSON cells whose spans index the token list. Converted to the Hugging Face layout the templates expect:
    /// sentence with "_" in place of the pronoun, option1, option2, answer "1" or "2".
    /// </summary>
    private static List<Document> ReadXWinogradTsv(string path, string language)
    {
        var docs = new List<Document>();
        int lineNo = 0;
        foreach (var line in LinkedFile.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0) continue;
            var cells = line.Split('\t');
            if (cells.Length != 7) throw new DatasetFormatException(path, lineNo, $"{cells.Length} tab-separated cells, expected 7");
            if (cells[0] != language) continue;
            try
            {
                docs.Add(new Document(docs.Count, XWinogradFields(cells), $"{path}:{lineNo}"));
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or InvalidOperationException or IndexOutOfRangeException)
            {
                throw new DatasetFormatException(path, lineNo, e.Message);
            }
        }
        return docs;
    }

    private static Dictionary<string, object?> XWinogradFields(string[] cells)
    {
        var sentence = cells[3];
        var cellTokens = JsonSerializer.Deserialize<string?[]>(cells[4]) ?? throw new InvalidDataException("tokens cell is null");
        int nullToken = Array.IndexOf(cellTokens, null);
        if (nullToken >= 0) throw new InvalidDataException($"token {nullToken} of the tokens cell is null, not a string");
        string[] tokens = cellTokens!;
        using var pronoun = JsonDocument.Parse(cells[5]);
        using var candidates = JsonDocument.Parse(cells[6]);
        var span = pronoun.RootElement[1];
        int first = SpanBound(span[0], "start"), end = SpanBound(span[1], "end");
        if (first < 0 || end > tokens.Length || first >= end) throw new InvalidDataException($"pronoun span [{first}, {end}] is outside the {tokens.Length} tokens");
        var offsets = TokenOffsets(sentence, tokens, first, end);
        int from = offsets[first].Start, to = offsets[end - 1].Start + offsets[end - 1].Length;
        var options = candidates.RootElement.EnumerateArray().ToList();
        if (options.Count != 2) throw new InvalidDataException($"{options.Count} candidates, expected 2");
        int correct = options.FindIndex(o => o[3].GetBoolean());
        if (correct < 0 || options.Count(o => o[3].GetBoolean()) != 1) throw new InvalidDataException("exactly one candidate must be correct");
        return new Dictionary<string, object?>
        {
            ["sentence"] = sentence[..from] + "_" + sentence[to..],
            ["option1"] = CellString(options[0][0], "candidate 1"),
            ["option2"] = CellString(options[1][0], "candidate 2"),
            ["answer"] = (correct + 1).ToString(CultureInfo.InvariantCulture),
            ["pronoun"] = CellString(pronoun.RootElement[0], "pronoun"),
        };
    }

    private static string CellString(JsonElement value, string what) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new InvalidDataException($"{what} is {value.ValueKind}, not a string");

    private static int SpanBound(JsonElement bound, string which) =>
        bound.ValueKind == JsonValueKind.Number && bound.TryGetInt32(out int value)
            ? value
            : throw new InvalidDataException($"pronoun span {which} {bound.GetRawText()} is not a 32-bit integer");

    /// <summary>Penn Treebank spellings the tokenizer of the authors' TSV used for characters of the sentence.</summary>
    private static readonly Dictionary<string, string[]> TokenSpellings = new()
    {
        ["``"] = ["\"", "\u201C", "``"], ["''"] = ["\"", "\u201D", "''"], ["-LRB-"] = ["("], ["-RRB-"] = [")"],
    };

    /// <summary>
    /// Start and length of each token, found left to right in the sentence (spaces may or may not separate them).
    /// A token outside the pronoun span that cannot be found is skipped; the pronoun's own tokens must be found.
    /// </summary>
    private static (int Start, int Length)[] TokenOffsets(string sentence, string[] tokens, int spanStart, int spanEnd)
    {
        var offsets = new (int Start, int Length)[tokens.Length];
        int at = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            var spellings = TokenSpellings.GetValueOrDefault(tokens[i]) ?? [tokens[i]];
            var found = spellings.Select(s => (Start: sentence.IndexOf(s, at, StringComparison.Ordinal), s.Length)).Where(f => f.Start >= 0)
                .OrderBy(f => f.Start).FirstOrDefault((Start: -1, Length: 0));
            if (found.Start < 0)
            {
                if (i >= spanStart && i < spanEnd) throw new InvalidDataException($"pronoun token {i} '{tokens[i]}' is not in the sentence after offset {at}");
                offsets[i] = (at, 0);
                continue;
            }
            offsets[i] = found;
            at = found.Start + found.Length;
        }
        return offsets;
    }

    /// <summary>MMLU CSV: with header question, choice0..3, answer (0-3), or the original headerless layout ending in a letter.</summary>
    private static List<Document> ReadMmlu(string path, string subject, bool header)
    {
        var docs = new List<Document>();
        using var csv = CsvReader.FromFile(path, new CsvReaderOptions { HasHeader = header, TrackLineNumbers = true });
        if (header)
        {
            csv.ReadHeader();
            string[] expected = ["question", "choice0", "choice1", "choice2", "choice3", "answer"];
            var found = csv.Headers?.ToArray() ?? [];
            if (!expected.SequenceEqual(found))
                throw new DatasetFormatException(path, 1, $"header is '{string.Join(",", found)}', expected '{string.Join(",", expected)}'");
        }
        while (csv.Read())
        {
            long line = csv.LineNumber;
            if (csv.FieldCount != 6) throw new DatasetFormatException(path, line, $"{csv.FieldCount} columns, expected 6");
            var answerText = csv.GetString(5).Trim();
            long answer = header
                ? Integer(answerText, 0, 3, path, line, "answer")
                : answerText is "A" or "B" or "C" or "D" ? answerText[0] - 'A' : throw new DatasetFormatException(path, line, $"answer '{answerText}' is not A, B, C or D");
            docs.Add(new Document(docs.Count, new Dictionary<string, object?>
            {
                ["question"] = csv.GetString(0),
                ["choices"] = Enumerable.Range(1, 4).Select(i => (object?)csv.GetString(i)).ToList(),
                ["answer"] = answer,
                ["subject"] = subject,
            }, $"{path}:{line}"));
        }
        return docs;
    }

    private static int Column(string[] header, string name, string path)
    {
        int i = Array.IndexOf(header, name);
        return i >= 0 ? i : throw new DatasetFormatException(path, 1, $"no '{name}' column in the header ({string.Join(", ", header)})");
    }

    private static long Integer(string text, long min, long max, string path, long line, string field)
    {
        if (long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max) return v;
        throw new DatasetFormatException(path, line, $"{field} '{text}' is not an integer in [{min}, {max}]");
    }
}
