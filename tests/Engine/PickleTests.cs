using System.Numerics;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// The safe unpickler and PyTorch checkpoints: Python's own pickles of every protocol read into the inert object
/// model, and malicious or broken files (built here opcode by opcode) refused with an error naming the file, the
/// pickle offset and the opcode or global — nothing run, nothing hung, nothing allocated beyond the file.
/// </summary>
[TestClass]
public sealed class PickleTests
{
    // pickle.dumps([1, 'a\nb', 1.5, 'é', None, True, 10**30, (1, 2), {'k': b'xy'}], protocol=0)
    private const string Protocol0Hex =
        "286c70300a49310a6156615c7530303061620a70310a6146312e350a6156e90a70320a614e614930310a614c31303030303030303030303030303030" +
        "3030303030303030303030303030304c0a612849310a49320a7470330a61286470340a566b0a70350a635f636f646563730a656e636f64650a70360a" +
        "285678790a70370a566c6174696e310a70380a7470390a527031300a73612e";

    // pickle.dumps({'a': (1, 2.5, b'xy', {1, 2}, frozenset([3])), 'b': [None]*3, 'c': -2**40, 'd': 'ééé'}, protocol=5)
    private const string Protocol5Hex =
        "8005954d000000000000007d94288c016194284b0147400400000000000043027879948f94284b014b0290284b03919474948c0162945d94284e4e4e65" +
        "8c0163948a060000000000ff8c0164948c06c3a9c3a9c3a994752e";

    [TestMethod]
    public void Protocol0TextOpcodesAreRead()
    {
        var list = (PickleList)PickleReader.Load(Convert.FromHexString(Protocol0Hex), "p0")!;
        Assert.AreEqual(9, list.Count);
        Assert.AreEqual(1L, list[0]);
        Assert.AreEqual("a\nb", list[1]);
        Assert.AreEqual(1.5, list[2]);
        Assert.AreEqual("é", list[3]);
        Assert.IsNull(list[4]);
        Assert.AreEqual(true, list[5]);
        Assert.AreEqual(BigInteger.Pow(10, 30), list[6]);
        CollectionAssert.AreEqual(new object[] { 1L, 2L }, ((PickleTuple)list[7]!).Items.ToArray());
        CollectionAssert.AreEqual("xy"u8.ToArray(), (byte[])((PickleDict)list[8]!).GetValueOrDefault("k")!);
    }

    [TestMethod]
    public void Protocol5FramesMemoizeAndSetsAreRead()
    {
        var dict = (PickleDict)PickleReader.Load(Convert.FromHexString(Protocol5Hex), "p5")!;
        var a = (PickleTuple)dict.GetValueOrDefault("a")!;
        Assert.AreEqual(2.5, a[1]);
        CollectionAssert.AreEqual("xy"u8.ToArray(), (byte[])a[2]!);
        CollectionAssert.AreEqual(new object[] { 1L, 2L }, ((PickleSet)a[3]!).Items.ToArray());
        Assert.IsTrue(((PickleSet)a[4]!).Frozen);
        Assert.AreEqual(3, ((PickleList)dict.GetValueOrDefault("b")!).Count);
        Assert.AreEqual(-(1L << 40), dict.GetValueOrDefault("c"));
        Assert.AreEqual("ééé", dict.GetValueOrDefault("d"));
    }

    [TestMethod]
    public void UnknownClassesBecomeInertObjectsWithReadableFields()
    {
        using var checkpoint = new TorchCheckpoint(Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-fairseq"), "model.pt"));
        var args = (PickleObject)((PickleDict)checkpoint.Root!).GetValueOrDefault("args")!;
        Assert.AreEqual("argparse.Namespace", args.Type.FullName);
        Assert.AreEqual(3L, args.Field("encoder_layers"));
        Assert.AreEqual(false, args.Field("encoder_normalize_before"));
        Assert.IsTrue(checkpoint.TensorNames.Contains("encoder.sentence_encoder.embed_tokens.weight"), "fairseq's state dict is under 'model'");

        // A class outside the allowlist, called and built, is only its name, arguments and state.
        var pickle = new PickleBuilder().Proto(2).Global("mylib.things", "Thing").Mark().Int(7).Tuple().Reduce()
            .EmptyDict().Str("x").Int(1).SetItem().Op('b').Stop().ToArray();
        var thing = (PickleObject)PickleReader.Load(pickle, "inert")!;
        Assert.AreEqual("mylib.things.Thing", thing.Type.FullName);
        Assert.AreEqual(7L, thing.Arguments[0]);
        Assert.AreEqual(1L, thing.Field("x"));
    }

    [TestMethod]
    [DataRow("os", "system")]
    [DataRow("builtins", "eval")]
    [DataRow("subprocess", "Popen")]
    public void CodeExecutingGlobalsAreRefusedAndNothingRuns(string module, string name)
    {
        var dir = SharedFixtures.TempDirectory();
        var marker = Path.Combine(dir, "marker");
        // What each would run under pickle.load: create the marker file.
        var pickle = new PickleBuilder().Proto(2).Global(module, name);
        if (name == "Popen") pickle.EmptyList().Str("touch").Append().Str(marker).Append().Tuple1();
        else pickle.Str(name == "eval" ? $"open(r'{marker}', 'w')" : $"touch {marker}").Tuple1();
        var bytes = pickle.Reduce().Stop().ToArray();

        File.Copy(Path.Combine(SharedFixtures.Model("xlmr-tiny"), "config.json"), Path.Combine(dir, "config.json"));
        var path = Path.Combine(dir, "pytorch_model.bin");
        TorchZipWriter.Write(path, bytes, []);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "archive/data.pkl");
        StringAssert.Contains(e.Message, "pickle offset 2, opcode GLOBAL");
        StringAssert.Contains(e.Message, $"refused global {module}.{name}");
        Assert.IsFalse(File.Exists(marker), "the marker file appeared: something ran");
    }

    [TestMethod]
    public void RefusalHoldsForStackGlobalInstAndObj()
    {
        // Protocol 4's STACK_GLOBAL.
        var stackGlobal = new PickleBuilder().Proto(4).Str("os").Str("system").Raw(0x93).Str("true").Tuple1().Reduce().Stop().ToArray();
        var e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(stackGlobal, "sg"));
        StringAssert.Contains(e.Message, "opcode STACK_GLOBAL: refused global os.system");
        // Protocol 0's INST: (S'true'\nios\nsystem\n.
        var inst = new PickleBuilder().Mark().Op('S').Line("'true'").Op('i').Line("os").Line("system").Stop().ToArray();
        e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(inst, "inst"));
        StringAssert.Contains(e.Message, "pickle offset 9, opcode INST: refused global os.system");
        // getattr reaches anything; posix is os under another name; torch.load would unpickle another file.
        foreach (var (module, name) in new[] { ("builtins", "getattr"), ("posix", "system"), ("torch", "load"), ("torch.serialization", "load"), ("os.path", "join") })
        {
            var bytes = new PickleBuilder().Proto(2).Global(module, name).Stop().ToArray();
            e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(bytes, "g"));
            StringAssert.Contains(e.Message, $"refused global {module}.{name}");
        }
    }

    [TestMethod]
    public void StorageClaimingMoreBytesThanTheFileIsRefused()
    {
        var dir = SharedFixtures.TempDirectory();
        var path = Path.Combine(dir, "pytorch_model.bin");
        var pickle = PickleBuilder.StateDict([("w", "FloatStorage", "0", 1L << 40, 0, [1L << 20, 1L << 20], [1L << 20, 1])]);
        TorchZipWriter.Write(path, pickle, [("0", new byte[16])]);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(path).Dispose());
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "opcode BINPERSID");
        StringAssert.Contains(e.Message, "storage '0' claims 1099511627776 elements × 4 bytes");
        StringAssert.Contains(e.Message, "holds 16 bytes");

        // The legacy layout, cut in the middle of its storages.
        var legacy = File.ReadAllBytes(Path.Combine(SharedFixtures.Checkpoint("xlmr-xl-tiny-bin-legacy"), "pytorch_model.bin"));
        var cut = Path.Combine(dir, "legacy.bin");
        File.WriteAllBytes(cut, legacy[..200_000]);
        e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(cut).Dispose());
        StringAssert.Contains(e.Message, cut);
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void TensorViewsPastTheirStorageAreRefused()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "pytorch_model.bin");
        var pickle = PickleBuilder.StateDict([("w", "FloatStorage", "0", 4, 2, [2, 2], [2, 1])]);
        TorchZipWriter.Write(path, pickle, [("0", new byte[16])]);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(path).Dispose());
        StringAssert.Contains(e.Message, $"{path}: tensor 'w': size [2, 2] (stride [2, 1], offset 2)");
        StringAssert.Contains(e.Message, "reaches element 5 of storage '0', which holds 4 elements");
    }

    [TestMethod]
    public void TruncatedZipIsReported()
    {
        var bytes = File.ReadAllBytes(Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-bin"), "pytorch_model.bin"));
        var path = Path.Combine(SharedFixtures.TempDirectory(), "pytorch_model.bin");
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(path).Dispose());
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void RecursiveContainersAreReadAndDescribedWithoutRecursing()
    {
        // l = []; l.append(l)
        var list = new PickleBuilder().Proto(2).EmptyList().Put(0).Get(0).Append().Stop().ToArray();
        var value = (PickleList)PickleReader.Load(list, "recursive")!;
        Assert.AreSame(value, value[0]);
        StringAssert.StartsWith(PickleText.Describe(value), "[[[");

        // d = {}; d['d'] = d, as a checkpoint: no state dict, said without walking forever.
        var dict = new PickleBuilder().Proto(2).EmptyDict().Put(0).Str("d").Get(0).SetItem().Stop().ToArray();
        var path = Path.Combine(SharedFixtures.TempDirectory(), "pytorch_model.bin");
        TorchZipWriter.Write(path, list, []);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(path).Dispose());
        StringAssert.Contains(e.Message, "no state dict");
        TorchZipWriter.Write(path, dict, []);
        e = Assert.ThrowsException<CheckpointFormatException>(() => new TorchCheckpoint(path).Dispose());
        StringAssert.Contains(e.Message, "{'d': {'d': {");

        // A recursive list as a dict key is unhashable.
        var key = new PickleBuilder().Proto(2).EmptyDict().EmptyList().Put(0).Get(0).Append().Int(1).SetItem().Stop().ToArray();
        e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(key, "key"));
        StringAssert.Contains(e.Message, "opcode SETITEM: unhashable dict key");

        // Tuples nested 5000 deep are refused (dict-key hashing recurses through tuples).
        var deep = new PickleBuilder().Proto(2).EmptyTuple();
        for (int i = 0; i < 5000; i++) deep.Tuple1();
        e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(deep.Stop().ToArray(), "deep"));
        StringAssert.Contains(e.Message, "nested more than 1000 deep");
    }

    [TestMethod]
    public void MemoReferenceToAMissingKeyIsReported()
    {
        var bytes = new PickleBuilder().Proto(2).Raw((byte)'h', 5).Stop().ToArray();
        var e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(bytes, "file.pkl"));
        Assert.AreEqual("file.pkl: pickle offset 2, opcode BINGET: memo key 5 is not defined (no PUT before it)", e.Message);
    }

    [TestMethod]
    public void HugeLengthsAreCheckedBeforeAllocating()
    {
        var cases = new (byte[] Bytes, string Opcode, string Length)[]
        {
            (new PickleBuilder().Proto(2).Raw((byte)'X', 0xFF, 0xFF, 0xFF, 0x7F).ToArray(), "BINUNICODE", "2147483647"),
            (new PickleBuilder().Proto(2).Raw((byte)'X', 0xFF, 0xFF, 0xFF, 0xFF).ToArray(), "BINUNICODE", "4294967295"),
            (new PickleBuilder().Proto(4).Raw(0x8d, 0, 0, 0, 0, 0, 0, 0, 0x40).ToArray(), "BINUNICODE8", "4611686018427387904"),
            (new PickleBuilder().Proto(4).Raw(0x8e, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF).ToArray(), "BINBYTES8", "-1"),
            (new PickleBuilder().Proto(2).Raw(0x8b, 0xFF, 0xFF, 0xFF, 0x7F).ToArray(), "LONG4", "2147483647"),
        };
        foreach (var (bytes, opcode, length) in cases)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(bytes, "huge"));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            StringAssert.Contains(e.Message, $"pickle offset 2, opcode {opcode}: length {length} runs past the end of the pickle");
            Assert.IsTrue(allocated < 1 << 20, $"{opcode}: {allocated} bytes allocated");
        }
    }

    [TestMethod]
    public void BrokenPicklesGiveClearErrors()
    {
        (byte[] Bytes, string Message)[] cases =
        [
            (new PickleBuilder().Proto(2).EmptyList().ToArray(), "pickle offset 3: the pickle ends without STOP"),
            (new PickleBuilder().Proto(2).Append().Stop().ToArray(), "pickle offset 2, opcode APPEND: the stack is empty"),
            (new PickleBuilder().Proto(2).Raw(0xFF).ToArray(), "pickle offset 2, opcode unknown opcode 0xff"),
            (new PickleBuilder().Proto(2).Raw(0x82, 1).ToArray(), "opcode EXT1: extension-registry codes"),
            (new PickleBuilder().Proto(9).ToArray(), "pickle protocol 9 is newer than 5"),
            (new PickleBuilder().Proto(2).Int(3).EmptyTuple().Reduce().Stop().ToArray(), "opcode REDUCE: cannot call a int"),
            (new PickleBuilder().Proto(2).Mark().Str("storage").Tuple1().BinPersId().Stop().ToArray(), "opcode BINPERSID: persistent id"),
        ];
        foreach (var (bytes, message) in cases)
        {
            var e = Assert.ThrowsException<CheckpointFormatException>(() => PickleReader.Load(bytes, "broken"));
            StringAssert.Contains(e.Message, message);
        }
    }
}
