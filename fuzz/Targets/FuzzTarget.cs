namespace Eval.Fuzz.Targets;

/// <summary>
/// One parser of user files under fuzzing. <see cref="Run"/> feeds it one input (writing it to a file of the workspace
/// when the parser takes a path) and then uses what it returned the way the program would. A crash is: any exception
/// that is not one of <see cref="DocumentedErrors"/> (or a subclass); a documented error whose message does not name
/// the input (<see cref="InputName"/>: its file name, folder or source name); a hang; or an allocation beyond
/// <see cref="FuzzExecution.AllocationBound"/>.
/// </summary>
public sealed record FuzzTarget(string Name, string InputName, string Feeds, IReadOnlyList<Type> DocumentedErrors, Action<byte[], FuzzWorkspace> Run)
{
    public bool IsDocumentedError(Exception error) => DocumentedErrors.Any(t => t.IsInstanceOfType(error));

    public string DocumentedErrorNames => string.Join(", ", DocumentedErrors.Select(t => t.Name));
}
