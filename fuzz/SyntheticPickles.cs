using System.IO.Compression;
using System.Numerics;
using System.Text;

namespace Eval.Fuzz;

/// <summary>
/// Tiny torch.save files built opcode by opcode (protocol 2): a state dict of float tensors, a fairseq checkpoint
/// (args Namespace plus a model dict), each in the zip or the legacy layout.
/// </summary>
internal static class SyntheticPickles
{
    /// <summary>OrderedDict of tensors "w0".."w{n-1}", each a [2, 2] view of its own 4-element FloatStorage "k".</summary>
    public static byte[] StateDict(int tensors)
    {
        var p = new PickleWriter().Proto().Global("collections", "OrderedDict").Op(')').Op('R').Op('(');
        for (int i = 0; i < tensors; i++) p.Str($"w{i}").Tensor(i.ToString(), [2, 2], [2, 1]);
        return p.Op('u').Op('.').ToArray();
    }

    /// <summary>{"args": argparse.Namespace(...), "model": {fairseq RoBERTa tensor names}} with storages "0".."7".</summary>
    public static byte[] Fairseq()
    {
        var p = new PickleWriter().Proto().Op('}').Op('(');
        p.Str("args").Global("argparse", "Namespace").Op(')').Raw(0x81).Op('}').Op('(')
            .Str("encoder_attention_heads").Int(1).Str("encoder_layers").Int(1).Str("encoder_normalize_before").Raw(0x89)
            .Str("activation_fn").Str("gelu").Op('u').Op('b');
        p.Str("model").Op('}').Op('(');
        string[] names =
        [
            "encoder.sentence_encoder.embed_tokens.weight", "encoder.sentence_encoder.embed_positions.weight",
            "encoder.sentence_encoder.layers.0.fc1.weight", "encoder.sentence_encoder.emb_layer_norm.weight",
            "encoder.sentence_encoder.layers.0.self_attn.q_proj.weight", "encoder.lm_head.weight",
            "encoder.lm_head.bias", "encoder.lm_head.dense.weight",
        ];
        for (int i = 0; i < names.Length; i++) p.Str(names[i]).Tensor(i.ToString(), [2, 2], [2, 1]);
        return p.Op('u').Op('u').Op('.').ToArray();
    }

    /// <summary>torch.save's zip layout with storages "0".."storages-1" of 4 floats each.</summary>
    public static byte[] Zip(byte[] pickle, int storages)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                using var entry = zip.CreateEntry($"archive/{name}", CompressionLevel.NoCompression).Open();
                entry.Write(data);
            }
            Add("data.pkl", pickle);
            Add("byteorder", "little"u8.ToArray());
            for (int i = 0; i < storages; i++) Add($"data/{i}", Floats(i));
            Add("version", "3\n"u8.ToArray());
        }
        return stream.ToArray();
    }

    /// <summary>The legacy layout: magic, protocol 1001, sys info, the pickle, the storage keys, then each storage.</summary>
    public static byte[] Legacy(byte[] pickle, int storages)
    {
        var file = new MemoryStream();
        var magic = BigInteger.Parse("119547037146038801333356").ToByteArray();
        file.Write(new PickleWriter().Proto().Raw(0x8a, (byte)magic.Length).Raw(magic).Op('.').ToArray());
        file.Write(new PickleWriter().Proto().Int(1001).Op('.').ToArray());
        file.Write(new PickleWriter().Proto().Op('}').Op('(').Str("little_endian").Raw(0x88).Str("protocol_version").Int(1001).Op('u').Op('.').ToArray());
        file.Write(pickle);
        var keys = new PickleWriter().Proto().Op(']').Op('(');
        for (int i = 0; i < storages; i++) keys.Str(i.ToString());
        file.Write(keys.Op('e').Op('.').ToArray());
        for (int i = 0; i < storages; i++)
        {
            file.Write(BitConverter.GetBytes(4L));
            file.Write(Floats(i));
        }
        return file.ToArray();
    }

    private static byte[] Floats(int seed) =>
        Enumerable.Range(0, 4).SelectMany(j => BitConverter.GetBytes(seed + j * 0.5f)).ToArray();

    private sealed class PickleWriter
    {
        private readonly MemoryStream bytes = new();

        public PickleWriter Raw(params byte[] raw) { bytes.Write(raw); return this; }
        public PickleWriter Op(char opcode) => Raw((byte)opcode);
        public PickleWriter Proto() => Raw(0x80, 2);
        public PickleWriter Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        public PickleWriter Int(long value) => Op('J').Raw(BitConverter.GetBytes((int)value));

        public PickleWriter Str(string text)
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            return Op('X').Raw(BitConverter.GetBytes(utf8.Length)).Raw(utf8);
        }

        /// <summary>torch._utils._rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', 4), 0, shape, stride, False, OrderedDict()).</summary>
        public PickleWriter Tensor(string key, long[] shape, long[] stride)
        {
            Global("torch._utils", "_rebuild_tensor_v2").Op('(');
            Op('(').Str("storage").Global("torch", "FloatStorage").Str(key).Str("cpu").Int(4).Op('t').Op('Q');
            Int(0).Op('(');
            foreach (var d in shape) Int(d);
            Op('t').Op('(');
            foreach (var s in stride) Int(s);
            Op('t').Raw(0x89).Global("collections", "OrderedDict").Op(')').Op('R');
            return Op('t').Op('R');
        }

        public byte[] ToArray() => bytes.ToArray();
    }
}
