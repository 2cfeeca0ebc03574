using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// A tokenizer.json {"Regex": ...} pattern as Hugging Face's Rust tokenizers run it: through Oniguruma, over code
/// points (a letter beyond the BMP is one code point, not two UTF-16 units), with Oniguruma's classes and Unicode
/// version rather than .NET's. <see cref="FindAll"/> reproduces the library's find_iter; <see cref="Replace"/> its
/// Replace normalizer.
/// </summary>
public sealed class OnigurumaPattern
{
    /// <summary>Steps one match attempt (one start position) may take before it is refused as catastrophic backtracking.</summary>
    public const long DefaultStepBudget = 20_000_000;

    /// <summary>How deep groups and classes may nest (Oniguruma allows 4,096; deeper is a TokenizerFormatException).</summary>
    public const int MaxNesting = OnigurumaParser.MaxNesting;

    private readonly OnigurumaInstruction[] program;
    private readonly int registerCount;
    private readonly long stepBudget;

    public string Source { get; }

    private OnigurumaPattern(string source, OnigurumaInstruction[] program, int registerCount, long stepBudget)
    {
        Source = source;
        this.program = program;
        this.registerCount = registerCount;
        this.stepBudget = stepBudget;
    }

    /// <summary>Parses and compiles; unsupported or invalid syntax is a <see cref="TokenizerFormatException"/> naming the offset.</summary>
    public static OnigurumaPattern Compile(string pattern, long stepBudget = DefaultStepBudget)
    {
        var (program, registers) = OnigurumaCompiler.Compile(OnigurumaParser.Parse(pattern), pattern);
        return new OnigurumaPattern(pattern, program, registers, stepBudget);
    }

    /// <summary>
    /// Appends the (start, end) UTF-16 offsets of the successive matches, as the onig crate's find_iter gives them:
    /// each search starts where the last match ended; an empty match right where the last match ended is skipped by
    /// searching again one code point further. Empty matches elsewhere are kept.
    /// </summary>
    public void FindAll(string text, List<(int Start, int End)> matches)
    {
        int[] codePoints = new int[text.Length];
        int[] offsets = new int[text.Length + 1];
        int count = 0;
        for (int i = 0; i < text.Length; count++)
        {
            offsets[count] = i;
            codePoints[count] = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                ? char.ConvertToUtf32(text[i], text[i + 1]) : text[i];
            i += codePoints[count] > 0xFFFF ? 2 : 1;
        }
        offsets[count] = text.Length;

        var matcher = new OnigurumaMatcher(program, registerCount, codePoints, count, stepBudget, Source);
        int lastEnd = 0, lastMatchEnd = -1;
        while (lastEnd <= count)
        {
            var (start, end) = matcher.Search(lastEnd);
            if (start < 0) break;
            if (start == end && end == lastMatchEnd)
            {
                lastEnd++;
                continue;
            }
            lastEnd = lastMatchEnd = end;
            matches.Add((offsets[start], offsets[end]));
        }
    }

    /// <summary>The Rust Replace normalizer: every match, empty ones included, replaced by content; "" stays "".</summary>
    public string Replace(string text, string content)
    {
        if (text.Length == 0) return text;
        var matches = new List<(int Start, int End)>();
        FindAll(text, matches);
        if (matches.Count == 0) return text;
        var builder = new StringBuilder(text.Length);
        int position = 0;
        foreach (var (start, end) in matches)
        {
            builder.Append(text, position, start - position).Append(content);
            position = end;
        }
        return builder.Append(text, position, text.Length - position).ToString();
    }

    public override string ToString() => Source;
}
