using System.CommandLine;
using Eval.Harness.Tasks;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`mlm-eval tasks` and `mlm-eval templates --task T`: what the prompts folder defines.</summary>
public static class TaskListing
{
    public static Command TasksCommand()
    {
        var prompts = ProjectPaths.PromptsOption();
        var command = new Command("tasks", "List the tasks (shipped with the program, plus EVAL_PROMPTS and --prompts)");
        command.Options.Add(prompts);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var registry = ProjectPaths.LoadTasks(result.GetValue(prompts));
            var table = new Table().Border(TableBorder.Simple).AddColumn("task").AddColumn("subsets").AddColumn("splits").AddColumn("templates").AddColumn("description");
            foreach (var t in registry.Tasks)
                table.AddRow(t.Name, $"{t.Subsets.Count} {Plural(t.SubsetKind)}", Markup.Escape(string.Join(", ", t.Splits.Select(s => s == t.DefaultSplit ? s + "*" : s))),
                    t.Templates.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(t.Description));
            AnsiConsole.Write(table);
            Console.WriteLine("* default split");
            if (registry.Broken.Count > 0)
            {
                // The other tasks stay usable; asking for one of these gives the same error.
                Console.WriteLine($"broken task files ({registry.Broken.Count}; their tasks cannot be run until fixed):");
                foreach (var b in registry.Broken) Console.WriteLine($"  {b.TaskName}: {b.Message}");
            }
        }));
        return command;
    }

    public static Command TemplatesCommand()
    {
        var prompts = ProjectPaths.PromptsOption();
        var task = new Option<string>("--task") { Description = "task name", Required = true };
        var command = new Command("templates", "List a task's templates with their answer choices and Jinja source");
        command.Options.Add(task);
        command.Options.Add(prompts);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var t = ProjectPaths.LoadTasks(result.GetValue(prompts)).Get(result.GetValue(task)!);
            Console.WriteLine($"{t.Name}: {t.Description}");
            Console.WriteLine($"{Plural(t.SubsetKind)}: {string.Join(" ", t.Subsets)}");
            foreach (var p in t.Templates)
            {
                Console.WriteLine();
                Console.WriteLine($"\"{p.Name}\" ({p.Id})");
                if (p.AnswerChoicesSource is not null) Console.WriteLine($"  answer_choices: {p.AnswerChoicesSource}");
                if (p.Reference is not null) Console.WriteLine($"  source: {p.Reference}");
                foreach (var line in p.Source.Split('\n')) Console.WriteLine($"  | {line}");
            }
        }));
        return command;
    }

    /// <summary>A subset kind in the plural: languages, subjects, categories.</summary>
    private static string Plural(string kind) => kind.EndsWith('y') ? kind[..^1] + "ies" : kind + "s";
}
