using System.Diagnostics;
using Eval.Fuzz;
using Eval.Fuzz.Targets;
using SharpFuzz;

// The AFL++ driver (run under afl-fuzz by fuzz/run, with the project assemblies instrumented by sharpfuzz):
//   Eval.Fuzz TARGET                          read inputs from AFL, one per iteration
//   Eval.Fuzz list                            the target names, one a line
//   Eval.Fuzz seeds TARGET FOLDER SHARED      write the synthetic seeds of TARGET into FOLDER (SHARED: ../shared)
//   Eval.Fuzz replay TARGET PATH...           run files (or every file of folders) through TARGET and say what each did
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Eval.Fuzz TARGET | list | seeds TARGET FOLDER SHARED | replay TARGET PATH...");
    return 2;
}

switch (args[0])
{
    case "list":
        foreach (var t in FuzzTargets.All) Console.WriteLine(t.Name);
        return 0;
    case "seeds" when args.Length == 4:
        SyntheticSeeds.Write(FuzzTargets.Get(args[1]).Name, args[2], args[3]);
        return 0;
    case "replay" when args.Length >= 3:
        return Replay(FuzzTargets.Get(args[1]), args.Skip(2));
    default:
        var target = FuzzTargets.Get(args[0]);
        using (var workspace = new FuzzWorkspace())
        {
            Fuzzer.OutOfProcess.Run(stream =>
            {
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                FuzzExecution.Execute(target, copy.ToArray(), workspace);
            });
        }
        return 0;
}

static int Replay(FuzzTarget target, IEnumerable<string> paths)
{
    using var workspace = new FuzzWorkspace();
    int failures = 0;
    var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p]);
    foreach (var file in files)
    {
        var input = File.ReadAllBytes(file);
        var clock = Stopwatch.StartNew();
        string outcome;
        try
        {
            var result = FuzzExecution.Execute(target, input, workspace);
            outcome = result.Accepted ? "accepted" : $"refused: {result.DocumentedError!.GetType().Name}: {result.DocumentedError.Message}";
        }
        catch (Exception e)
        {
            failures++;
            outcome = $"CRASH: {e}";
        }
        if (clock.Elapsed.TotalSeconds > 2 && !outcome.StartsWith("CRASH", StringComparison.Ordinal))
        {
            failures++;
            outcome = $"HANG ({clock.Elapsed.TotalSeconds:F1} s): {outcome}";
        }
        Console.WriteLine($"{file}: {clock.Elapsed.TotalMilliseconds:F0} ms, {outcome}");
    }
    return failures == 0 ? 0 : 1;
}
