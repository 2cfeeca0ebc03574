using System.CommandLine;
using Eval.Cli;

namespace Eval.Tests.Cli;

/// <summary>
/// Numbers out of range are refused while the command line is parsed, in every command, before anything is resolved,
/// downloaded or loaded: one "error:" line and exit code 1.
/// </summary>
[TestClass]
public sealed class NumberOptionTests
{
    private static Command Eval() => new EvalCommand().Build();
    private static Command Generate() => new GenerateCommand().Build();
    private static Command BenchDecode() => new BenchCommand().Build().Subcommands.Single(c => c.Name == "decode");

    public static IEnumerable<object[]> Mistakes() =>
    [
        ["eval", new[] { "--task", "xnli", "--limit", "0" }, "--limit must be at least 1, got 0"],
        ["eval", new[] { "--task", "xnli", "--limit", "-1" }, "--limit must be at least 1, got -1"],
        ["eval", new[] { "--task", "xnli", "--limit", "ten" }, "--limit 'ten' is not an integer"],
        ["eval", new[] { "--task", "xnli", "--threads", "-1" }, "--threads must be at least 0, got -1"],
        ["eval", new[] { "--task", "xnli", "--batch-size", "0" }, "--batch-size must be at least 1, got 0"],
        ["eval", new[] { "--task", "xnli", "--max-batch-tokens", "0" }, "--max-batch-tokens must be at least 1, got 0"],
        ["eval", new[] { "--task", "xnli", "--max-length", "1" }, "--max-length must be at least 2, got 1"],
        ["eval", new[] { "--task", "xnli", "--heads", "0" }, "--heads must be at least 1, got 0"],
        ["eval", new[] { "--task", "xnli", "--shard", "auto", "--shard-count", "0" }, "--shard-count must be at least 1, got 0"],
        ["generate", new[] { "--model", "m", "--prompt", "p", "--iterations", "0" }, "--iterations must be at least 1, got 0"],
        ["generate", new[] { "--model", "m", "--prompt", "p", "--length", "-3" }, "--length must be at least 1, got -3"],
        ["generate", new[] { "--model", "m", "--prompt", "p", "--max-new-tokens", "0" }, "--max-new-tokens must be at least 1, got 0"],
        ["generate", new[] { "--model", "m", "--prompt", "p", "--threads", "-2" }, "--threads must be at least 0, got -2"],
        ["bench decode", new[] { "--reps", "0" }, "--reps must be at least 1, got 0"],
        ["bench decode", new[] { "--max-batch", "0" }, "--max-batch must be at least 1, got 0"],
        ["bench decode", new[] { "--generation-prompt", "1" }, "--generation-prompt must be at least 2, got 1"],
        ["bench decode", new[] { "--threads", "-1" }, "--threads must be at least 0, got -1"],
        ["compare", new[] { "--baseline", "a", "--current", "b", "--max-drop", "-1" }, "--max-drop must be at least 0, got -1"],
        ["compare", new[] { "--baseline", "a", "--current", "b", "--max-drop", "NaN" }, "--max-drop 'NaN' is not a number"],
    ];

    [TestMethod]
    [DynamicData(nameof(Mistakes))]
    public void An_out_of_range_number_is_a_parse_error(string command, string[] args, string message)
    {
        var parsed = (command switch
        {
            "eval" => Eval(),
            "generate" => Generate(),
            "bench decode" => BenchDecode(),
            "compare" => ReportCommands.Compare(),
            _ => throw new ArgumentException(command),
        }).Parse(args);
        CollectionAssert.AreEqual(new[] { message }, parsed.Errors.Select(e => e.Message).ToArray());
    }

    [TestMethod]
    public void Generate_refuses_an_unknown_layout_while_parsing()
    {
        var errors = Generate().Parse(["--model", "m", "--prompt", "p", "--layout", "sideways"]).Errors;
        Assert.AreEqual(1, errors.Count);
        StringAssert.Contains(errors[0].Message, "sideways");
    }

    [TestMethod]
    public void Numbers_in_range_and_defaults_parse()
    {
        var eval = Eval();
        var parsed = eval.Parse(["--task", "xnli", "--limit", "1", "--threads", "0", "--max-length", "2"]);
        Assert.AreEqual(0, parsed.Errors.Count, string.Join("; ", parsed.Errors.Select(e => e.Message)));
        Assert.AreEqual(1, parsed.GetValue<int?>("--limit"));
        Assert.AreEqual(8, parsed.GetValue<int>("--batch-size"), "the default batch size survives the range check");
        Assert.IsNull(eval.Parse(["--task", "xnli"]).GetValue<int?>("--limit"), "an absent optional number stays null");
        Assert.AreEqual(10, Generate().Parse(["--model", "m", "--prompt", "p"]).GetValue<int>("--iterations"));
        Assert.AreEqual(1.0, ReportCommands.Compare().Parse(["--baseline", "a", "--current", "b"]).GetValue<double>("--max-drop"));
    }

    [TestMethod]
    public void The_program_reports_a_bad_number_in_one_line_before_it_looks_for_the_model()
    {
        var missing = Path.Combine(SharedFixtures.TempDirectory(), "no-such-model");
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out");
        var (code, text) = ProgramProcess.Wait(ProgramProcess.Start(["eval", "--task", "xnli", "--model", missing, "--batch-size", "0", "--output", output]),
            TimeSpan.FromSeconds(60));
        Assert.AreEqual(1, code, text);
        Assert.AreEqual("error: --batch-size must be at least 1, got 0", text.Trim());
        Assert.IsFalse(Directory.Exists(output));
    }
}
