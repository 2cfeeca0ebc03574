using System.CommandLine;
using Eval.Cli;
using Eval.Models;
using Spectre.Console;

// One console for the whole process, chosen before any command writes: plain text when the output is redirected.
AnsiConsole.Console = TerminalOutput.Create();

var backendOptions = new BackendOptions();
var fairseqOptions = new FairseqOptions();

var modelOption = new Option<string>("--model") { Description = "model folder, or hub id org/name[@revision] (downloaded into the hub cache)", Required = true };
var forwardOffline = new Option<bool>("--offline") { Description = "never download; a hub id must be complete in the hub cache" };
var inputOption = new Option<string>("--input") { Description = "safetensors file with input_ids, attention_mask (and logits_at; encoder–decoder models: decoder_input_ids, decoder_attention_mask; choice_ids for choice_logprobs)", Required = true };
var outputOption = new Option<string>("--output") { Description = "safetensors file to write", Required = true };
var forward = new Command("forward", "Run a model on inputs from a safetensors file and write its hidden states and logits");
forward.Options.Add(modelOption);
forward.Options.Add(inputOption);
forward.Options.Add(outputOption);
forward.Options.Add(forwardOffline);
backendOptions.AddTo(forward);
fairseqOptions.AddTo(forward);
forward.SetAction(result => CommandRunner.Run(() =>
{
    using var backend = backendOptions.Create(result, message => Console.Error.WriteLine(message));
    var modelDir = Eval.Harness.Data.HubModelStore.ResolveModel(result.GetValue(modelOption)!, result.GetValue(forwardOffline), message => Console.Error.WriteLine(message));
    using var model = ModelLoader.Load(modelDir, backend, fairseqOptions.Overrides(result));
    Console.Error.WriteLine(LoadedModelReport.Describe(model));
    ForwardDump.Run(model, result.GetValue(inputOption)!, result.GetValue(outputOption)!);
    Console.WriteLine($"wrote {result.GetValue(outputOption)} ({ModelLoader.ResolveArchitecture(model.Config)}, {backend.Name})");
}));

var tokenizerOption = new Option<string>("--tokenizer") { Description = "folder with tokenizer.json (and tokenizer_config.json)", Required = true };
var textsOption = new Option<string>("--input") { Description = "JSON lines: {\"text\": ..., \"add_special_tokens\": true|false}", Required = true };
var tokensOutput = new Option<string>("--output") { Description = "JSON lines with \"ids\" and \"tokens\" added", Required = true };
var tokenize = new Command("tokenize", "Tokenize texts with a Hugging Face tokenizer.json");
tokenize.Options.Add(tokenizerOption);
tokenize.Options.Add(textsOption);
tokenize.Options.Add(tokensOutput);
tokenize.SetAction(result => CommandRunner.Run(() =>
{
    var tokenizer = Eval.Tokenizers.Tokenizer.Load(result.GetValue(tokenizerOption)!);
    int count = TokenizeFile.Run(tokenizer, result.GetValue(textsOption)!, result.GetValue(tokensOutput)!);
    Console.WriteLine($"wrote {count} lines to {result.GetValue(tokensOutput)}");
}));

var root = new RootCommand("Evaluation and benchmark harness for masked language models as zero-shot instruction followers");
root.Subcommands.Add(forward);
root.Subcommands.Add(tokenize);
root.Subcommands.Add(ConvertCommand.Build());
root.Subcommands.Add(new EvalCommand().Build());
root.Subcommands.Add(MergeCommand.Build());
root.Subcommands.Add(TaskListing.TasksCommand());
root.Subcommands.Add(TaskListing.TemplatesCommand());
root.Subcommands.Add(DemoCommand.Build());
root.Subcommands.Add(new BenchCommand().Build());
root.Subcommands.Add(new GenerateCommand().Build());
root.Subcommands.Add(ReportCommands.Report());
root.Subcommands.Add(ReportCommands.Scaling());
root.Subcommands.Add(ReportCommands.Compare());
var parsed = root.Parse(args);
// A bad command line is one "error:" line per mistake (as CommandRunner reports the rest), without the help text;
// `COMMAND --help` shows that.
if (parsed.Action is System.CommandLine.Invocation.ParseErrorAction)
{
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"error: {string.Join(' ', error.Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
    return 1;
}
return parsed.Invoke();
