using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Tests.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Decoding;

/// <summary>
/// The encoder–decoder kind in the harness: prompts made as t-zero makes them (with the T5 tokenizer), and `eval` on a
/// random-weight mT5 with that tokenizer, whose predictions and scores do not depend on the batch size, the token
/// budget or the backend, and whose results report acc and acc_norm.
/// </summary>
[TestClass]
public sealed class EncoderDecoderScoringTests
{
    private static readonly string T5Tokenizer = Path.Combine(SharedFixtures.Shared, "tokenizers", "unigram-t5-small");

    /// <summary>
    /// t-zero's run_eval.py: the template's input tokenized without special tokens (no &lt;/s&gt;), each answer choice
    /// tokenized alone with them (the choice, then &lt;/s&gt; = 1).
    /// </summary>
    [TestMethod]
    [DataRow("xcopa")]
    [DataRow("xnli")]
    [DataRow("xwinograd")]
    public void PromptsAreTheRenderedInputAndEachChoiceWithEos(string taskName)
    {
        var registry = TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts"));
        var task = registry.Get(taskName);
        var fields = taskName switch
        {
            "xcopa" => new Dictionary<string, object?> { ["premise"] = "The man turned on the faucet.", ["choice1"] = "The toilet filled with water.", ["choice2"] = "Water flowed from the spout.", ["question"] = "effect", ["label"] = 1L },
            "xnli" => new Dictionary<string, object?> { ["premise"] = "The cat sat on the mat.", ["hypothesis"] = "A cat is sitting.", ["label"] = 0L },
            _ => new Dictionary<string, object?> { ["sentence"] = "The trophy doesn't fit into the brown suitcase because _ is too large.", ["option1"] = "the trophy", ["option2"] = "the suitcase", ["answer"] = "1" },
        };
        var doc = new Document(0, fields, "test:1");
        var tokenizer = Tokenizer.Load(T5Tokenizer);
        foreach (var template in task.Templates)
        {
            var prompt = new EncoderDecoderPromptEncoder(tokenizer, task, template, 1024).Encode(doc);
            var rendered = template.Render(fields);
            Assert.AreEqual(rendered.Input, prompt.Text, template.Name);
            CollectionAssert.AreEqual(tokenizer.Encode(rendered.Input, addSpecialTokens: false).Ids.ToArray(), prompt.SourceIds, template.Name);
            Assert.AreNotEqual(1, prompt.SourceIds[^1], "no eos after the input");
            for (int c = 0; c < prompt.Choices.Count; c++)
            {
                CollectionAssert.AreEqual(tokenizer.Encode(rendered.Choices[c], addSpecialTokens: false).Ids.Append(1).ToArray(), prompt.ChoiceIds[c], $"{template.Name} choice {c}");
            }
            Assert.IsFalse(prompt.Truncated);
            var cut = new EncoderDecoderPromptEncoder(tokenizer, task, template, 5).Encode(doc);
            Assert.IsTrue(cut.Truncated);
            CollectionAssert.AreEqual(prompt.SourceIds[^5..], cut.SourceIds, "a long source keeps its tail");
        }
    }

    /// <summary>A random-weight mT5 over the T5 tokenizer's 32,100 ids (vocabulary 32,128, as t5-small), small enough to run in seconds.</summary>
    private static string RandomMt5() => T5Fixtures.RandomModel(T5Fixtures.Json(new
    {
        architectures = new[] { "MT5ForConditionalGeneration" }, model_type = "mt5", vocab_size = 32128, d_model = 32, num_heads = 4, d_kv = 8,
        d_ff = 48, num_layers = 2, num_decoder_layers = 2, feed_forward_proj = "gated-gelu", tie_word_embeddings = false,
        decoder_start_token_id = 0, eos_token_id = 1, pad_token_id = 0,
    }), seed: 3);

    private static (int ExitCode, string Output) RunEval(string model, string output, params string[] extra) => ProgramProcess.Wait(ProgramProcess.Start(
        new[] { "eval", "--model", model, "--tokenizer", T5Tokenizer, "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"),
            "--offline", "--threads", "1", "--output", output, "--task", "xcopa", "--languages", "it", "--limit", "10" }.Concat(extra),
        new Dictionary<string, string>
        {
            ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts"),
            ["EVAL_DATA_CACHE"] = Path.Combine(output, "data-cache"),
            ["HF_HUB_OFFLINE"] = "1",
        }));

    [TestMethod]
    public void EvalScoresDoNotDependOnTheBatchSizeTokenBudgetOrBackendAndReportAccNorm()
    {
        var model = RandomMt5();
        string[][] variants =
        [
            ["--batch-size", "1"], ["--batch-size", "8"], ["--max-batch-tokens", "200"], ["--device", "ilgpu-cpu", "--batch-size", "16"],
        ];
        var runs = variants.Select(v =>
        {
            var dir = SharedFixtures.TempDirectory();
            var (code, output) = RunEval(model, dir, v);
            Assert.AreEqual(0, code, output);
            return dir;
        }).ToList();
        var samples = runs.Select(dir => File.ReadLines(Path.Combine(dir, "samples_xcopa.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => (e.GetProperty("template").GetString()!, e.GetProperty("doc_id").GetInt32()))).ToList();
        Assert.AreEqual(5 * 10, samples[0].Count);
        foreach (var other in samples.Skip(1))
            foreach (var (key, e) in samples[0])
            {
                Assert.AreEqual(e.GetProperty("prediction").GetInt32(), other[key].GetProperty("prediction").GetInt32(), $"{key}");
                var a = e.GetProperty("scores").EnumerateArray().Select(s => s.GetDouble()).ToArray();
                var b = other[key].GetProperty("scores").EnumerateArray().Select(s => s.GetDouble()).ToArray();
                Assert.AreEqual(2, a.Length);
                Assert.IsTrue(a.All(s => s < 0), "scores are summed log-probabilities");
                for (int i = 0; i < a.Length; i++) Assert.AreEqual(a[i], b[i], 1e-4 * Math.Max(1, Math.Abs(a[i])), $"{key} score {i}");
            }
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(runs[0], "results.json")));
        var text = results.RootElement.ToString();
        StringAssert.Contains(text, "acc_norm,none");
        StringAssert.Contains(text, "\"acc,none\"");
    }

    /// <summary>`generate` decodes an encoder–decoder model greedily (at most --max-new-tokens; random weights may reach eos sooner) and reports the load.</summary>
    [TestMethod]
    public void GenerateDecodesAnEncoderDecoderModelGreedily()
    {
        var model = RandomMt5();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(
            ["generate", "--model", model, "--tokenizer", T5Tokenizer, "--prompt", "Translate to German: the house is small.", "--max-new-tokens", "6",
             "--offline", "--threads", "1"], new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1" }));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "MT5ForConditionalGeneration:");
        StringAssert.Contains(output, "x the weight bytes");
        var tokens = System.Text.RegularExpressions.Regex.Match(output, @"greedy: (\d+) tokens");
        Assert.IsTrue(tokens.Success, output);
        Assert.IsTrue(int.Parse(tokens.Groups[1].Value) <= 6, output);
    }

    [TestMethod]
    public void NextTokenAndGreedyScoringRun()
    {
        var model = RandomMt5();
        foreach (var mode in new[] { "next-token", "greedy" })
        {
            var dir = SharedFixtures.TempDirectory();
            var (code, output) = RunEval(model, dir, "--scoring", mode, "--batch-size", "4");
            Assert.AreEqual(0, code, output);
            var lines = File.ReadAllLines(Path.Combine(dir, "samples_xcopa.jsonl"));
            Assert.AreEqual(50, lines.Length, mode);
        }
        var (bad, message) = RunEval(model, SharedFixtures.TempDirectory(), "--scoring", "restricted");
        Assert.AreNotEqual(0, bad);
        StringAssert.Contains(message, "does not apply to an encoder–decoder LM; use one of: loglik, next-token, greedy");
    }
}
