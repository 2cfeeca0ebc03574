using System.Globalization;

namespace Eval.Harness.Templates;

internal abstract record JinjaNode(int Line, int Column);
internal sealed record TextNode(string Text, int Line, int Column) : JinjaNode(Line, Column);
internal sealed record OutputNode(JinjaExpr Value, int Line, int Column) : JinjaNode(Line, Column);
internal sealed record IfNode(IReadOnlyList<(JinjaExpr Condition, IReadOnlyList<JinjaNode> Body)> Branches, IReadOnlyList<JinjaNode> Else, int Line, int Column) : JinjaNode(Line, Column);
internal sealed record ForNode(IReadOnlyList<string> Targets, JinjaExpr Items, IReadOnlyList<JinjaNode> Body, IReadOnlyList<JinjaNode> Else, int Line, int Column) : JinjaNode(Line, Column);
internal sealed record SetNode(string Target, JinjaExpr Value, int Line, int Column) : JinjaNode(Line, Column);

internal abstract record JinjaExpr(int Line, int Column);
internal sealed record LiteralExpr(object? Value, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record NameExpr(string Name, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record ListExpr(IReadOnlyList<JinjaExpr> Items, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record AttributeExpr(JinjaExpr Target, string Name, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record IndexExpr(JinjaExpr Target, JinjaExpr Index, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record SliceExpr(JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record CallExpr(JinjaExpr Callee, IReadOnlyList<JinjaExpr> Arguments, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record FilterExpr(JinjaExpr Value, string Filter, IReadOnlyList<JinjaExpr> Arguments, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record TestExpr(JinjaExpr Value, string Test, bool Negated, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record UnaryExpr(string Operator, JinjaExpr Operand, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record BinaryExpr(string Operator, JinjaExpr Left, JinjaExpr Right, int Line, int Column) : JinjaExpr(Line, Column);
internal sealed record ConditionalExpr(JinjaExpr Condition, JinjaExpr Then, JinjaExpr? Else, int Line, int Column) : JinjaExpr(Line, Column);

/// <summary>
/// Recursive-descent parser for the Jinja subset PromptSource templates use: output, if/elif/else, for (with
/// loop.*), set, filters, tests, method calls, subscripts and slices, and Python's operator precedence.
/// </summary>
internal sealed class JinjaParser(string name, List<JinjaToken> tokens)
{
    /// <summary>How deep blocks, and expressions, may nest: parsing and rendering both recurse that deep.</summary>
    public const int MaxNesting = 100;

    private int index;
    private int depth;

    public IReadOnlyList<JinjaNode> ParseTemplate()
    {
        var body = ParseBody(out var end);
        if (end is not null) throw Error(end.Value, $"'{{% {end.Value.Value} %}}' has no opening tag");
        return body;
    }

    /// <summary>Parses nodes until an end-of-template or a block keyword this level does not own (returned in stop).</summary>
    private List<JinjaNode> ParseBody(out JinjaToken? stop)
    {
        var nodes = new List<JinjaNode>();
        while (true)
        {
            var t = Peek();
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    stop = null;
                    return nodes;
                case JinjaTokenKind.Text:
                    index++;
                    nodes.Add(new TextNode(t.Value, t.Line, t.Column));
                    break;
                case JinjaTokenKind.OutputStart:
                    index++;
                    var value = ParseExpression();
                    Expect(JinjaTokenKind.OutputEnd, "'}}'");
                    nodes.Add(new OutputNode(value, t.Line, t.Column));
                    break;
                case JinjaTokenKind.BlockStart:
                    var keyword = tokens[index + 1];
                    if (keyword.Kind != JinjaTokenKind.Name) throw Error(keyword, "expected a statement name after '{%'");
                    switch (keyword.Value)
                    {
                        case "if": nodes.Add(ParseIf()); break;
                        case "for": nodes.Add(ParseFor()); break;
                        case "set": nodes.Add(ParseSet()); break;
                        case "elif" or "else" or "endif" or "endfor":
                            stop = keyword;
                            return nodes;
                        default: throw Error(keyword, $"unsupported statement '{keyword.Value}' (supported: if, elif, else, endif, for, endfor, set)");
                    }
                    break;
                default:
                    throw Error(t, $"unexpected '{t.Value}'");
            }
        }
    }

    private IfNode ParseIf()
    {
        var start = tokens[index + 1];
        index += 2;
        var branches = new List<(JinjaExpr, IReadOnlyList<JinjaNode>)>();
        var condition = ParseExpression();
        Expect(JinjaTokenKind.BlockEnd, "'%}'");
        while (true)
        {
            var body = NestedBody(out var stop);
            if (stop is null) throw Error(start, "'{% if %}' is never closed with '{% endif %}'");
            branches.Add((condition, body));
            index += 2;
            switch (stop.Value.Value)
            {
                case "elif":
                    condition = ParseExpression();
                    Expect(JinjaTokenKind.BlockEnd, "'%}'");
                    continue;
                case "else":
                    Expect(JinjaTokenKind.BlockEnd, "'%}'");
                    var elseBody = NestedBody(out var end);
                    if (end is null || end.Value.Value != "endif") throw Error(end ?? start, "'{% else %}' must be followed by '{% endif %}'");
                    index += 2;
                    Expect(JinjaTokenKind.BlockEnd, "'%}'");
                    return new IfNode(branches, elseBody, start.Line, start.Column);
                case "endif":
                    Expect(JinjaTokenKind.BlockEnd, "'%}'");
                    return new IfNode(branches, [], start.Line, start.Column);
                default:
                    throw Error(stop.Value, $"'{{% {stop.Value.Value} %}}' inside '{{% if %}}'");
            }
        }
    }

    private ForNode ParseFor()
    {
        var start = tokens[index + 1];
        index += 2;
        var targets = new List<string> { ExpectName() };
        while (AcceptOperator(",")) targets.Add(ExpectName());
        var inToken = Next();
        if (inToken.Kind != JinjaTokenKind.Name || inToken.Value != "in") throw Error(inToken, "expected 'in' in '{% for %}'");
        var items = ParseOr();
        Expect(JinjaTokenKind.BlockEnd, "'%}'");
        var body = NestedBody(out var stop);
        IReadOnlyList<JinjaNode> elseBody = [];
        if (stop is { Value: "else" })
        {
            index += 2;
            Expect(JinjaTokenKind.BlockEnd, "'%}'");
            elseBody = NestedBody(out stop);
        }
        if (stop is not { Value: "endfor" }) throw Error(stop ?? start, "'{% for %}' is never closed with '{% endfor %}'");
        index += 2;
        Expect(JinjaTokenKind.BlockEnd, "'%}'");
        return new ForNode(targets, items, body, elseBody, start.Line, start.Column);
    }

    private SetNode ParseSet()
    {
        var start = tokens[index + 1];
        index += 2;
        var target = ExpectName();
        if (!AcceptOperator("=")) throw Error(Peek(), "expected '=' in '{% set %}'");
        var value = ParseExpression();
        Expect(JinjaTokenKind.BlockEnd, "'%}'");
        return new SetNode(target, value, start.Line, start.Column);
    }

    /// <summary>An expression, no deeper than <see cref="MaxNesting"/> (operator chains count: they render recursively).</summary>
    public JinjaExpr ParseExpression()
    {
        var at = Peek();
        if (++depth > MaxNesting) throw Error(at, $"expressions nest deeper than {MaxNesting} levels");
        try
        {
            var expression = ParseConditional();
            if (depth == 1 && JinjaExpressionDepth.Of(expression) > MaxNesting)
                throw Error(at, $"the expression is more than {MaxNesting} operations deep");
            return expression;
        }
        finally { depth--; }
    }

    private List<JinjaNode> NestedBody(out JinjaToken? stop)
    {
        var at = Peek();
        if (++depth > MaxNesting) throw Error(at, $"blocks and the expressions in them nest deeper than {MaxNesting} levels");
        try { return ParseBody(out stop); }
        finally { depth--; }
    }

    private JinjaExpr ParseConditional()
    {
        var value = ParseOr();
        if (PeekName("if"))
        {
            var t = Next();
            var condition = ParseOr();
            JinjaExpr? otherwise = null;
            if (PeekName("else"))
            {
                index++;
                otherwise = ParseExpression();
            }
            return new ConditionalExpr(condition, value, otherwise, t.Line, t.Column);
        }
        return value;
    }

    private JinjaExpr ParseOr() => ParseBinaryLevel(["or"], ParseAnd);
    private JinjaExpr ParseAnd() => ParseBinaryLevel(["and"], ParseNot);

    private JinjaExpr ParseNot()
    {
        if (!PeekName("not")) return ParseComparison();
        var t = Next();
        if (++depth > MaxNesting) throw Error(t, $"expressions nest deeper than {MaxNesting} levels");
        try { return new UnaryExpr("not", ParseNot(), t.Line, t.Column); }
        finally { depth--; }
    }

    private JinjaExpr ParseComparison()
    {
        var left = ParseConcat();
        while (true)
        {
            var t = Peek();
            string? op = t.Kind == JinjaTokenKind.Operator && t.Value is "==" or "!=" or "<" or ">" or "<=" or ">=" ? t.Value : null;
            if (op is null && PeekName("in")) op = "in";
            if (op is null && PeekName("not") && tokens[index + 1] is { Kind: JinjaTokenKind.Name, Value: "in" })
            {
                index++;
                op = "not in";
            }
            if (op is null && PeekName("is"))
            {
                index++;
                bool negated = PeekName("not");
                if (negated) index++;
                left = new TestExpr(left, ExpectName(), negated, t.Line, t.Column);
                continue;
            }
            if (op is null) return left;
            index++;
            left = new BinaryExpr(op, left, ParseConcat(), t.Line, t.Column);
        }
    }

    private JinjaExpr ParseConcat() => ParseBinaryLevel(["~"], ParseAdditive);
    private JinjaExpr ParseAdditive() => ParseBinaryLevel(["+", "-"], ParseMultiplicative);
    private JinjaExpr ParseMultiplicative() => ParseBinaryLevel(["*", "/", "//", "%"], ParseUnary);

    private JinjaExpr ParseBinaryLevel(string[] operators, Func<JinjaExpr> next)
    {
        var left = next();
        // Symbols are operator tokens; "and" and "or" are name tokens.
        while (Peek() is { Kind: JinjaTokenKind.Operator or JinjaTokenKind.Name } t && operators.Contains(t.Value))
        {
            index++;
            left = new BinaryExpr(t.Value, left, next(), t.Line, t.Column);
        }
        return left;
    }

    private JinjaExpr ParseUnary()
    {
        if (Peek() is { Kind: JinjaTokenKind.Operator, Value: "-" or "+" } t)
        {
            index++;
            if (++depth > MaxNesting) throw Error(t, $"expressions nest deeper than {MaxNesting} levels");
            try { return new UnaryExpr(t.Value, ParseUnary(), t.Line, t.Column); }
            finally { depth--; }
        }
        return ParsePostfix(ParsePrimary());
    }

    private JinjaExpr ParsePostfix(JinjaExpr value)
    {
        while (true)
        {
            var t = Peek();
            if (t is { Kind: JinjaTokenKind.Operator, Value: "." })
            {
                index++;
                value = new AttributeExpr(value, ExpectName(), t.Line, t.Column);
            }
            else if (t is { Kind: JinjaTokenKind.Operator, Value: "[" })
            {
                index++;
                value = ParseSubscript(value, t);
            }
            else if (t is { Kind: JinjaTokenKind.Operator, Value: "(" })
            {
                index++;
                value = new CallExpr(value, ParseArguments(), t.Line, t.Column);
            }
            else if (t is { Kind: JinjaTokenKind.Operator, Value: "|" })
            {
                index++;
                var filter = ExpectName();
                var args = AcceptOperator("(") ? ParseArguments() : [];
                value = new FilterExpr(value, filter, args, t.Line, t.Column);
            }
            else return value;
        }
    }

    private JinjaExpr ParseSubscript(JinjaExpr target, JinjaToken open)
    {
        JinjaExpr? start = null, stop = null, step = null;
        if (!PeekOperator(":")) start = ParseExpression();
        if (!AcceptOperator(":"))
        {
            ExpectOperator("]");
            return new IndexExpr(target, start!, open.Line, open.Column);
        }
        if (!PeekOperator(":") && !PeekOperator("]")) stop = ParseExpression();
        if (AcceptOperator(":") && !PeekOperator("]")) step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpr(target, start, stop, step, open.Line, open.Column);
    }

    private List<JinjaExpr> ParseArguments()
    {
        var args = new List<JinjaExpr>();
        while (!AcceptOperator(")"))
        {
            if (args.Count > 0) ExpectOperator(",");
            if (Peek() is { Kind: JinjaTokenKind.Name } && tokens[index + 1] is { Kind: JinjaTokenKind.Operator, Value: "=" })
                throw Error(Peek(), "keyword arguments are not supported");
            args.Add(ParseExpression());
        }
        return args;
    }

    private JinjaExpr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case JinjaTokenKind.String:
                var text = t.Value;
                while (Peek().Kind == JinjaTokenKind.String) text += Next().Value;
                return new LiteralExpr(text, t.Line, t.Column);
            case JinjaTokenKind.Integer: return new LiteralExpr(long.Parse(t.Value, CultureInfo.InvariantCulture), t.Line, t.Column);
            case JinjaTokenKind.Float: return new LiteralExpr(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line, t.Column);
            case JinjaTokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(true, t.Line, t.Column),
                    "false" or "False" => new LiteralExpr(false, t.Line, t.Column),
                    "none" or "None" => new LiteralExpr(null, t.Line, t.Column),
                    _ => new NameExpr(t.Value, t.Line, t.Column),
                };
            case JinjaTokenKind.Operator when t.Value == "(":
                var inner = ParseExpression();
                if (PeekOperator(",")) return ParseSequence(inner, t, ")");
                ExpectOperator(")");
                return inner;
            case JinjaTokenKind.Operator when t.Value == "[":
                if (AcceptOperator("]")) return new ListExpr([], t.Line, t.Column);
                return ParseSequence(ParseExpression(), t, "]");
            default:
                throw Error(t, t.Kind is JinjaTokenKind.OutputEnd or JinjaTokenKind.BlockEnd ? "expression is missing" : $"unexpected '{t.Value}'");
        }
    }

    private ListExpr ParseSequence(JinjaExpr first, JinjaToken open, string closer)
    {
        var items = new List<JinjaExpr> { first };
        while (AcceptOperator(","))
        {
            if (PeekOperator(closer)) break;
            items.Add(ParseExpression());
        }
        ExpectOperator(closer);
        return new ListExpr(items, open.Line, open.Column);
    }

    private JinjaToken Peek() => tokens[index];
    private JinjaToken Next() => tokens[index++];
    private bool PeekName(string value) => Peek() is { Kind: JinjaTokenKind.Name } t && t.Value == value;
    private bool PeekOperator(string value) => Peek() is { Kind: JinjaTokenKind.Operator } t && t.Value == value;

    private bool AcceptOperator(string value)
    {
        if (!PeekOperator(value)) return false;
        index++;
        return true;
    }

    private void ExpectOperator(string value)
    {
        if (!AcceptOperator(value)) throw Error(Peek(), $"expected '{value}'");
    }

    private string ExpectName()
    {
        var t = Next();
        return t.Kind == JinjaTokenKind.Name ? t.Value : throw Error(t, "expected a name");
    }

    private void Expect(JinjaTokenKind kind, string what)
    {
        var t = Next();
        if (t.Kind != kind) throw Error(t, $"expected {what}" + (t.Value.Length > 0 ? $", found '{t.Value}'" : ""));
    }

    private TemplateException Error(JinjaToken at, string message) => new(name, at.Line, at.Column, message);
}

/// <summary>The depth of an expression tree, found without recursion (the tree may be deeper than the stack allows).</summary>
internal static class JinjaExpressionDepth
{
    public static int Of(JinjaExpr root)
    {
        int deepest = 0;
        var pending = new Stack<(JinjaExpr Expr, int Depth)>();
        pending.Push((root, 1));
        while (pending.Count > 0)
        {
            var (expr, depth) = pending.Pop();
            deepest = Math.Max(deepest, depth);
            foreach (var child in Children(expr))
                if (child is not null) pending.Push((child, depth + 1));
        }
        return deepest;
    }

    private static IEnumerable<JinjaExpr?> Children(JinjaExpr expr) => expr switch
    {
        ListExpr l => (IEnumerable<JinjaExpr?>)l.Items,
        AttributeExpr a => new JinjaExpr?[] { a.Target },
        IndexExpr i => new JinjaExpr?[] { i.Target, i.Index },
        SliceExpr s => new JinjaExpr?[] { s.Target, s.Start, s.Stop, s.Step },
        CallExpr c => c.Arguments.Prepend(c.Callee),
        FilterExpr f => f.Arguments.Prepend(f.Value),
        TestExpr t => new JinjaExpr?[] { t.Value },
        UnaryExpr u => new JinjaExpr?[] { u.Operand },
        BinaryExpr b => new JinjaExpr?[] { b.Left, b.Right },
        ConditionalExpr c => new JinjaExpr?[] { c.Condition, c.Then, c.Else },
        _ => [],
    };
}
