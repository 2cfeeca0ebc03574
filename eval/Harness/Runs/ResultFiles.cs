using System.Text;
using CsvHelper;

namespace Eval.Harness.Runs;

/// <summary>
/// Writes result files whole or not at all: to &lt;path&gt;.part, then renamed, so an interrupted run never leaves a
/// half-written results, benchmark or report file behind.
/// </summary>
public static class ResultFiles
{
    public static string WriteText(string path, string text)
    {
        var partial = path + ".part";
        File.WriteAllText(partial, text, new UTF8Encoding(false));
        File.Move(partial, path, overwrite: true);
        return path;
    }

    /// <summary>A CSV of the given rows, the first being the header; fields are quoted where they need it.</summary>
    public static string WriteCsv(string path, IEnumerable<IReadOnlyList<string>> rows)
    {
        var partial = path + ".part";
        using (var csv = CsvWriter.ToFile(partial, new CsvWriterOptions()))
            foreach (var row in rows)
            {
                foreach (var cell in row) csv.WriteField(cell);
                csv.EndRecord();
            }
        File.Move(partial, path, overwrite: true);
        return path;
    }
}
