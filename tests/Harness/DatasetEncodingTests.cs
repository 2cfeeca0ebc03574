using System.Text;
using Eval.Harness.Data;

namespace Eval.Tests.Harness;

/// <summary>
/// A data file that is not UTF-8 is an error naming the file, line and byte offset in every reader — never text with
/// U+FFFD where the bytes were (which .NET's readers would otherwise make of it without a word).
/// </summary>
[TestClass]
public sealed class DatasetEncodingTests
{
    /// <summary>A valid file of each format, three lines or more; the bad byte goes into its third line.</summary>
    private static readonly (string Format, string Subset, string Text)[] Files =
    [
        ("xnli-tsv", "en", "id\tpremise\thypothesis\tlabel\n0\tA dog barks.\tAn animal makes noise.\t0\n1\tCafé au lait.\tA drink.\t2\n"),
        ("xnli-1.0", "fr", "language\tgold_label\tsentence1\tsentence2\nfr\tneutral\tS1\tS2\nfr\tentailment\tCafé\tBoisson\n"),
        ("xcopa-jsonl", "et", "{\"premise\": \"P.\", \"choice1\": \"A.\", \"choice2\": \"B.\", \"question\": \"cause\", \"label\": 1}\n" +
                              "{\"premise\": \"Q.\", \"choice1\": \"C.\", \"choice2\": \"D.\", \"question\": \"effect\", \"label\": 0}\n" +
                              "{\"premise\": \"Käsi.\", \"choice1\": \"E.\", \"choice2\": \"F.\", \"question\": \"effect\", \"label\": 0}\n"),
        ("json-lines", "en", "{\"text\": \"one\"}\n{\"text\": \"two\"}\n{\"text\": \"naïve three\"}\n"),
        ("xwinograd-tsv", "en",
            "en\tsrc\t?\tBob paid. He was kind.\t[\"Bob\", \"paid\", \".\", \"He\", \"was\", \"kind\", \".\"]\t[\"He\", [3, 4], [\"He\"]]\t[[\"Bob\", [0, 1], [\"Bob\"], true], [\"Al\", [0, 1], [\"Al\"], false]]\n" +
            "en\tsrc\t?\tAl ran. He was late.\t[\"Al\", \"ran\", \".\", \"He\", \"was\", \"late\", \".\"]\t[\"He\", [3, 4], [\"He\"]]\t[[\"Al\", [0, 1], [\"Al\"], true], [\"Bo\", [0, 1], [\"Bo\"], false]]\n" +
            "en\tsrc\t?\tZoë sang. She was glad.\t[\"Zoë\", \"sang\", \".\", \"She\", \"was\", \"glad\", \".\"]\t[\"She\", [3, 4], [\"She\"]]\t[[\"Zoë\", [0, 1], [\"Zoë\"], true], [\"Al\", [0, 1], [\"Al\"], false]]\n"),
        ("mmlu-csv", "anatomy", "question,choice0,choice1,choice2,choice3,answer\nFirst?,a,b,c,d,0\n\"Naïve, second?\",e,f,g,h,2\n"),
        ("mmlu-original", "anatomy", "First?,a,b,c,d,A\nSecond?,e,f,g,h,B\nThird naïve?,i,j,k,l,C\n"),
    ];

    private static string WriteBytes(byte[] bytes)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "data.txt");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [TestMethod]
    public void Every_format_reads_its_valid_file()
    {
        foreach (var (format, subset, text) in Files)
            Assert.IsTrue(DatasetReaders.Read(format, WriteBytes(Encoding.UTF8.GetBytes(text)), subset).Count >= 1, format);
    }

    [TestMethod]
    public void A_latin1_byte_is_an_error_naming_file_line_and_offset_in_every_format()
    {
        foreach (var (format, subset, text) in Files)
        {
            // The third line's non-ASCII character as Latin-1 (a single byte ≥ 0x80), the rest as UTF-8.
            var lines = text.Split('\n');
            var third = lines[2];
            int at = third.IndexOf(third.First(c => c > 127));
            var before = string.Join('\n', lines[..2]) + "\n" + third[..at];
            byte[] bytes = [.. Encoding.UTF8.GetBytes(before), .. Encoding.Latin1.GetBytes(third.Substring(at, 1)), .. Encoding.UTF8.GetBytes(text[(before.Length + 1)..])];
            var path = WriteBytes(bytes);
            var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read(format, path, subset), format);
            StringAssert.StartsWith(e.Message, $"{path}:3: invalid UTF-8 at byte offset {Encoding.UTF8.GetByteCount(before)} ", format);
        }
    }

    [TestMethod]
    public void Truncated_and_overlong_sequences_and_utf16_are_refused()
    {
        var good = Encoding.UTF8.GetBytes("{\"text\": \"ok\"}\n");
        // A three-byte character cut after its second byte at the end of the file.
        var cut = WriteBytes([.. good, .. "{\"text\": \""u8.ToArray(), 0xE2, 0x82]);
        StringAssert.StartsWith(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", cut, "x")).Message,
            $"{cut}:2: invalid UTF-8 at byte offset {good.Length + 10} ");
        // An overlong encoding of '/' (C0 AF) and an encoded surrogate (ED A0 80) are not UTF-8 either.
        var overlong = WriteBytes([.. good, 0xC0, 0xAF, (byte)'\n']);
        StringAssert.Contains(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", overlong, "x")).Message,
            $"byte offset {good.Length} ");
        var surrogate = WriteBytes([.. good, .. good, 0xED, 0xA0, 0x80, (byte)'\n']);
        StringAssert.StartsWith(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", surrogate, "x")).Message,
            $"{surrogate}:3: invalid UTF-8 at byte offset {2 * good.Length} ");
        var utf16 = WriteBytes(Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("{\"text\": \"ok\"}\n")).ToArray());
        StringAssert.Contains(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", utf16, "x")).Message,
            "UTF-16 byte-order mark");
        // A UTF-8 byte-order mark is UTF-8.
        Assert.AreEqual(1, DatasetReaders.Read("json-lines", WriteBytes([.. Encoding.UTF8.GetPreamble(), .. good]), "x").Count);
    }

    [TestMethod]
    public void Characters_across_the_reading_chunks_are_valid_and_a_late_bad_byte_has_its_true_line_and_offset()
    {
        // 40,000 lines of multi-byte characters: ~200 KB, so characters straddle every 64 KiB chunk boundary at some shift.
        var text = new StringBuilder();
        for (int i = 0; i < 40_000; i++) text.Append("{\"t\": \"").Append(i % 2 == 0 ? "日本" : "é€😀").Append("\"}\n");
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        for (int shift = 0; shift < 4; shift++)
            Assert.AreEqual(40_000, DatasetReaders.Read("json-lines", WriteBytes([.. new byte[shift].Select(_ => (byte)'\n'), .. bytes]), "x").Count);

        int offset = bytes.Length - 3;   // the closing quote of the last line
        var broken = (byte[])bytes.Clone();
        broken[offset] = 0xFF;
        var path = WriteBytes(broken);
        StringAssert.StartsWith(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", path, "x")).Message,
            $"{path}:40000: invalid UTF-8 at byte offset {offset} (bytes FF");
    }
}
