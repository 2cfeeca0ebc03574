using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Tests.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Cli;

/// <summary>
/// `generate` with the prompt as token ids (--input-ids, no tokenizer needed), --ignore-eos and --json (one object on
/// stdout), in a child process: greedy on bloom-tiny and modernbert-decoder-tiny (CPU and ILGPU) reproduces greedy.json's tokens; Mask-Predict on modernbert-tiny
/// gives the same tokens from ids as from the text they encode; bad prompts are one line.
/// </summary>
[TestClass]
public sealed class GenerateCommandTests
{
    private static string Bloom => SharedFixtures.Model("bloom-tiny");

    /// <summary>Runs mlm-eval and returns its exit code, stdout and stderr apart.</summary>
    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var process = ProgramProcess.Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(true);
            Assert.Fail($"generate {string.Join(' ', args)} did not finish in 2 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static (int[] Prompt, int[] Tokens) GreedyGolden(string? model = null)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(model ?? Bloom, "greedy.json")));
        return (doc.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            doc.RootElement.GetProperty("greedy_new_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    /// <summary>stdout must be exactly one JSON object (one line).</summary>
    private static JsonObject SingleObject(string stdout)
    {
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(1, lines.Length, $"stdout is one line: {stdout}");
        return JsonNode.Parse(lines[0])!.AsObject();
    }

    private static int[] Ints(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    [TestMethod]
    [DataRow("bloom-tiny", "BloomForCausalLM", "cpu")]
    [DataRow("bloom-tiny", "BloomForCausalLM", "ilgpu-cpu")]
    [DataRow("modernbert-decoder-tiny", "ModernBertDecoderForCausalLM", "cpu")]
    [DataRow("modernbert-decoder-tiny", "ModernBertDecoderForCausalLM", "ilgpu-cpu")]
    public void InputIdsWithIgnoreEosAndJsonReproduceTheGreedyGolden(string fixture, string architecture, string device)
    {
        var model = SharedFixtures.Model(fixture);
        var (prompt, expected) = GreedyGolden(model);
        var (code, stdout, stderr) = Run("generate", "--model", model, "--input-ids", string.Join(',', prompt), "--max-new-tokens",
            expected.Length.ToString(), "--ignore-eos", "--json", "--device", device, "--offline");
        Assert.AreEqual(0, code, stdout + stderr);
        var json = SingleObject(stdout);
        CollectionAssert.AreEqual(expected, Ints(json["new_tokens"]));
        CollectionAssert.AreEqual(prompt, Ints(json["prompt_ids"]));
        Assert.AreEqual("greedy", json["method"]!.GetValue<string>());
        Assert.AreEqual(architecture, json["architecture"]!.GetValue<string>());
        Assert.IsFalse(json["stopped"]!.GetValue<bool>());
        Assert.IsFalse(json.ContainsKey("text"), $"{fixture} has no tokenizer, so no text");
    }

    /// <summary>A copy of bloom-tiny whose eos_token_id is the 4th greedy token: generation stops before it unless --ignore-eos.</summary>
    [TestMethod]
    public void IgnoreEosGoesPastTheEosToken()
    {
        var (prompt, expected) = GreedyGolden();
        var dir = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(Bloom, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Bloom, "config.json")))!.AsObject();
        config["eos_token_id"] = expected[3];
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        string[] args = ["generate", "--model", dir, "--input-ids", string.Join(',', prompt), "--max-new-tokens", expected.Length.ToString(), "--json", "--device", "cpu"];

        var (code, stdout, stderr) = Run(args);
        Assert.AreEqual(0, code, stdout + stderr);
        var stopped = SingleObject(stdout);
        CollectionAssert.AreEqual(expected[..3], Ints(stopped["new_tokens"]), "stops at EOS, which is not kept");
        Assert.IsTrue(stopped["stopped"]!.GetValue<bool>());

        (code, stdout, stderr) = Run([.. args, "--ignore-eos"]);
        Assert.AreEqual(0, code, stdout + stderr);
        var all = SingleObject(stdout);
        CollectionAssert.AreEqual(expected, Ints(all["new_tokens"]));
        Assert.IsFalse(all["stopped"]!.GetValue<bool>());
    }

    [TestMethod]
    public void WithATokenizerTheJsonHasTheTextAndThePlainOutputIsIt()
    {
        var (prompt, expected) = GreedyGolden();
        var tokenizer = SmallTokenizers.ByteLevelBpe();
        var text = Tokenizer.Load(tokenizer).Decode(expected, skipSpecialTokens: true);
        string[] args = ["generate", "--model", Bloom, "--tokenizer", tokenizer, "--input-ids", string.Join(',', prompt), "--max-new-tokens",
            expected.Length.ToString(), "--ignore-eos", "--device", "cpu"];
        var (code, stdout, stderr) = Run([.. args, "--json"]);
        Assert.AreEqual(0, code, stdout + stderr);
        var json = SingleObject(stdout);
        CollectionAssert.AreEqual(expected, Ints(json["new_tokens"]));
        Assert.AreEqual(text, json["text"]!.GetValue<string>());

        // Without --json the text is the first line of stdout; without a tokenizer, the ids.
        (code, stdout, stderr) = Run(args);
        Assert.AreEqual(0, code, stdout + stderr);
        Assert.AreEqual(text, stdout.Split('\n')[0]);
        (code, stdout, stderr) = Run([.. args.Where((a, i) => a != "--tokenizer" && (i == 0 || args[i - 1] != "--tokenizer"))]);
        Assert.AreEqual(0, code, stdout + stderr);
        Assert.AreEqual(string.Join(' ', expected), stdout.Split('\n')[0]);
    }

    [TestMethod]
    public void MaskPredictFromIdsEqualsMaskPredictFromTheTextTheyEncode()
    {
        var model = SharedFixtures.Model("modernbert-tiny");
        var tokenizer = Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert");
        const string Text = "The capital of France is";
        var ids = Tokenizer.Load(tokenizer).Encode(Text, addSpecialTokens: true).Ids;
        string[] common = ["generate", "--model", model, "--tokenizer", tokenizer, "--length", "4", "--iterations", "3", "--json", "--device", "cpu"];
        var (code, fromText, stderr) = Run([.. common, "--prompt", Text]);
        Assert.AreEqual(0, code, fromText + stderr);
        (code, var fromIds, stderr) = Run([.. common, "--input-ids", string.Join(',', ids)]);
        Assert.AreEqual(0, code, fromIds + stderr);
        var a = SingleObject(fromText);
        var b = SingleObject(fromIds);
        Assert.AreEqual("mask-predict", a["method"]!.GetValue<string>());
        Assert.AreEqual(4, Ints(a["new_tokens"]).Length);
        CollectionAssert.AreEqual(Ints(a["prompt_ids"]), Ints(b["prompt_ids"]));
        CollectionAssert.AreEqual(Ints(a["new_tokens"]), Ints(b["new_tokens"]));
        Assert.AreEqual(a["text"]!.GetValue<string>(), b["text"]!.GetValue<string>());
        Assert.AreEqual(3, a["iterations"]!.GetValue<int>());
    }

    [TestMethod]
    [DataRow("--input-ids", "1,x,3", "error: --input-ids: 'x' is not a token id (non-negative integers, comma-separated)")]
    [DataRow("--input-ids", "1,-2", "error: --input-ids: '-2' is not a token id (non-negative integers, comma-separated)")]
    [DataRow("--input-ids", "5,1000", "is outside")]
    [DataRow("--prompt", "text and ids", "error: give the prompt as --prompt TEXT or as --input-ids 1,2,3 (one of them)")]
    [DataRow("--stop", "x", "error: --stop needs a tokenizer")]
    public void BadPromptsAreOneLine(string option, string value, string message)
    {
        string[] args = option == "--prompt"
            ? ["generate", "--model", Bloom, "--device", "cpu", "--input-ids", "5,6", "--prompt", value]
            : option == "--stop"
                ? ["generate", "--model", Bloom, "--device", "cpu", "--input-ids", "5,6", "--stop", value]
                : ["generate", "--model", Bloom, "--device", "cpu", option, value];
        var (code, stdout, stderr) = Run(args);
        Assert.AreEqual(1, code, stdout + stderr);
        var lines = (stdout + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(1, lines.Length, stdout + stderr);
        StringAssert.Contains(lines[0], message);
        StringAssert.StartsWith(lines[0], "error: ");
    }

    [TestMethod]
    public void NeitherPromptNorIdsIsOneLine()
    {
        var (code, stdout, stderr) = Run("generate", "--model", Bloom, "--device", "cpu");
        Assert.AreEqual(1, code);
        Assert.AreEqual("error: give the prompt as --prompt TEXT or as --input-ids 1,2,3 (one of them)", (stdout + stderr).Trim());
    }
}
