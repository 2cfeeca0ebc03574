using Spectre.Console;

namespace Eval.Cli;

/// <summary>How the program writes to its standard output: a terminal gets colours and live progress bars; a file or a
/// pipe gets plain text — no ANSI codes, no wrapping at 80 columns, no progress line left behind.</summary>
public static class TerminalOutput
{
    /// <summary>Wide enough that tables and lines written to a file are never wrapped.</summary>
    public const int RedirectedWidth = 4096;

    /// <summary>The console for this process's standard output (Spectre detects a terminal itself; redirected output is made plain).</summary>
    public static IAnsiConsole Create()
    {
        if (!Console.IsOutputRedirected) return AnsiConsole.Create(new AnsiConsoleSettings());
        var plain = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        plain.Profile.Width = RedirectedWidth;
        return plain;
    }

    /// <summary>Whether live displays (progress bars) may redraw lines: only on an interactive terminal.</summary>
    public static bool IsInteractive => AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
}
