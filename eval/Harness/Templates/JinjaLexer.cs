using System.Globalization;
using System.Text;

namespace Eval.Harness.Templates;

/// <summary>A template error that names the template, line and column.</summary>
public sealed class TemplateException(string template, int line, int column, string message)
    : Exception($"template '{template}', line {line}, column {column}: {message}")
{
    public string Template { get; } = template;
    public int Line { get; } = line;
    public int Column { get; } = column;
}

internal enum JinjaTokenKind { Text, OutputStart, OutputEnd, BlockStart, BlockEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Line, int Column);

/// <summary>
/// Splits a template into text and the tokens of {{ … }} and {% … %} tags, dropping {# … #} comments and applying
/// the "-" whitespace control of Jinja. Like Jinja's defaults, a single trailing newline of the template is removed.
/// </summary>
internal sealed class JinjaLexer(string name, string source)
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="];

    private readonly List<JinjaToken> tokens = [];
    private int pos;
    private int countedTo, countedLine = 1, countedColumn = 1;

    public List<JinjaToken> Tokenize()
    {
        var text = source.EndsWith('\n') ? source[..^1] : source;
        bool stripNextLeading = false;
        while (pos < text.Length)
        {
            int open = FindTagStart(text, pos);
            var literal = text[pos..(open < 0 ? text.Length : open)];
            if (stripNextLeading) literal = literal.TrimStart();
            stripNextLeading = false;
            if (open < 0)
            {
                AddText(literal, pos);
                break;
            }
            char kind = text[open + 1];
            bool stripBefore = open + 2 < text.Length && text[open + 2] == '-';
            if (stripBefore) literal = literal.TrimEnd();
            AddText(literal, pos);
            int bodyStart = open + (stripBefore ? 3 : 2);
            if (kind == '#')
            {
                int close = text.IndexOf("#}", bodyStart, StringComparison.Ordinal);
                if (close < 0) throw Error(open, "comment {# is never closed");
                stripNextLeading = text[close - 1] == '-' && close - 1 >= bodyStart;
                pos = close + 2;
                continue;
            }
            var closer = kind == '{' ? "}}" : "%}";
            tokens.Add(Token(kind == '{' ? JinjaTokenKind.OutputStart : JinjaTokenKind.BlockStart, "", open));
            pos = bodyStart;
            stripNextLeading = LexTag(text, closer, open);
            tokens.Add(Token(kind == '{' ? JinjaTokenKind.OutputEnd : JinjaTokenKind.BlockEnd, "", pos - 2));
        }
        tokens.Add(Token(JinjaTokenKind.End, "", text.Length));
        return tokens;
    }

    private static int FindTagStart(string text, int from)
    {
        for (int i = text.IndexOf('{', from); i >= 0 && i + 1 < text.Length; i = text.IndexOf('{', i + 1))
            if (text[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private void AddText(string literal, int at)
    {
        if (literal.Length > 0) tokens.Add(Token(JinjaTokenKind.Text, literal, at));
    }

    /// <summary>Lexes expression tokens up to the closer; returns whether the closer had "-" (strip what follows).</summary>
    private bool LexTag(string text, string closer, int tagStart)
    {
        while (true)
        {
            while (pos < text.Length && char.IsWhiteSpace(text[pos])) pos++;
            if (pos >= text.Length) throw Error(tagStart, $"tag is never closed with '{closer}'");
            if (text[pos] == '-' && string.CompareOrdinal(text, pos + 1, closer, 0, 2) == 0)
            {
                pos += 3;
                return true;
            }
            if (string.CompareOrdinal(text, pos, closer, 0, 2) == 0)
            {
                pos += 2;
                return false;
            }
            char c = text[pos];
            if (c is '"' or '\'') LexString(text, c);
            else if (char.IsAsciiDigit(c)) LexNumber(text);
            else if (char.IsLetter(c) || c == '_')
            {
                int start = pos;
                while (pos < text.Length && (char.IsLetterOrDigit(text[pos]) || text[pos] == '_')) pos++;
                tokens.Add(Token(JinjaTokenKind.Name, text[start..pos], start));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(text, pos, o, 0, o.Length) == 0)
                         ?? throw Error(pos, $"unexpected character '{c}'");
                tokens.Add(Token(JinjaTokenKind.Operator, op, pos));
                pos += op.Length;
            }
        }
    }

    private void LexString(string text, char quote)
    {
        int start = pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= text.Length) throw Error(start, "string literal is never closed");
            char c = text[pos++];
            if (c == quote) break;
            if (c != '\\' || pos >= text.Length)
            {
                sb.Append(c);
                continue;
            }
            char e = text[pos++];
            sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '\\' => '\\', '\'' => '\'', '"' => '"', _ => throw Error(pos - 2, $"unsupported escape '\\{e}'") });
        }
        tokens.Add(Token(JinjaTokenKind.String, sb.ToString(), start));
    }

    private void LexNumber(string text)
    {
        int start = pos;
        while (pos < text.Length && (char.IsAsciiDigit(text[pos]) || text[pos] == '_')) pos++;
        bool isFloat = pos + 1 < text.Length && text[pos] == '.' && char.IsAsciiDigit(text[pos + 1]);
        if (isFloat)
        {
            pos++;
            while (pos < text.Length && char.IsAsciiDigit(text[pos])) pos++;
        }
        var value = text[start..pos].Replace("_", "");
        tokens.Add(Token(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, value, start));
        if (!isFloat && !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw Error(start, $"integer {value} does not fit in 64 bits");
    }

    private JinjaToken Token(JinjaTokenKind kind, string value, int offset)
    {
        var (line, column) = Position(offset);
        return new JinjaToken(kind, value, line, column);
    }

    /// <summary>Line and column of an offset, counted on from the previous token's (tokens come in order): one pass over
    /// the template in all, where counting from the start each time took quadratic time on a long template.</summary>
    private (int Line, int Column) Position(int offset)
    {
        if (offset < countedTo) (countedTo, countedLine, countedColumn) = (0, 1, 1);
        for (; countedTo < offset && countedTo < source.Length; countedTo++)
        {
            if (source[countedTo] == '\n') { countedLine++; countedColumn = 1; }
            else countedColumn++;
        }
        return (countedLine, countedColumn);
    }

    private TemplateException Error(int offset, string message)
    {
        var (line, column) = Position(offset);
        return new TemplateException(name, line, column, message);
    }
}
