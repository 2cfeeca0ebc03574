using System.CommandLine;
using System.Diagnostics;
using Eval.Harness.Data;
using Eval.Harness.Decoding;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`mlm-eval generate`: continue one prompt with Mask-Predict (masked LMs) or greedy decoding (causal and encoder–decoder LMs).</summary>
public sealed class GenerateCommand
{
    private readonly Option<string> model = new("--model") { Description = "model folder, or hub id org/name[@revision]", Required = true };
    private readonly Option<string> prompt = new("--prompt") { Description = "the prompt text", Required = true };
    private readonly Option<string?> tokenizer = new("--tokenizer") { Description = "folder with tokenizer.json, when it is not in the model folder" };
    private readonly Option<int?> length = new Option<int?>("--length") { Description = "masked LM: target length in tokens (default: the length head's prediction, when the checkpoint has one)" }.AtLeast(1);
    private readonly Option<int> iterations = new Option<int>("--iterations") { Description = "masked LM: Mask-Predict iterations T", DefaultValueFactory = _ => 10 }.AtLeast(1);
    private readonly Option<string> layout = new("--layout") { Description = "masked LM: appended ([CLS] prompt [MASK]×L [SEP]), source-target (Instruct-XLMR), or auto (source-target when the checkpoint has a length head)", DefaultValueFactory = _ => "auto" };
    private readonly Option<int> maxNewTokens = new Option<int>("--max-new-tokens") { Description = "causal or encoder–decoder LM: most tokens to generate", DefaultValueFactory = _ => 64 }.AtLeast(1);
    private readonly Option<string[]> stop = new("--stop") { Description = "causal or encoder–decoder LM: stop at this text (repeatable); the EOS token always stops" };
    private readonly Option<bool> offline = new("--offline") { Description = "never download" };
    private readonly BackendOptions backend = new();
    private readonly FairseqOptions fairseq = new();

    public Command Build()
    {
        layout.AcceptOnlyFromAmong("appended", "source-target", "auto");   // refused while parsing, before the model loads
        var command = new Command("generate", "Generate from one prompt: Mask-Predict with a masked LM, greedy decoding with a causal or encoder–decoder LM");
        foreach (var o in new Option[] { model, prompt, tokenizer, length, iterations, layout, maxNewTokens, stop, offline })
            command.Options.Add(o);
        backend.AddTo(command);
        fairseq.AddTo(command);
        command.SetAction(result => CommandRunner.Run(() => Run(result)));
        return command;
    }

    private void Run(ParseResult result)
    {
        backend.Validate(result);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var modelDir = HubModelStore.FromEnvironment(result.GetValue(offline) ? null : http, _ => { }).Resolve(result.GetValue(model)!);
        var tok = Tokenizer.Load(result.GetValue(tokenizer) ?? modelDir);
        using var engine = backend.Create(result, message => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]"));
        using var lm = ModelLoader.Load(modelDir, engine, fairseq.Overrides(result));
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(LoadedModelReport.Describe(lm))}[/]");
        tok.RequireFits(lm.Config.VocabSize, modelDir);
        FairseqDictionary.VerifyFolder(modelDir, tok.TokenToId, tok.Path);
        var text = result.GetValue(prompt)!;
        var clock = Stopwatch.StartNew();
        if (ModelKinds.Of(lm).Generation[0] == GenerationMethod.Greedy) Greedy(lm, tok, text, result);
        else MaskPredict(lm, tok, text, result);
        AnsiConsole.MarkupLine($"[grey]{clock.Elapsed.TotalMilliseconds:0} ms on {Markup.Escape(engine.Name)}[/]");
    }

    private void Greedy(ILanguageModel lm, Tokenizer tok, string text, ParseResult result)
    {
        var ids = GreedyDecoder.PromptIds(lm, tok, text);
        var stops = GreedyDecoder.EndOfSequenceTokens(lm.Config, tok);
        var stopTexts = result.GetValue(stop) ?? [];
        var output = new GreedyDecoder(lm, lm.Config.PadTokenId ?? 0).Generate([ids], result.GetValue(maxNewTokens), stops,
            tokens => stopTexts.Length > 0 && stopTexts.Any(s => tok.Decode(tokens, skipSpecialTokens: true).Contains(s, StringComparison.Ordinal)))[0];
        var generated = tok.Decode(output.Tokens, skipSpecialTokens: true);
        foreach (var s in stopTexts)
            if (generated.IndexOf(s, StringComparison.Ordinal) is >= 0 and var at) generated = generated[..at];
        Console.WriteLine(generated);
        AnsiConsole.MarkupLine($"[grey]greedy: {output.Tokens.Length} tokens, {(output.Stopped ? "stopped" : "length limit")}[/]");
    }

    private void MaskPredict(ILanguageModel lm, Tokenizer tok, string text, ParseResult result)
    {
        var maskText = tok.Specials.Mask ?? throw new ArgumentException($"{tok.Path}: the tokenizer has no mask token");
        int maskId = tok.TokenToId(maskText)!.Value;
        int padId = lm.Config.PadTokenId ?? (tok.Specials.Pad is { } pad ? tok.TokenToId(pad) : null) ?? 0;
        var chosen = result.GetValue(layout) switch
        {
            "appended" => MaskPredictLayout.Appended,
            "source-target" => MaskPredictLayout.SourceTarget,
            "auto" => lm is ISourceTargetModel { HasLengthHead: true } ? MaskPredictLayout.SourceTarget : MaskPredictLayout.Appended,
            var other => throw new ArgumentException($"--layout '{other}' is not one of appended, source-target, auto"),
        };
        var ids = tok.Encode(text, addSpecialTokens: true).Ids.ToArray();
        var plain = tok.Encode(text, addSpecialTokens: false).Ids;
        int lead = CausalPromptEncoder.LeadingSpecialTokens(tok).Length, trail = ids.Length - lead - plain.Count;
        var input = chosen == MaskPredictLayout.Appended ? new MaskPredictInput(ids[..^trail], ids[^trail..]) : new MaskPredictInput(ids, []);
        int? bos = tok.Specials.Bos is { } b ? tok.TokenToId(b) : tok.Specials.Cls is { } c ? tok.TokenToId(c) : null;
        int? eos = tok.Specials.Eos is { } e ? tok.TokenToId(e) : tok.Specials.Sep is { } s ? tok.TokenToId(s) : null;
        var lengths = result.GetValue(length) is { } n ? new[] { n } : null;
        var output = new MaskPredictDecoder(lm, maskId, padId, bos, eos).Decode([input], result.GetValue(iterations), lengths, chosen)[0];
        Console.WriteLine(tok.Decode(output.Tokens, skipSpecialTokens: true));
        AnsiConsole.MarkupLine($"[grey]Mask-Predict ({chosen}): {output.Tokens.Length} tokens, {output.Iterations} iterations, {output.ForwardPasses} forward passes, " +
                               $"mean log-probability {(output.LogProbabilities.Length > 0 ? output.LogProbabilities.Average() : 0):0.00}[/]");
    }
}
