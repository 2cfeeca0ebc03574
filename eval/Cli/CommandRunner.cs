using Eval.Engine.IO;

namespace Eval.Cli;

/// <summary>Turns the errors users can cause (bad files, bad options) into one clear line and exit code 1.</summary>
public static class CommandRunner
{
    public static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is CheckpointFormatException or Eval.Tokenizers.TokenizerFormatException or InvalidDataException or FileNotFoundException
                                      or DirectoryNotFoundException or NotSupportedException or ArgumentException
                                      or InvalidOperationException or Eval.Harness.Tasks.TaskFileException or Eval.Harness.Templates.TemplateException
                                      or Eval.Harness.Data.DatasetFormatException or Eval.Harness.Data.DownloadException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
