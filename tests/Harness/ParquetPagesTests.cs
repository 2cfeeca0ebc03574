using System.Reflection;
using System.Text;
using Eval.Harness.Data;
using Parquet;
using static Eval.Tests.Harness.HandBuiltParquet;

namespace Eval.Tests.Harness;

/// <summary>
/// The walk of a parquet file's footer and pages before Parquet.Net decodes it (ParquetPages, ParquetThriftWalk): what
/// Parquet.Net would allocate from a claim in the file is refused, naming the file, column and page, and allocates
/// nothing; files of every codec the hub uses, with long texts and ten-option lists, still read. Hand-built files
/// (HandBuiltParquet) carry the claims no writer makes; the snappy and zstd claims are checked against the libraries
/// Parquet.Net decompresses with (Snappier, ZstdSharp).
/// </summary>
[TestClass]
public sealed class ParquetPagesTests
{
    /// <summary>Far below what the refused claims ask for (≥ 268 MB), far above what reading these small files takes.</summary>
    private const long AllocationLimit = 16 << 20;

    private static string WriteFile(byte[] bytes)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "test.parquet");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static List<string?> Texts(byte[] file) =>
        DatasetReaders.Read("parquet", WriteFile(file), "any").Select(d => (string?)d.Fields["text"]).ToList();

    /// <summary>Refused with a one-line error that names the file and holds <paramref name="message"/>, having allocated little.</summary>
    private static string Refused(byte[] file, string message)
    {
        var path = WriteFile(file);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("parquet", path, "any"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.StartsWith(e.Message, path);
        StringAssert.Contains(e.Message, message);
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        Assert.IsTrue(allocated < AllocationLimit, $"allocated {allocated:N0} bytes before refusing: {e.Message}");
        return e.Message;
    }

    [TestMethod]
    public void AHandBuiltFileReads()
    {
        CollectionAssert.AreEqual(new[] { "a", "bc", "déf" }, Texts(ParquetFile([DataPage(PlainTexts("a", "bc", "déf"), 3)], rows: 3)));
        var snappy = Snappier.Snappy.CompressToArray(PlainTexts("a", "bc"));
        CollectionAssert.AreEqual(new[] { "a", "bc" }, Texts(ParquetFile([DataPage(snappy, 2, uncompressed: PlainTexts("a", "bc").Length)], rows: 2, codec: Snappy)));
        using var zstd = new ZstdSharp.Compressor();
        var packed = zstd.Wrap(PlainTexts("x", "yz")).ToArray();
        CollectionAssert.AreEqual(new[] { "x", "yz" }, Texts(ParquetFile([DataPage(packed, 2, uncompressed: PlainTexts("x", "yz").Length)], rows: 2, codec: Zstd)));
    }

    /// <summary>
    /// Parquet.Net reads a field of a known id as its declared kind whatever type its header gives: FileMetaData field 6
    /// (created_by, a string) sent as an i32 is read as a string length. The fuzz findings that allocated 268 MB–1.9 GB
    /// were of this kind.
    /// </summary>
    [TestMethod]
    public void AKnownFieldIsReadAsItsIdSaysNotAsItsHeaderSays()
    {
        var page = DataPage(PlainTexts("a"), 1);
        Refused(ParquetFile([page], rows: 1, footerExtra: f => f.Field(6, 5, 0xFF, 0xFF, 0xFF, 0x7F)), "footer: a string or binary claims 268435455 bytes");
    }

    /// <summary>
    /// Parquet.Net skips an unknown struct by reading field headers up to a stop byte, not the fields' values: a struct
    /// {1: i32 0, 6: i64 2^28} ends for it at the i32's zero, and the i64 field is then read as FileMetaData's created_by
    /// with a 268 MB length. A walk that skipped the struct correctly would let that through.
    /// </summary>
    [TestMethod]
    public void AnUnknownStructIsSkippedAsParquetNetSkipsIt()
    {
        var page = DataPage(PlainTexts("a"), 1);
        byte[] unknown = [0x0C, 40, 0x15, 0x00, 0x06, 0x0C, 0xFF, 0xFF, 0xFF, 0x7F, 0x00];   // field 20 (struct): {1: i32 0, 6: i64 0xFFFFFF7F}
        Refused(ParquetFile([page], rows: 1, footerExtra: f => f.Raw(unknown)), "footer: a string or binary claims 268435455 bytes");
        // Without the hidden claim, an unknown struct of ordinary fields is skipped and the file reads.
        CollectionAssert.AreEqual(new[] { "a" }, Texts(ParquetFile([page], rows: 1, footerExtra: f => f.Struct(20, s => s.I32(1, 7).String(2, "note")))));
    }

    [TestMethod]
    public void TheSnappyLengthIsWhatAPageClaims()
    {
        byte[] body = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x61];                    // a snappy preamble of 1 GiB, then a literal
        Assert.AreEqual(1 << 30, Snappier.Snappy.GetUncompressedLength(body));
        var message = Refused(ParquetFile([DataPage(body, 1, uncompressed: 5)], rows: 1, codec: Snappy), "row group 0 column 'text', page at byte 4: it claims 1073741824 bytes unpacked");
        StringAssert.Contains(message, "page at byte 4");
    }

    [TestMethod]
    public void TheZstdFramesAreWhatAPageClaims()
    {
        // A frame that states a content size of 1 GiB over one raw block of one byte.
        byte[] sized = [0x28, 0xB5, 0x2F, 0xFD, 0xA0, 0x00, 0x00, 0x00, 0x40, 0x09, 0x00, 0x00, 0x61];
        // Frames without a content size are bounded by their block count times the largest block (128 KiB here): 200 RLE blocks.
        byte[] blocks = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38, .. Enumerable.Range(0, 200).SelectMany(i => RleBlock(last: i == 199))];
        // A skippable frame before it claims nothing.
        byte[] skippable = [0x50, 0x2A, 0x4D, 0x18, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, .. blocks];
        foreach (var data in new[] { sized, blocks, skippable })
        {
            ulong claimed = ZstdSharp.Decompressor.GetDecompressedSize(data);
            Refused(ParquetFile([DataPage(data, 1, uncompressed: 5)], rows: 1, codec: Zstd), $"page at byte 4: it claims {claimed} bytes unpacked");
        }
    }

    private static byte[] RleBlock(bool last)
    {
        int header = (last ? 1 : 0) | 1 << 1 | (128 << 10) << 3;                    // an RLE block of 128 KiB of one byte
        return [(byte)header, (byte)(header >> 8), (byte)(header >> 16), 0x61];
    }

    [TestMethod]
    public void AnUncompressedSizeBeyondTheFileIsRefused() =>
        Refused(ParquetFile([DataPage(PlainTexts("a"), 1, uncompressed: 1 << 30)], rows: 1), "page at byte 4: it claims 1073741824 bytes unpacked and 1 values");

    [TestMethod]
    public void ADictionaryPageOfABillionEntriesIsRefused() =>
        Refused(ParquetFile([DictionaryPage(PlainTexts("a"), 1 << 30), DataPage([1, 0x02, 0x00], 1, encoding: RleDictionary)], rows: 1),
                "page at byte 4: it claims 5 bytes unpacked and 1073741824 values");

    [TestMethod]
    public void AChunksPagesMustHoldTheValuesItsMetadataClaims() =>
        Refused(ParquetFile([DataPage(PlainTexts("a", "b", "c"), 3)], rows: 5, chunkValues: 5), "row group 0 column 'text': its pages hold 3 values, its metadata claims 5");

    [TestMethod]
    public void TheDeltaEncodingsAreRefused() =>
        Refused(ParquetFile([DataPage(PlainTexts("a"), 1, encoding: DeltaLengthByteArray)], rows: 1), "page at byte 4: DELTA_LENGTH_BYTE_ARRAY encoding");

    /// <summary>
    /// A page that decodes to fewer values than it claims (one text where three are claimed) makes Parquet.Net read on
    /// past the column chunk for the rest. What follows the chunk here is a page header asking for 1 GiB that no
    /// metadata points at, so the walk never saw it: the reader must not get to it.
    /// </summary>
    [TestMethod]
    public void NothingPastAColumnChunkIsReadAsAPage()
    {
        var trap = DataPage([], 2, uncompressed: 1 << 30);
        Refused(ParquetFile([DataPage(PlainTexts("a"), 3)], rows: 3, afterChunk: trap), "not a readable parquet file");
    }

    [TestMethod]
    [DataRow(CompressionMethod.None)]
    [DataRow(CompressionMethod.Snappy)]
    [DataRow(CompressionMethod.Gzip)]
    [DataRow(CompressionMethod.Zstd)]
    [DataRow(CompressionMethod.Brotli)]
    [DataRow(CompressionMethod.LZ4)]
    public void MmluProShapedFilesReadInEveryCodec(CompressionMethod codec)
    {
        // Questions of tens of KB (varied, so they do not compress away), ten options, categories repeated (dictionary pages).
        var rng = new Random(7);
        string Text(int length) => new(Enumerable.Range(0, length).Select(_ => "abcdefghij klmnopqrstuvwxyzéü€中"[rng.Next(31)]).ToArray());
        var rows = Enumerable.Range(0, 12).Select(i => new ParquetFiles.MmluProRow(i, Text(i % 3 == 0 ? 40_000 : 300),
            Enumerable.Range(0, 10).Select(_ => Text(rng.Next(1, 200))).ToList(), "J", 9, i % 2 == 0 ? "math" : "law")).ToList();
        var dir = SharedFixtures.TempDirectory();
        var parquet = Path.Combine(dir, "test.parquet");
        File.WriteAllBytes(parquet, ParquetFiles.MmluPro(rows, codec));
        var docs = DatasetReaders.Read("mmlu-pro-parquet", parquet, "math");
        Assert.AreEqual(6, docs.Count);
        for (int i = 0; i < docs.Count; i++)
        {
            Assert.AreEqual(rows[2 * i].Question, docs[i].Fields["question"]);
            CollectionAssert.AreEqual(rows[2 * i].Options.ToArray(), ((IReadOnlyList<object?>)docs[i].Fields["options"]!).ToArray());
        }
    }

    /// <summary>Parquet.Net would replace invalid UTF-8 in text without a word; the reader reads the bytes and refuses it, naming row and column.</summary>
    [TestMethod]
    public void InvalidUtf8IsRefusedNamingTheRowAndColumn()
    {
        Refused(ParquetFile([DataPage(PlainTexts("ok"u8.ToArray(), [0x61, 0xFF, 0x62]), 2)], rows: 2), "row 2: column 'text' is not valid UTF-8 (byte 1 of its 3)");
        Refused(ParquetFile([DataPage(PlainTexts("é"u8.ToArray(), [0x61, 0xC3]), 2)], rows: 2), "row 2: column 'text' is not valid UTF-8 (byte 1 of its 2)");
        // A list item, in a file Parquet.Net wrote (uncompressed, so its bytes can be changed in place).
        var file = ParquetFiles.MmluPro([new(1, "Q?", ["a", "b"], "A", 0, "math"), new(2, "R?", ["fine", "bad~x"], "B", 1, "math")], CompressionMethod.None);
        byte[] text = "bad~x"u8.ToArray();
        for (int at = 0; (at = file.AsSpan(at).IndexOf(text) is var i && i >= 0 ? at + i : -1) >= 0; at++) file[at + 3] = 0xFF;
        var path = WriteFile(file);
        var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("mmlu-pro-parquet", path, "math"));
        Assert.AreEqual($"{path} row 2: column 'options' item 2 is not valid UTF-8 (byte 3 of its 5)", e.Message);
    }

    /// <summary>Dictionary-encoded text becomes one string per dictionary entry, shared by its rows (not one per row).</summary>
    [TestMethod]
    public void ADictionaryEntryIsOneStringForAllItsRows()
    {
        var path = WriteFile(ParquetFiles.Write([new("category", typeof(string), Enumerable.Repeat((object?)"computer science", 50).ToList())], dictionary: ["category"]));
        var docs = DatasetReaders.Read("parquet", path, "any");
        Assert.AreEqual(50, docs.Count);
        Assert.IsTrue(docs.All(d => ReferenceEquals(d.Fields["category"], docs[0].Fields["category"])));
    }

    /// <summary>ParquetThriftSchema transcribes Parquet.Net 6.1.0's generated Thrift readers: another version must be re-checked against it.</summary>
    [TestMethod]
    public void ParquetNetIsTheVersionTheWalkMirrors() =>
        StringAssert.StartsWith(typeof(ParquetReader).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion, "6.1.0+");
}
