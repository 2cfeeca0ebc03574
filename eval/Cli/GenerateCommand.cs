using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Decoding;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>
/// `eval generate`: continue one prompt with Mask-Predict (masked LMs) or greedy decoding (causal and encoder–decoder
/// LMs), the method being
/// the first of the model kind's generation methods. The prompt is text (tokenized) or token ids (--input-ids: no
/// tokenizer needed); --json writes one object with the new token ids (and their text when there is a tokenizer).
/// </summary>
public sealed class GenerateCommand
{
    private readonly Option<string> model = new("--model") { Description = "model folder, or hub id org/name[@revision]", Required = true };
    private readonly Option<string?> prompt = new("--prompt") { Description = "the prompt text (or give --input-ids)" };
    private readonly Option<string?> inputIds = new("--input-ids") { Description = "the prompt as token ids, comma-separated, taken as they are (no special tokens added; no tokenizer needed)" };
    private readonly Option<string?> tokenizer = new("--tokenizer") { Description = "folder with tokenizer.json, when it is not in the model folder" };
    private readonly Option<int?> length = new Option<int?>("--length") { Description = "masked LM: target length in tokens (default: the length head's prediction, when the checkpoint has one)" }.AtLeast(1);
    private readonly Option<int> iterations = new Option<int>("--iterations") { Description = "masked LM: Mask-Predict iterations T", DefaultValueFactory = _ => 10 }.AtLeast(1);
    private readonly Option<string> layout = new("--layout") { Description = "masked LM: appended ([CLS] prompt [MASK]×L [SEP]), source-target (Instruct-XLMR), or auto (source-target when the checkpoint has a length head)", DefaultValueFactory = _ => "auto" };
    private readonly Option<int> maxNewTokens = new Option<int>("--max-new-tokens") { Description = "greedy (causal or encoder–decoder LM): most tokens to generate", DefaultValueFactory = _ => 64 }.AtLeast(1);
    private readonly Option<string[]> stop = new("--stop") { Description = "greedy: stop at this text (repeatable; needs a tokenizer); the EOS token always stops unless --ignore-eos" };
    private readonly Option<bool> ignoreEos = new("--ignore-eos") { Description = "greedy: do not stop at the EOS token(s) of config.json and the tokenizer (a fixed number of new tokens, as benchmarks decode)" };
    private readonly Option<bool> json = new("--json") { Description = "write one JSON object to stdout (prompt_ids, new_tokens, text when there is a tokenizer, method, timing); every other message goes to stderr" };
    private readonly Option<bool> offline = new("--offline") { Description = "never download" };
    private readonly BackendOptions backend = new();
    private readonly FairseqOptions fairseq = new();

    private static readonly JsonWriterOptions JsonOutput = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Command Build()
    {
        layout.AcceptOnlyFromAmong("appended", "source-target", "auto");   // refused while parsing, before the model loads
        var command = new Command("generate", "Generate from one prompt: Mask-Predict with a masked LM, greedy decoding with a causal or encoder–decoder LM");
        foreach (var o in new Option[] { model, prompt, inputIds, tokenizer, length, iterations, layout, maxNewTokens, stop, ignoreEos, json, offline })
            command.Options.Add(o);
        backend.AddTo(command);
        fairseq.AddTo(command);
        command.SetAction(result => CommandRunner.Run(() => Run(result)));
        return command;
    }

    /// <summary>What a generation produced, as the console line and the --json object report it.</summary>
    private sealed record Generation(string Method, int[] PromptIds, int[] NewTokens, string? Text, string Summary)
    {
        public bool? Stopped { get; init; }
        public MaskPredictOutput? MaskPredict { get; init; }
        public MaskPredictLayout? Layout { get; init; }
    }

    private void Run(ParseResult result)
    {
        backend.Validate(result);
        var text = result.GetValue(prompt);
        var ids = ParseIds(result.GetValue(inputIds));
        if ((text is null) == (ids is null))
            throw new ArgumentException("give the prompt as --prompt TEXT or as --input-ids 1,2,3 (one of them)");
        bool asJson = result.GetValue(json);
        // With --json, stdout carries the one object; what the console would say goes to stderr.
        Action<string> log = asJson ? message => Console.Error.WriteLine(message) : message => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var modelDir = HubModelStore.FromEnvironment(result.GetValue(offline) ? null : http, _ => { }).Resolve(result.GetValue(model)!);
        // Token ids need no tokenizer; one beside the model (or named) still decodes the new tokens.
        var tokenizerPlace = result.GetValue(tokenizer) ?? modelDir;
        var tok = ids is null || result.GetValue(tokenizer) is not null || File.Exists(Path.Combine(tokenizerPlace, "tokenizer.json"))
            ? Tokenizer.Load(tokenizerPlace) : null;
        using var engine = backend.Create(result, log);
        using var lm = ModelLoader.Load(modelDir, engine, fairseq.Overrides(result));
        if (tok is not null)
        {
            tok.RequireFits(lm.Config.VocabSize, modelDir);
            FairseqDictionary.VerifyFolder(modelDir, tok.TokenToId, tok.Path);
        }
        foreach (var id in ids ?? [])
            if (id >= lm.Config.VocabSize)
                throw new ArgumentException($"--input-ids: id {id} is outside {modelDir}'s vocabulary of {lm.Config.VocabSize}");
        var clock = Stopwatch.StartNew();
        var generation = ModelKinds.Of(lm).Generation[0] == GenerationMethod.Greedy
            ? Greedy(lm, tok, text, ids, result)
            : MaskPredict(lm, tok, text, ids, result);
        double milliseconds = clock.Elapsed.TotalMilliseconds;
        if (asJson)
        {
            WriteJson(generation, modelDir, lm, engine.Name, milliseconds);
            return;
        }
        Console.WriteLine(generation.Text ?? string.Join(' ', generation.NewTokens));
        log(generation.Summary);
        log(LoadedModelReport.Describe(lm));
        log($"{milliseconds:0} ms on {engine.Name}");
    }

    /// <summary>--input-ids "1,2,3" as ids; null when the option is absent.</summary>
    private static int[]? ParseIds(string? text)
    {
        if (text is null) return null;
        var ids = text.Split(',', StringSplitOptions.TrimEntries).Select(t =>
            int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id
                : throw new ArgumentException($"--input-ids: '{t}' is not a token id (non-negative integers, comma-separated)")).ToArray();
        return ids.Length > 0 ? ids : throw new ArgumentException("--input-ids is empty");
    }

    private static Tokenizer NeedTokenizer(Tokenizer? tok, string what) =>
        tok ?? throw new ArgumentException($"{what} needs a tokenizer: none is beside the model; pass --tokenizer DIR");

    private Generation Greedy(ILanguageModel lm, Tokenizer? tok, string? text, int[]? ids, ParseResult result)
    {
        var promptIds = ids ?? GreedyDecoder.PromptIds(lm, tok!, text!);
        var stops = result.GetValue(ignoreEos) ? new HashSet<int>() : GreedyDecoder.EndOfSequenceTokens(lm.Config, tok);
        var stopTexts = result.GetValue(stop) ?? [];
        if (stopTexts.Length > 0) NeedTokenizer(tok, "--stop");
        var output = new GreedyDecoder(lm, lm.Config.PadTokenId ?? 0).Generate([promptIds], result.GetValue(maxNewTokens), stops,
            tokens => stopTexts.Length > 0 && stopTexts.Any(s => tok!.Decode(tokens, skipSpecialTokens: true).Contains(s, StringComparison.Ordinal)))[0];
        var generated = tok?.Decode(output.Tokens, skipSpecialTokens: true);
        foreach (var s in stopTexts)
            if (generated!.IndexOf(s, StringComparison.Ordinal) is >= 0 and var at) generated = generated[..at];
        return new Generation("greedy", promptIds, output.Tokens, generated,
            $"greedy: {output.Tokens.Length} tokens, {(output.Stopped ? "stopped" : "length limit")}") { Stopped = output.Stopped };
    }

    private Generation MaskPredict(ILanguageModel lm, Tokenizer? tok, string? text, int[]? ids, ParseResult result)
    {
        var tokens = NeedTokenizer(tok, "Mask-Predict (for the mask token)");
        var maskText = tokens.Specials.Mask ?? throw new ArgumentException($"{tokens.Path}: the tokenizer has no mask token");
        int maskId = tokens.TokenToId(maskText)!.Value;
        int padId = lm.Config.PadTokenId ?? (tokens.Specials.Pad is { } pad ? tokens.TokenToId(pad) : null) ?? 0;
        var chosen = result.GetValue(layout) switch
        {
            "appended" => MaskPredictLayout.Appended,
            "source-target" => MaskPredictLayout.SourceTarget,
            "auto" => lm is ISourceTargetModel { HasLengthHead: true } ? MaskPredictLayout.SourceTarget : MaskPredictLayout.Appended,
            var other => throw new ArgumentException($"--layout '{other}' is not one of appended, source-target, auto"),
        };
        int? bos = tokens.Specials.Bos is { } b ? tokens.TokenToId(b) : tokens.Specials.Cls is { } c ? tokens.TokenToId(c) : null;
        int? eos = tokens.Specials.Eos is { } e ? tokens.TokenToId(e) : tokens.Specials.Sep is { } s ? tokens.TokenToId(s) : null;
        var promptIds = ids ?? tokens.Encode(text!, addSpecialTokens: true).Ids.ToArray();
        // In the appended layout the masks go before the prompt's closing special tokens: those the post-processor adds
        // after a text, or (for given ids) a final EOS / SEP.
        int trail;
        if (ids is null)
        {
            var plain = tokens.Encode(text!, addSpecialTokens: false).Ids;
            trail = promptIds.Length - CausalPromptEncoder.LeadingSpecialTokens(tokens).Length - plain.Count;
        }
        else
        {
            int? sep = tokens.Specials.Sep is { } sepText ? tokens.TokenToId(sepText) : null;
            trail = ids.Length > 1 && (ids[^1] == eos || ids[^1] == sep) ? 1 : 0;
        }
        var input = chosen == MaskPredictLayout.Appended
            ? new MaskPredictInput(promptIds[..^trail], promptIds[^trail..])
            : new MaskPredictInput(promptIds, []);
        var lengths = result.GetValue(length) is { } n ? new[] { n } : null;
        var output = new MaskPredictDecoder(lm, maskId, padId, bos, eos).Decode([input], result.GetValue(iterations), lengths, chosen)[0];
        return new Generation("mask-predict", promptIds, output.Tokens, tokens.Decode(output.Tokens, skipSpecialTokens: true),
            $"Mask-Predict ({chosen}): {output.Tokens.Length} tokens, {output.Iterations} iterations, {output.ForwardPasses} forward passes, " +
            $"mean log-probability {(output.LogProbabilities.Length > 0 ? output.LogProbabilities.Average() : 0):0.00}")
        {
            MaskPredict = output, Layout = chosen,
        };
    }

    private static void WriteJson(Generation g, string modelDir, ILanguageModel lm, string device, double milliseconds)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout, JsonOutput))
        {
            writer.WriteStartObject();
            writer.WriteString("model", modelDir);
            writer.WriteString("architecture", ModelLoader.ResolveArchitecture(lm.Config));
            writer.WriteString("method", g.Method);
            Ints(writer, "prompt_ids", g.PromptIds);
            Ints(writer, "new_tokens", g.NewTokens);
            if (g.Text is not null) writer.WriteString("text", g.Text);
            if (g.Stopped is { } stopped) writer.WriteBoolean("stopped", stopped);
            if (g.MaskPredict is { } mp)
            {
                writer.WriteString("layout", g.Layout == MaskPredictLayout.SourceTarget ? "source-target" : "appended");
                writer.WriteNumber("iterations", mp.Iterations);
                writer.WriteNumber("forward_passes", mp.ForwardPasses);
                writer.WriteStartArray("log_probabilities");
                foreach (var p in mp.LogProbabilities) writer.WriteNumberValue(p);
                writer.WriteEndArray();
            }
            writer.WriteNumber("milliseconds", Math.Round(milliseconds, 3));
            writer.WriteString("device", device);
            writer.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
    }

    private static void Ints(Utf8JsonWriter writer, string name, int[] values)
    {
        writer.WriteStartArray(name);
        foreach (var v in values) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
