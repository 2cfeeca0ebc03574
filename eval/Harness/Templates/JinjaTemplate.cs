using System.Globalization;
using System.Text;

namespace Eval.Harness.Templates;

/// <summary>
/// A parsed Jinja template rendered with Python's value semantics: values are string, long, double, bool, null
/// (None), lists and string-keyed dictionaries. An undefined name is an error that names the template, line and
/// column (Jinja's StrictUndefined), except under "is defined" and the "default" filter.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<JinjaNode> nodes;

    private JinjaTemplate(string name, string source, IReadOnlyList<JinjaNode> nodes)
    {
        Name = name;
        Source = source;
        this.nodes = nodes;
    }

    public string Name { get; }
    public string Source { get; }

    public static JinjaTemplate Parse(string name, string source) =>
        new(name, source, new JinjaParser(name, new JinjaLexer(name, source).Tokenize()).ParseTemplate());

    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var scope = new Dictionary<string, object?>(variables);
        var output = new RenderOutput();
        RenderNodes(nodes, scope, output);
        return output.Text.ToString();
    }

    /// <summary>The most one render may allocate: loops multiply what each item costs, so they are held to this.</summary>
    public const long MaxRenderAllocation = 32L << 20;

    /// <summary>What one render has produced so far, and what it has allocated (renders run on one thread).</summary>
    private sealed class RenderOutput
    {
        private readonly long allocatedAtStart = GC.GetAllocatedBytesForCurrentThread();
        public StringBuilder Text { get; } = new();
        public void Append(string text) => Text.Append(text);
        public long Allocated => GC.GetAllocatedBytesForCurrentThread() - allocatedAtStart;
    }

    private void RenderNodes(IReadOnlyList<JinjaNode> body, Dictionary<string, object?> scope, RenderOutput output)
    {
        foreach (var node in body)
        {
            if (output.Text.Length > JinjaValues.MaxTextLength)
                throw new TemplateException(Name, node.Line, node.Column, $"the output is longer than a template may write ({JinjaValues.MaxTextLength} characters)");
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    break;
                case OutputNode o:
                    output.Append(JinjaValues.ToText(Evaluate(o.Value, scope), Error(o.Value)));
                    break;
                case SetNode s:
                    scope[s.Target] = Evaluate(s.Value, scope);
                    break;
                case IfNode i:
                    var taken = i.Branches.FirstOrDefault(b => JinjaValues.IsTrue(Evaluate(b.Condition, scope), Error(b.Condition)));
                    RenderNodes(taken.Body ?? i.Else, scope, output);
                    break;
                case ForNode f:
                    RenderFor(f, scope, output);
                    break;
            }
        }
    }

    private void RenderFor(ForNode f, Dictionary<string, object?> scope, RenderOutput output)
    {
        var items = JinjaValues.Iterate(Evaluate(f.Items, scope), Error(f.Items)).ToList();
        if (items.Count == 0)
        {
            RenderNodes(f.Else, scope, output);
            return;
        }
        // A for loop has its own scope in Jinja: assignments inside it do not leak out.
        var inner = new Dictionary<string, object?>(scope);
        for (int i = 0; i < items.Count; i++)
        {
            if (output.Allocated > MaxRenderAllocation)
                throw Error(f.Items)($"the loop has made the render allocate more than a template may ({MaxRenderAllocation >> 20} MiB)");
            if (f.Targets.Count == 1) inner[f.Targets[0]] = items[i];
            else
            {
                var parts = JinjaValues.Iterate(items[i], Error(f.Items)).ToList();
                if (parts.Count != f.Targets.Count)
                    throw Error(f.Items)($"cannot unpack {parts.Count} values into {f.Targets.Count} loop variables");
                for (int k = 0; k < parts.Count; k++) inner[f.Targets[k]] = parts[k];
            }
            inner["loop"] = new Dictionary<string, object?>
            {
                ["index"] = (long)(i + 1), ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
            };
            RenderNodes(f.Body, inner, output);
        }
    }

    private object? Evaluate(JinjaExpr expr, Dictionary<string, object?> scope)
    {
        var error = Error(expr);
        switch (expr)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n:
                if (scope.TryGetValue(n.Name, out var value)) return value;
                if (n.Name == "range") return new JinjaFunction("range");
                throw error($"'{n.Name}' is undefined (defined here: {string.Join(", ", scope.Keys.Order(StringComparer.Ordinal))})");
            case ListExpr list: return list.Items.Select(i => Evaluate(i, scope)).ToList();
            case AttributeExpr a:
                var target = Evaluate(a.Target, scope);
                if (target is IReadOnlyDictionary<string, object?> dict && dict.TryGetValue(a.Name, out var member)) return member;
                if (target is string or IReadOnlyList<object?> or IReadOnlyDictionary<string, object?>) return new BoundMethod(target, a.Name);
                throw error($"{JinjaValues.TypeName(target)} has no attribute '{a.Name}'");
            case IndexExpr ix: return JinjaValues.Index(Evaluate(ix.Target, scope), Evaluate(ix.Index, scope), error);
            case SliceExpr s:
                return JinjaValues.Slice(Evaluate(s.Target, scope), Optional(s.Start, scope), Optional(s.Stop, scope), Optional(s.Step, scope), error);
            case CallExpr c:
                var callee = Evaluate(c.Callee, scope);
                var args = c.Arguments.Select(x => Evaluate(x, scope)).ToList();
                return callee switch
                {
                    BoundMethod m => JinjaFunctions.CallMethod(m.Target, m.Name, args, error),
                    JinjaFunction { Name: "range" } => JinjaFunctions.Range(args, error),
                    _ => throw error($"{JinjaValues.TypeName(callee)} is not callable"),
                };
            case FilterExpr f:
                if (f.Filter is "default" or "d")
                {
                    var fallback = f.Arguments.Count > 0 ? Evaluate(f.Arguments[0], scope) : "";
                    return TryEvaluate(f.Value, scope, out var present) ? present : fallback;
                }
                return JinjaFunctions.ApplyFilter(f.Filter, Evaluate(f.Value, scope), f.Arguments.Select(x => Evaluate(x, scope)).ToList(), error);
            case TestExpr t:
                bool result = t.Test switch
                {
                    "defined" => TryEvaluate(t.Value, scope, out _),
                    "undefined" => !TryEvaluate(t.Value, scope, out _),
                    _ => JinjaFunctions.ApplyTest(t.Test, Evaluate(t.Value, scope), error),
                };
                return result != t.Negated;
            case UnaryExpr u:
                var operand = Evaluate(u.Operand, scope);
                return u.Operator switch
                {
                    "not" => !JinjaValues.IsTrue(operand, error),
                    "-" => JinjaValues.Arithmetic("-", 0L, operand, error),
                    _ => JinjaValues.Arithmetic("+", 0L, operand, error),
                };
            case BinaryExpr b when b.Operator == "and":
                var left = Evaluate(b.Left, scope);
                return JinjaValues.IsTrue(left, error) ? Evaluate(b.Right, scope) : left;
            case BinaryExpr b when b.Operator == "or":
                var first = Evaluate(b.Left, scope);
                return JinjaValues.IsTrue(first, error) ? first : Evaluate(b.Right, scope);
            case BinaryExpr b:
                return JinjaValues.Binary(b.Operator, Evaluate(b.Left, scope), Evaluate(b.Right, scope), error);
            case ConditionalExpr c:
                if (JinjaValues.IsTrue(Evaluate(c.Condition, scope), error)) return Evaluate(c.Then, scope);
                return c.Else is null ? "" : Evaluate(c.Else, scope);
            default:
                throw error($"unsupported expression {expr.GetType().Name}");
        }
    }

    private object? Optional(JinjaExpr? expr, Dictionary<string, object?> scope) => expr is null ? null : Evaluate(expr, scope);

    private bool TryEvaluate(JinjaExpr expr, Dictionary<string, object?> scope, out object? value)
    {
        try
        {
            value = Evaluate(expr, scope);
            return true;
        }
        catch (TemplateException) when (expr is NameExpr or AttributeExpr or IndexExpr)
        {
            value = null;
            return false;
        }
    }

    private Func<string, TemplateException> Error(JinjaExpr at) => message => new TemplateException(Name, at.Line, at.Column, message);

    private sealed record BoundMethod(object? Target, string Name);
    private sealed record JinjaFunction(string Name);
}
