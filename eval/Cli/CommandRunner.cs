using Eval.Engine.IO;

namespace Eval.Cli;

/// <summary>Turns the errors users can cause (bad files, bad options) into one clear line and exit code 1 (2 for a command that uses 1 for its verdict), and an interruption into exit code 130 (Ctrl-C) or 143 (SIGTERM).</summary>
public static class CommandRunner
{
    /// <summary>128 + SIGINT, as shells report a command stopped by Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    public static int Run(Action action) => Run(() =>
    {
        action();
        return 0;
    });

    /// <summary>Runs a command that chooses its own exit code (e.g. 1 when a regression check fails).</summary>
    public static int Run(Func<int> action, int errorExitCode = 1)
    {
        try
        {
            return action();
        }
        catch (StoppedBySignalException e)
        {
            Console.Error.WriteLine(e.Message);
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("interrupted — resume with the same command");
            return InterruptedExitCode;
        }
        catch (Exception e) when (e is CheckpointFormatException or Eval.Tokenizers.TokenizerFormatException or InvalidDataException or FileNotFoundException
                                      or DirectoryNotFoundException or NotSupportedException or ArgumentException
                                      or InvalidOperationException or Eval.Harness.Tasks.TaskFileException or Eval.Harness.Templates.TemplateException
                                      or Eval.Harness.Data.DatasetFormatException or Eval.Harness.Data.DownloadException
                                      or FormatException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return errorExitCode;
        }
    }
}
