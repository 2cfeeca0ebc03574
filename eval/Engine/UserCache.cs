namespace Eval.Engine;

/// <summary>Where the program keeps what it downloads or measures between runs.</summary>
public static class UserCache
{
    /// <summary>XDG_CACHE_HOME, else ~/.cache.</summary>
    public static string Root() =>
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");

    /// <summary>This program's folder under <see cref="Root"/>: ~/.cache/mlm-eval.</summary>
    public static string ProgramFolder() => Path.Combine(Root(), "mlm-eval");
}
