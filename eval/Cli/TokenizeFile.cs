using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Tokenizers;

namespace Eval.Cli;

/// <summary>
/// `eval tokenize`: each input line {"text": ..., "add_special_tokens": true|false} is written back with "ids" and
/// "tokens" added (other fields kept). UTF-8 in and out.
/// </summary>
public static class TokenizeFile
{
    private static readonly JsonSerializerOptions Output = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Run(Tokenizer tokenizer, string inputPath, string outputPath)
    {
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: input file not found", inputPath);
        var temporary = outputPath + ".partial";
        int count = 0, lineNumber = 0;
        using (var writer = new StreamWriter(temporary, false, new System.Text.UTF8Encoding(false)))
        {
            foreach (var line in File.ReadLines(inputPath))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                JsonObject record;
                try
                {
                    record = JsonNode.Parse(line) as JsonObject ?? throw new InvalidDataException($"{inputPath}:{lineNumber}: not a JSON object");
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"{inputPath}:{lineNumber}: not valid JSON: {e.Message}");
                }
                if (record["text"] is not JsonValue textValue || !textValue.TryGetValue<string>(out var text))
                    throw new InvalidDataException($"{inputPath}:{lineNumber}: \"text\" must be a string");
                bool addSpecial = true;
                if (record["add_special_tokens"] is { } flag && (flag is not JsonValue v || !v.TryGetValue(out addSpecial)))
                    throw new InvalidDataException($"{inputPath}:{lineNumber}: \"add_special_tokens\" must be true or false");
                var encoding = tokenizer.Encode(text, addSpecial);
                record["ids"] = new JsonArray(encoding.Ids.Select(i => (JsonNode)i).ToArray());
                record["tokens"] = new JsonArray(encoding.Tokens.Select(t => (JsonNode)t).ToArray());
                writer.WriteLine(record.ToJsonString(Output));
                count++;
            }
        }
        File.Move(temporary, outputPath, overwrite: true);
        return count;
    }
}
