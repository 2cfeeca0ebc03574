namespace Eval.Tokenizers;

/// <summary>Thrown when a regex backtracks past its step budget on some text (catastrophic backtracking).</summary>
public sealed class RegexBacktrackingLimitException(string message) : Exception(message);

/// <summary>
/// Runs a compiled Oniguruma program over the code points of one text: leftmost-first (Perl) matching by
/// backtracking, with an explicit stack, and a step budget per start position so that a pathological regex
/// fails with an error instead of hanging.
/// </summary>
internal sealed class OnigurumaMatcher
{
    private const int BranchEntry = 0, RestoreEntry = 1;

    private readonly OnigurumaInstruction[] program;
    private readonly int[] text;
    private readonly int length;
    private readonly int[] registers;
    private readonly long stepBudget;
    private readonly string pattern;
    private int[] stack = new int[96];
    private int top;
    private long steps;
    private int searchStart;
    private int lookBehindEnd = -1;

    /// <summary>Where code points stop being readable: the text's end, or inside a look-behind the position it looks back from.</summary>
    private int limit;

    public OnigurumaMatcher(OnigurumaInstruction[] program, int registerCount, int[] text, int length, long stepBudget, string pattern)
    {
        this.program = program;
        this.text = text;
        this.length = length;
        registers = new int[registerCount];
        limit = length;
        this.stepBudget = stepBudget;
        this.pattern = pattern;
    }

    /// <summary>The first match at or after from (in code points), as onig_search: (start, end), or start -1.</summary>
    public (int Start, int End) Search(int from)
    {
        searchStart = from;
        for (int start = from; start <= length; start++)
        {
            steps = 0;
            top = 0;
            int end = Run(0, start);
            if (end >= 0) return (start, end);
        }
        return (-1, -1);
    }

    private void Push(int kind, int a, int b)
    {
        if (top + 3 > stack.Length) Array.Resize(ref stack, stack.Length * 2);
        stack[top] = kind;
        stack[top + 1] = a;
        stack[top + 2] = b;
        top += 3;
    }

    /// <summary>Runs from pc at pos until a Succeed (the end position) or until every alternative failed (-1).</summary>
    private int Run(int pc, int pos)
    {
        int bottom = top;
        while (true)
        {
            if (++steps > stepBudget)
                throw new RegexBacktrackingLimitException(
                    $"regex '{pattern}' took more than {stepBudget} backtracking steps at one position of a {length}-code-point text (catastrophic backtracking)");
            ref readonly var instruction = ref program[pc];
            bool ok;
            switch (instruction.Op)
            {
                case OnigurumaOp.Set:
                    ok = pos < limit && instruction.Set!.Contains(text[pos]);
                    if (ok) { pos++; pc++; continue; }
                    break;
                case OnigurumaOp.Split:
                    Push(BranchEntry, instruction.Alternative, pos);
                    pc = instruction.Target;
                    continue;
                case OnigurumaOp.Jump:
                    pc = instruction.Target;
                    continue;
                case OnigurumaOp.SavePosition:
                    Push(RestoreEntry, instruction.Register, registers[instruction.Register]);
                    registers[instruction.Register] = pos;
                    pc++;
                    continue;
                case OnigurumaOp.ExitIfEmpty:
                    pc = registers[instruction.Register] == pos ? instruction.Target : pc + 1;
                    continue;
                case OnigurumaOp.Anchor:
                    if (AnchorHolds(instruction.Anchor, pos)) { pc++; continue; }
                    break;
                case OnigurumaOp.Look:
                {
                    bool behind = instruction.Look is LookKind.Behind or LookKind.NegativeBehind;
                    bool matched;
                    if (behind && instruction.LookBehindLength < 0) matched = LooksBehind(instruction.Alternative, pos);
                    else
                    {
                        int at = behind ? pos - instruction.LookBehindLength : pos;
                        matched = at >= 0 && at <= limit && Run(instruction.Alternative, at) >= 0;
                    }
                    bool negative = instruction.Look is LookKind.NegativeAhead or LookKind.NegativeBehind;
                    if (matched != negative) { pc = instruction.Target; continue; }
                    break;
                }
                case OnigurumaOp.Atomic:
                {
                    int end = Run(instruction.Alternative, pos);
                    if (end >= 0) { pos = end; pc = instruction.Target; continue; }
                    break;
                }
                case OnigurumaOp.EndOfLookBehind:
                    if (pos == lookBehindEnd) { pc++; continue; }
                    break;
                case OnigurumaOp.Succeed:
                    top = bottom;
                    return pos;
            }
            // Backtrack: undo register saves down to the latest branch of this run.
            while (true)
            {
                if (top == bottom) return -1;
                top -= 3;
                if (stack[top] == RestoreEntry) registers[stack[top + 1]] = stack[top + 2];
                else
                {
                    pc = stack[top + 1];
                    pos = stack[top + 2];
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Whether the look-behind body at pc matches some stretch that ends at pos, as Oniguruma runs it: over the text
    /// cut at pos (a greedy or possessive repeat inside stops there), from the nearest start back.
    /// </summary>
    private bool LooksBehind(int pc, int pos)
    {
        int outerEnd = lookBehindEnd, outerLimit = limit;
        lookBehindEnd = limit = pos;
        try
        {
            for (int start = pos; start >= 0; start--)
                if (Run(pc, start) >= 0) return true;
            return false;
        }
        finally
        {
            lookBehindEnd = outerEnd;
            limit = outerLimit;
        }
    }

    private bool AnchorHolds(AnchorKind kind, int pos) => kind switch
    {
        AnchorKind.TextStart => pos == 0,
        AnchorKind.TextEnd => pos == length,
        AnchorKind.TextEndOrFinalNewline => pos == length || pos == length - 1 && text[pos] == '\n',
        // Oniguruma's ^ holds at the start and after a newline that is not the text's last code point.
        AnchorKind.LineStart => pos == 0 || pos < length && text[pos - 1] == '\n',
        AnchorKind.LineEnd => pos == length || text[pos] == '\n',
        AnchorKind.SearchStart => pos == searchStart,
        AnchorKind.WordBoundary => IsWordAt(pos - 1) != IsWordAt(pos),
        AnchorKind.NotWordBoundary => IsWordAt(pos - 1) == IsWordAt(pos),
        _ => false,
    };

    /// <summary>\b sees the whole text, inside a look-behind too (Oniguruma: (?&lt;=\b) does not hold between A and b of "Ab").</summary>
    private bool IsWordAt(int pos) => pos >= 0 && pos < length && OnigurumaClasses.Word.Contains(text[pos]);
}
