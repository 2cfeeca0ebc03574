using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Eval.Engine.IO;

/// <summary>
/// A safe unpickler for protocols 0–5 into the inert object model of PickleValues.cs: no code is ever run (there is
/// nothing to run it with), globals go through <see cref="PickleGlobals"/> (a small allowlist interpreted, code and
/// system access refused, other classes inert), and memory is bounded: every length is checked against the bytes
/// left before anything is allocated, the stack, marks, memo and tuple nesting have limits, and reading is a loop
/// (no recursion). Every refusal is a <see cref="CheckpointFormatException"/> naming the source, the pickle offset and
/// the opcode.
/// </summary>
public static class PickleReader
{
    public const int MaxStack = 1 << 20;
    public const int MaxMarks = 1 << 16;
    public const int MaxMemo = 1 << 24;
    public const int MaxTupleNesting = 1000;
    private const int MaxNumberText = 4096;

    /// <summary>
    /// Reads one pickle from the start of data (which may continue with other bytes: the legacy format concatenates
    /// pickles); length is how many bytes it took, to its STOP. persistentLoad resolves persistent ids (PyTorch's
    /// storages); it throws InvalidDataException to refuse one. source names the pickle in errors.
    /// </summary>
    public static object? Load(ReadOnlySpan<byte> data, string source, Func<object?, object?>? persistentLoad, out int length)
    {
        var machine = new Machine(data, source, persistentLoad);
        return machine.Run(out length);
    }

    public static object? Load(ReadOnlySpan<byte> data, string source, Func<object?, object?>? persistentLoad = null) =>
        Load(data, source, persistentLoad, out _);

    public static string OpcodeName(byte opcode) => opcode switch
    {
        (byte)'(' => "MARK", (byte)'.' => "STOP", (byte)'0' => "POP", (byte)'1' => "POP_MARK", (byte)'2' => "DUP",
        (byte)'F' => "FLOAT", (byte)'I' => "INT", (byte)'J' => "BININT", (byte)'K' => "BININT1", (byte)'L' => "LONG",
        (byte)'M' => "BININT2", (byte)'N' => "NONE", (byte)'P' => "PERSID", (byte)'Q' => "BINPERSID", (byte)'R' => "REDUCE",
        (byte)'S' => "STRING", (byte)'T' => "BINSTRING", (byte)'U' => "SHORT_BINSTRING", (byte)'V' => "UNICODE",
        (byte)'X' => "BINUNICODE", (byte)'a' => "APPEND", (byte)'b' => "BUILD", (byte)'c' => "GLOBAL", (byte)'d' => "DICT",
        (byte)'}' => "EMPTY_DICT", (byte)'e' => "APPENDS", (byte)'g' => "GET", (byte)'h' => "BINGET", (byte)'i' => "INST",
        (byte)'j' => "LONG_BINGET", (byte)'l' => "LIST", (byte)']' => "EMPTY_LIST", (byte)'o' => "OBJ", (byte)'p' => "PUT",
        (byte)'q' => "BINPUT", (byte)'r' => "LONG_BINPUT", (byte)'s' => "SETITEM", (byte)'t' => "TUPLE", (byte)')' => "EMPTY_TUPLE",
        (byte)'u' => "SETITEMS", (byte)'G' => "BINFLOAT", (byte)'B' => "BINBYTES", (byte)'C' => "SHORT_BINBYTES",
        0x80 => "PROTO", 0x81 => "NEWOBJ", 0x82 => "EXT1", 0x83 => "EXT2", 0x84 => "EXT4", 0x85 => "TUPLE1", 0x86 => "TUPLE2",
        0x87 => "TUPLE3", 0x88 => "NEWTRUE", 0x89 => "NEWFALSE", 0x8a => "LONG1", 0x8b => "LONG4", 0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8", 0x8e => "BINBYTES8", 0x8f => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX", 0x93 => "STACK_GLOBAL", 0x94 => "MEMOIZE", 0x95 => "FRAME", 0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
        _ => $"unknown opcode 0x{opcode:x2}",
    };

    private ref struct Machine(ReadOnlySpan<byte> data, string source, Func<object?, object?>? persistentLoad)
    {
        private static readonly UTF8Encoding StrictUtf8 = new(false, true);
        private readonly ReadOnlySpan<byte> data = data;
        private readonly string source = source;
        private readonly Func<object?, object?>? persistentLoad = persistentLoad;
        private readonly List<object?> stack = [];
        private readonly List<int> marks = [];
        private readonly Dictionary<long, object?> memo = [];
        private int position;
        private int opcodeStart;
        private byte opcode;

        public object? Run(out int length)
        {
            while (true)
            {
                opcodeStart = position;
                if (position >= data.Length)
                    throw new CheckpointFormatException($"{source}: pickle offset {position}: the pickle ends without STOP (truncated?)");
                opcode = data[position++];
                try
                {
                    if (opcode == (byte)'.')
                    {
                        var result = Pop();
                        length = position;
                        return result;
                    }
                    Step();
                }
                catch (InvalidDataException e)
                {
                    throw new CheckpointFormatException($"{source}: pickle offset {opcodeStart}, opcode {OpcodeName(opcode)}: {e.Message}");
                }
                catch (OverflowException e)
                {
                    throw new CheckpointFormatException($"{source}: pickle offset {opcodeStart}, opcode {OpcodeName(opcode)}: number out of range ({e.Message})");
                }
            }
        }

        private void Step()
        {
            switch (opcode)
            {
                case (byte)'(': if (marks.Count >= MaxMarks) throw Limit("marks", MaxMarks); marks.Add(stack.Count); break;
                case (byte)'0': if (marks.Count > 0 && marks[^1] == stack.Count) PopMark(); else Pop(); break;
                case (byte)'1': PopMark(); break;
                case (byte)'2': Push(Peek()); break;
                case (byte)'F': Push(ParseFloat(Line())); break;
                case (byte)'I': Push(ParseInt(Line())); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': Push((long)Take(1)[0]); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case (byte)'L': Push(ParseLong(Line())); break;
                case (byte)'N': Push(null); break;
                case (byte)'P': Push(Persistent(Ascii(Line()))); break;
                case (byte)'Q': Push(Persistent(Pop())); break;
                case (byte)'R': { var args = Pop(); var callable = Pop(); Push(PickleGlobals.Call(callable, AsTuple(args))); break; }
                case (byte)'S': Push(ParseQuotedString(Ascii(Line()))); break;
                case (byte)'T': Push(Utf8(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))))); break;
                case (byte)'U': Push(Utf8(Take(Take(1)[0]))); break;
                case (byte)'V': Push(RawUnicodeEscape(Line())); break;
                case (byte)'X': Push(Utf8(Take(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))))); break;
                case (byte)'a': { var value = Pop(); Append(Peek(), value); break; }
                case (byte)'b': { var state = Pop(); Build(Peek(), state); break; }
                case (byte)'c': { var module = Ascii(Line()); var name = Ascii(Line()); Push(PickleGlobals.Resolve(module, name)); break; }
                case (byte)'d': Push(DictOf(PopMark())); break;
                case (byte)'}': Push(new PickleDict()); break;
                case (byte)'e': { var items = PopMark(); var list = Peek(); foreach (var item in items) Append(list, item); break; }
                case (byte)'g': Push(MemoGet(ParseMemoIndex(Line()))); break;
                case (byte)'h': Push(MemoGet(Take(1)[0])); break;
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case (byte)'i':
                {
                    var module = Ascii(Line());
                    var name = Ascii(Line());
                    var type = PickleGlobals.Resolve(module, name);
                    Push(PickleGlobals.Call(type, new PickleTuple(PopMark())));
                    break;
                }
                case (byte)'l': { var list = new PickleList(); list.Items.AddRange(PopMark()); Push(list); break; }
                case (byte)']': Push(new PickleList()); break;
                case (byte)'o':
                {
                    var items = PopMark();
                    if (items.Count == 0) throw new InvalidDataException("OBJ without a class");
                    Push(PickleGlobals.Call(items[0], Tuple(items.Skip(1).ToList())));
                    break;
                }
                case (byte)'p': MemoPut(ParseMemoIndex(Line())); break;
                case (byte)'q': MemoPut(Take(1)[0]); break;
                case (byte)'r': MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break;
                case (byte)'s': { var value = Pop(); var key = Pop(); SetItem(Peek(), key, value); break; }
                case (byte)'t': Push(Tuple(PopMark())); break;
                case (byte)')': Push(PickleTuple.Empty); break;
                case (byte)'u':
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw new InvalidDataException($"SETITEMS with an odd number of items ({items.Count})");
                    var target = Peek();
                    for (int i = 0; i < items.Count; i += 2) SetItem(target, items[i], items[i + 1]);
                    break;
                }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'B': Push(Take(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break;
                case (byte)'C': Push(Take(Take(1)[0]).ToArray()); break;
                case 0x80:
                {
                    int protocol = Take(1)[0];
                    if (protocol > 5) throw new InvalidDataException($"pickle protocol {protocol} is newer than 5");
                    break;
                }
                case 0x81: { var args = Pop(); var type = Pop(); Push(PickleGlobals.Call(type, AsTuple(args))); break; }
                case 0x82 or 0x83 or 0x84:
                    throw new InvalidDataException("extension-registry codes (copyreg.add_extension) are not supported: they name globals outside the file");
                case 0x85: { var a = Pop(); Push(Tuple([a])); break; }
                case 0x86: { var b = Pop(); var a = Pop(); Push(Tuple([a, b])); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(Tuple([a, b, c])); break; }
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case 0x8a: Push(TwosComplement(Take(Take(1)[0]))); break;
                case 0x8b: Push(TwosComplement(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))))); break;
                case 0x8c: Push(Utf8(Take(Take(1)[0]))); break;
                case 0x8d: Push(Utf8(Take(Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))))); break;
                case 0x8e: Push(Take(Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))).ToArray()); break;
                case 0x8f: Push(new PickleSet(false)); break;
                case 0x90:
                {
                    var items = PopMark();
                    if (Peek() is not PickleSet set) throw new InvalidDataException($"ADDITEMS to a {PickleText.TypeName(Peek())}");
                    set.Items.AddRange(items);
                    break;
                }
                case 0x91: { var set = new PickleSet(true); set.Items.AddRange(PopMark()); Push(set); break; }
                case 0x92:
                {
                    var kwargs = Pop();
                    var args = Pop();
                    var type = Pop();
                    Push(PickleGlobals.Call(type, AsTuple(args), kwargs as PickleDict ?? throw new InvalidDataException("NEWOBJ_EX keyword arguments are not a dict")));
                    break;
                }
                case 0x93:
                {
                    var name = Pop();
                    var module = Pop();
                    if (module is not string m || name is not string n)
                        throw new InvalidDataException($"STACK_GLOBAL needs two strings, got {PickleText.Describe(module)} and {PickleText.Describe(name)}");
                    Push(PickleGlobals.Resolve(m, n));
                    break;
                }
                case 0x94: MemoPut(memo.Count); break;
                case 0x95: Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8))); break;
                case 0x96: Push(Take(Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))).ToArray()); break;
                case 0x97 or 0x98: throw new InvalidDataException("out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported");
                default: throw new InvalidDataException("not a pickle opcode");
            }
        }

        // ---- stack, marks, memo -------------------------------------------------------------------------------

        private void Push(object? value)
        {
            if (stack.Count >= MaxStack) throw Limit("stack items", MaxStack);
            stack.Add(value);
        }

        private object? Pop()
        {
            int floor = marks.Count > 0 ? marks[^1] : 0;
            if (stack.Count <= floor) throw new InvalidDataException(marks.Count > 0 ? "the stack is empty above the last MARK" : "the stack is empty");
            var value = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return value;
        }

        private object? Peek()
        {
            int floor = marks.Count > 0 ? marks[^1] : 0;
            if (stack.Count <= floor) throw new InvalidDataException("the stack is empty");
            return stack[^1];
        }

        private List<object?> PopMark()
        {
            if (marks.Count == 0) throw new InvalidDataException("no MARK on the stack");
            int start = marks[^1];
            marks.RemoveAt(marks.Count - 1);
            var items = stack.GetRange(start, stack.Count - start);
            stack.RemoveRange(start, stack.Count - start);
            return items;
        }

        private void MemoPut(long index)
        {
            if (!memo.ContainsKey(index) && memo.Count >= MaxMemo) throw Limit("memo entries", MaxMemo);
            memo[index] = Peek();
        }

        private object? MemoGet(long index) =>
            memo.TryGetValue(index, out var value) ? value : throw new InvalidDataException($"memo key {index} is not defined (no PUT before it)");

        private static InvalidDataException Limit(string what, int limit) => new($"more than {limit} {what}: refused as a resource bound");

        // ---- containers -------------------------------------------------------------------------------------------

        private static PickleTuple Tuple(List<object?> items)
        {
            var tuple = new PickleTuple(items);
            if (tuple.Depth > MaxTupleNesting) throw new InvalidDataException($"tuples nested more than {MaxTupleNesting} deep");
            return tuple;
        }

        private static PickleTuple AsTuple(object? args) => args as PickleTuple
            ?? throw new InvalidDataException($"call arguments must be a tuple, got {PickleText.Describe(args)}");

        private static PickleDict DictOf(List<object?> items)
        {
            if (items.Count % 2 != 0) throw new InvalidDataException($"DICT with an odd number of items ({items.Count})");
            var dict = new PickleDict();
            for (int i = 0; i < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
            return dict;
        }

        private static void Append(object? target, object? value)
        {
            switch (target)
            {
                case PickleList list: list.Items.Add(value); break;
                case PickleObject obj: obj.Items.Add(value); break;
                default: throw new InvalidDataException($"APPEND to a {PickleText.TypeName(target)}");
            }
        }

        private static void SetItem(object? target, object? key, object? value)
        {
            switch (target)
            {
                case PickleDict dict: dict.Set(key, value); break;
                case PickleObject obj: obj.Entries.Set(key, value); break;
                default: throw new InvalidDataException($"SETITEM on a {PickleText.TypeName(target)}");
            }
        }

        private static void Build(object? target, object? state)
        {
            switch (target)
            {
                case PickleObject obj:
                    if (obj.State is PickleDict existing && state is PickleDict update)
                        foreach (var (k, v) in update.Entries) existing.Set(k, v);
                    else obj.State = state;
                    break;
                case PickleDict dict: dict.State = state; break;
                case TorchTensor: break;   // tensor attributes (requires_grad hooks and the like) carry no data
                default: throw new InvalidDataException($"BUILD on a {PickleText.TypeName(target)}");
            }
        }

        private object? Persistent(object? id)
        {
            if (persistentLoad is null) throw new InvalidDataException($"persistent id {PickleText.Describe(id)} in a pickle that has none");
            return persistentLoad(id);
        }

        // ---- raw bytes and text ---------------------------------------------------------------------------------

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > data.Length - position)
                throw new InvalidDataException($"needs {count} bytes but only {data.Length - position} remain (truncated?)");
            var span = data.Slice(position, count);
            position += count;
            return span;
        }

        /// <summary>A declared length, checked against the bytes left before anything is allocated.</summary>
        private int Length(long declared)
        {
            if (declared < 0 || declared > data.Length - position)
                throw new InvalidDataException($"length {declared} runs past the end of the pickle ({data.Length - position} bytes remain)");
            return (int)declared;
        }

        private int Length(ulong declared) => Length(declared > long.MaxValue ? -1 : (long)declared);

        private ReadOnlySpan<byte> Line()
        {
            int end = data[position..].IndexOf((byte)'\n');
            if (end < 0) throw new InvalidDataException("a text argument has no end of line (truncated?)");
            var line = data.Slice(position, end);
            position += end + 1;
            return line;
        }

        private static string Utf8(ReadOnlySpan<byte> bytes)
        {
            try { return StrictUtf8.GetString(bytes); }
            catch (DecoderFallbackException) { throw new InvalidDataException("string is not valid UTF-8"); }
        }

        private static string Ascii(ReadOnlySpan<byte> bytes)
        {
            foreach (var b in bytes) if (b >= 0x80) throw new InvalidDataException("text argument is not ASCII");
            return Encoding.ASCII.GetString(bytes);
        }

        private static object ParseInt(ReadOnlySpan<byte> line)
        {
            var text = Ascii(line);
            if (text == "00") return false;
            if (text == "01") return true;
            return ParseLong(line);
        }

        private static object ParseLong(ReadOnlySpan<byte> line)
        {
            var text = Ascii(line).TrimEnd('L');
            if (text.Length > MaxNumberText) throw new InvalidDataException($"integer text of {text.Length} digits is too long");
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var small)) return small;
            if (BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big)) return big;
            throw new InvalidDataException($"'{text}' is not an integer");
        }

        private static long ParseMemoIndex(ReadOnlySpan<byte> line) =>
            ParseLong(line) is long index and >= 0 ? index : throw new InvalidDataException("memo index is not a non-negative integer");

        private static double ParseFloat(ReadOnlySpan<byte> line)
        {
            var text = Ascii(line);
            return text switch
            {
                "inf" => double.PositiveInfinity,
                "-inf" => double.NegativeInfinity,
                "nan" => double.NaN,
                _ when text.Length <= MaxNumberText && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                _ => throw new InvalidDataException($"'{(text.Length > 40 ? text[..40] + "…" : text)}' is not a float"),
            };
        }

        private static object TwosComplement(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length == 0) return 0L;
            var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
            return value >= long.MinValue && value <= long.MaxValue ? (long)value : (object)value;
        }

        /// <summary>Protocol 0's STRING: a Python literal in single or double quotes with backslash escapes.</summary>
        private static string ParseQuotedString(string text)
        {
            if (text.Length < 2 || text[0] != text[^1] || text[0] is not ('\'' or '"'))
                throw new InvalidDataException("STRING argument is not quoted");
            var body = text[1..^1];
            var bytes = new List<byte>(body.Length);
            for (int i = 0; i < body.Length; i++)
            {
                char c = body[i];
                if (c != '\\' || i + 1 == body.Length) { bytes.Add((byte)c); continue; }
                char e = body[++i];
                switch (e)
                {
                    case 'n': bytes.Add((byte)'\n'); break;
                    case 't': bytes.Add((byte)'\t'); break;
                    case 'r': bytes.Add((byte)'\r'); break;
                    case '0' or '1' or '2' or '3' or '4' or '5' or '6' or '7':
                    {
                        int value = 0, n = 0;
                        while (n < 3 && i < body.Length && body[i] is >= '0' and <= '7') { value = value * 8 + body[i++] - '0'; n++; }
                        i--;
                        bytes.Add((byte)value);
                        break;
                    }
                    case 'x':
                        if (i + 2 >= body.Length || !byte.TryParse(body.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex))
                            throw new InvalidDataException("bad \\x escape in STRING");
                        bytes.Add(hex);
                        i += 2;
                        break;
                    default: bytes.Add((byte)e); break;
                }
            }
            return Utf8(bytes.ToArray());
        }

        /// <summary>Protocol 0's UNICODE: raw-unicode-escape (\uXXXX and \UXXXXXXXX; every other byte is latin-1).</summary>
        private static string RawUnicodeEscape(ReadOnlySpan<byte> line)
        {
            var text = new StringBuilder(line.Length);
            for (int i = 0; i < line.Length; i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length && line[i + 1] is (byte)'u' or (byte)'U')
                {
                    int digits = line[i + 1] == 'u' ? 4 : 8;
                    if (i + 2 + digits > line.Length) throw new InvalidDataException("truncated \\u escape in UNICODE");
                    if (!int.TryParse(Encoding.ASCII.GetString(line.Slice(i + 2, digits)), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code)
                        || code is < 0 or > 0x10FFFF) throw new InvalidDataException($"code point {code:X} in UNICODE is out of range");
                    text.Append(char.ConvertFromUtf32(code is >= 0xD800 and <= 0xDFFF ? 0xFFFD : code));
                    i += 1 + digits;
                }
                else text.Append((char)line[i]);
            }
            return text.ToString();
        }
    }
}
