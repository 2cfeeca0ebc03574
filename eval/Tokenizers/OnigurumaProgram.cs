namespace Eval.Tokenizers;

internal enum OnigurumaOp
{
    /// <summary>Consume one code point of Set.</summary>
    Set,
    /// <summary>Try Target first, then Alternative on backtracking.</summary>
    Split,
    Jump,
    /// <summary>Remember the position in register Register (restored on backtracking).</summary>
    SavePosition,
    /// <summary>Jump to Target when the position equals register Register: a loop iteration that matched nothing ends the loop.</summary>
    ExitIfEmpty,
    Anchor,
    /// <summary>Run the sub-program at Alternative (ending in Succeed); go on at Target as the look-around says.</summary>
    Look,
    /// <summary>Run the sub-program at Alternative; go on at Target from where its first match ends.</summary>
    Atomic,
    /// <summary>In a look-behind of varying length: fail unless the body ends where the look-behind was asked.</summary>
    EndOfLookBehind,
    Succeed,
}

/// <summary>One instruction of a compiled Oniguruma regex.</summary>
internal readonly record struct OnigurumaInstruction(
    OnigurumaOp Op, int Target = 0, int Alternative = 0, int Register = 0, CodePointSet? Set = null,
    AnchorKind Anchor = default, LookKind Look = default, int LookBehindLength = 0);

/// <summary>Compiles the parsed nodes into a program for <see cref="OnigurumaMatcher"/>, a backtracking machine.</summary>
internal sealed class OnigurumaCompiler
{
    /// <summary>Counted repeats are unrolled; past this many instructions the regex is refused instead.</summary>
    private const int MaxInstructions = 200_000;

    private readonly List<OnigurumaInstruction> program = [];
    private readonly string pattern;
    private int registers;

    private OnigurumaCompiler(string pattern) => this.pattern = pattern;

    public static (OnigurumaInstruction[] Program, int Registers) Compile(OnigurumaNode node, string pattern)
    {
        var compiler = new OnigurumaCompiler(pattern);
        compiler.Emit(node);
        compiler.Add(new(OnigurumaOp.Succeed));
        return (compiler.program.ToArray(), compiler.registers);
    }

    private int Add(OnigurumaInstruction instruction)
    {
        if (program.Count >= MaxInstructions)
            throw new TokenizerFormatException($"regex '{pattern}': counted repeats make it over {MaxInstructions} instructions; not supported");
        program.Add(instruction);
        return program.Count - 1;
    }

    private int Here => program.Count;

    private void Patch(int at, OnigurumaInstruction instruction) => program[at] = instruction;

    private void Emit(OnigurumaNode node)
    {
        switch (node)
        {
            case SetNode set:
                Add(new(OnigurumaOp.Set, Set: set.Set));
                break;
            case SequenceNode sequence:
                foreach (var item in sequence.Items) Emit(item);
                break;
            case AlternationNode alternation:
            {
                var jumps = new List<int>();
                for (int i = 0; i < alternation.Alternatives.Count; i++)
                {
                    int split = i < alternation.Alternatives.Count - 1 ? Add(default) : -1;
                    Emit(alternation.Alternatives[i]);
                    if (split >= 0)
                    {
                        jumps.Add(Add(default));
                        Patch(split, new(OnigurumaOp.Split, Target: split + 1, Alternative: Here));
                    }
                }
                foreach (var jump in jumps) Patch(jump, new(OnigurumaOp.Jump, Target: Here));
                break;
            }
            case AnchorNode anchor:
                Add(new(OnigurumaOp.Anchor, Anchor: anchor.Kind));
                break;
            case AtomicNode atomic:
                EmitSubProgram(OnigurumaOp.Atomic, atomic.Body, default, 0);
                break;
            case LookNode look:
                EmitLook(look);
                break;
            case RepeatNode repeat:
                EmitRepeat(repeat);
                break;
            default:
                throw new InvalidOperationException(node.GetType().Name);
        }
    }

    private void EmitSubProgram(OnigurumaOp op, OnigurumaNode body, LookKind kind, int lookBehindLength)
    {
        int at = Add(default);
        Emit(body);
        Add(new(OnigurumaOp.Succeed));
        Patch(at, new(op, Target: Here, Alternative: at + 1, Look: kind, LookBehindLength: lookBehindLength));
    }

    /// <summary>A look-behind of fixed length starts that far back; alternatives of different fixed lengths become one look-behind each.</summary>
    private void EmitLook(LookNode look)
    {
        if (look.Kind is LookKind.Ahead or LookKind.NegativeAhead)
        {
            EmitSubProgram(OnigurumaOp.Look, look.Body, look.Kind, 0);
            return;
        }
        if (FixedLength(look.Body) is { } length)
        {
            EmitSubProgram(OnigurumaOp.Look, look.Body, look.Kind, length);
            return;
        }
        if (look.Body is AlternationNode alternation && alternation.Alternatives.All(a => FixedLength(a) is not null))
        {
            var each = alternation.Alternatives.Select(a => (OnigurumaNode)new LookNode(a, look.Kind)).ToList();
            Emit(look.Kind == LookKind.Behind ? new AlternationNode(each) : new SequenceNode(each));
            return;
        }
        // Varying length: the matcher tries every start before the position, the body must end right at it.
        int at = Add(default);
        Emit(look.Body);
        Add(new(OnigurumaOp.EndOfLookBehind));
        Add(new(OnigurumaOp.Succeed));
        Patch(at, new(OnigurumaOp.Look, Target: Here, Alternative: at + 1, Look: look.Kind, LookBehindLength: -1));
    }

    private static int? FixedLength(OnigurumaNode node) => node switch
    {
        SetNode => 1,
        AnchorNode or LookNode => 0,
        SequenceNode s => s.Items.Select(FixedLength).Aggregate((int?)0, (sum, l) => sum is null || l is null ? null : sum + l),
        AlternationNode a => a.Alternatives.Select(FixedLength).Distinct().ToList() is [var only] ? only : null,
        RepeatNode { Min: var min, Max: var max } r when min == max => FixedLength(r.Body) * min,
        AtomicNode a => FixedLength(a.Body),
        _ => null,
    };

    private static bool CanMatchEmpty(OnigurumaNode node) => node switch
    {
        SetNode => false,
        SequenceNode s => s.Items.All(CanMatchEmpty),
        AlternationNode a => a.Alternatives.Any(CanMatchEmpty),
        RepeatNode r => r.Min == 0 || CanMatchEmpty(r.Body),
        AtomicNode a => CanMatchEmpty(a.Body),
        _ => true,
    };

    private void EmitRepeat(RepeatNode repeat)
    {
        if (repeat.Kind == RepeatKind.Possessive)
        {
            EmitSubProgram(OnigurumaOp.Atomic, repeat with { Kind = RepeatKind.Greedy }, default, 0);
            return;
        }
        bool lazy = repeat.Kind == RepeatKind.Lazy;
        for (int i = 0; i < repeat.Min; i++) Emit(repeat.Body);
        if (repeat.Max < 0)
        {
            bool guard = CanMatchEmpty(repeat.Body);
            int register = guard ? registers++ : -1;
            int loop = Add(default);
            if (guard) Add(new(OnigurumaOp.SavePosition, Register: register));
            Emit(repeat.Body);
            int exitCheck = guard ? Add(default) : -1;
            Add(new(OnigurumaOp.Jump, Target: loop));
            int exit = Here;
            Patch(loop, lazy ? new(OnigurumaOp.Split, Target: exit, Alternative: loop + 1) : new(OnigurumaOp.Split, Target: loop + 1, Alternative: exit));
            if (guard) Patch(exitCheck, new(OnigurumaOp.ExitIfEmpty, Target: exit, Register: register));
            return;
        }
        var splits = new List<int>();
        for (int i = repeat.Min; i < repeat.Max; i++)
        {
            splits.Add(Add(default));
            Emit(repeat.Body);
        }
        int end = Here;
        foreach (var split in splits)
            Patch(split, lazy ? new(OnigurumaOp.Split, Target: end, Alternative: split + 1) : new(OnigurumaOp.Split, Target: split + 1, Alternative: end));
    }
}
