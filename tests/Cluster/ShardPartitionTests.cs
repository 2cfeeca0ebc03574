using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Tests.Cluster;

/// <summary>The shard partition, shard specs from the command line and the schedulers, and the score-cache key merge relies on.</summary>
[TestClass]
public sealed class ShardPartitionTests
{
    private static IEnumerable<(int[] Tokens, int Count)> Cases()
    {
        var random = new Random(7);
        foreach (var units in new[] { 0, 1, 2, 5, 17, 100, 1000 })
            foreach (var count in new[] { 1, 2, 3, 7, 16 })
            {
                yield return (Enumerable.Range(0, units).Select(_ => random.Next(1, 600)).ToArray(), count);
                yield return (Enumerable.Repeat(40, units).ToArray(), count);
            }
        yield return ([500, 1, 1, 1, 1, 1, 1, 1], 3);       // one long unit among short ones
        yield return ([0, 0, 0, 0], 2);                      // no tokens at all: split by count
    }

    [TestMethod]
    public void EveryUnitIsInExactlyOneShardInPlanOrder()
    {
        foreach (var (tokens, count) in Cases())
        {
            var owner = new int[tokens.Length];
            Array.Fill(owner, -1);
            for (int k = 0; k < count; k++)
            {
                var a = ShardPartition.Assign(tokens, new ShardSpec(k, count));
                for (long u = a.FirstUnit; u < a.EndUnit; u++)
                {
                    Assert.AreEqual(-1, owner[u], $"unit {u} of {tokens.Length} is in shards {owner[u]} and {k} of {count}");
                    owner[u] = k;
                }
            }
            Assert.IsTrue(owner.All(o => o >= 0), $"{tokens.Length} units, {count} shards: a unit is in no shard");
            CollectionAssert.AreEqual(owner.Order().ToArray(), owner, "shards take consecutive runs of the plan, in shard order");
        }
    }

    [TestMethod]
    public void EachShardIsWithinOneUnitsTokensOfAnEqualShare()
    {
        foreach (var (tokens, count) in Cases().Where(c => c.Tokens.Sum() > 0))
        {
            double share = (double)tokens.Sum() / count;
            int largest = tokens.Max();
            var loads = Enumerable.Range(0, count).Select(k => ShardPartition.Assign(tokens, new ShardSpec(k, count)).Tokens).ToList();
            Assert.AreEqual(tokens.Sum(), loads.Sum());
            foreach (var load in loads)
                Assert.IsTrue(Math.Abs(load - share) <= largest, $"{tokens.Length} units in {count} shards: a load of {load} against a share of {share:0.#} (largest unit {largest})");
        }
        // Equal units split as evenly as whole units allow.
        var even = Enumerable.Range(0, 3).Select(k => ShardPartition.Assign(Enumerable.Repeat(10, 100).ToArray(), new ShardSpec(k, 3)).Units).ToList();
        CollectionAssert.AreEqual(new long[] { 33, 34, 33 }, even);
    }

    [TestMethod]
    public void AShardDependsOnlyOnThePlanAndTheCount()
    {
        var tokens = Enumerable.Range(0, 300).Select(i => 20 + (i * 37 % 250)).ToArray();
        // The midpoint rule, computed independently in doubles: unit i belongs to ⌊(P_i + t_i/2) / (T/N)⌋. In 7 shards some
        // boundaries fall in the first half of a unit and some in the second, so neither the start rule ⌊P_i / (T/N)⌋ nor
        // the end rule ⌊(P_i + t_i) / (T/N)⌋ gives these shards (in 5 shards the start rule would).
        double total = tokens.Sum();
        double before = 0;
        var expected = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            expected[i] = Math.Min(6, (int)Math.Floor((before + tokens[i] / 2.0) / (total / 7)));
            before += tokens[i];
        }
        for (int k = 0; k < 7; k++)
        {
            var a = ShardPartition.Assign(tokens, new ShardSpec(k, 7));
            Assert.AreEqual(ShardPartition.Assign(tokens.ToList(), new ShardSpec(k, 7)), a, "the same plan gives the same shard");
            Assert.AreEqual(Array.IndexOf(expected, k), (int)a.FirstUnit, $"shard {k}'s first unit");
            Assert.AreEqual(expected.Count(e => e == k), (int)a.Units, $"shard {k}'s units");
        }
        var one = ShardPartition.Assign(tokens, new ShardSpec(0, 1));
        Assert.AreEqual((0L, 300L, (long)total), (one.FirstUnit, one.EndUnit, one.Tokens), "one shard is the whole plan");
    }

    [TestMethod]
    public void ShardsComeFromTheCommandLineOrTheScheduler()
    {
        Assert.AreEqual(new ShardSpec(2, 3), ShardSpec.Parse("2/3"));
        Assert.AreEqual(new ShardSpec(0, 1), ShardSpec.Parse("0/1"));
        foreach (var bad in new[] { "3/3", "1/0", "-1/3", "a/b", "1", "1/2/3", "" })
            Assert.ThrowsException<ArgumentException>(() => ShardSpec.Parse(bad), bad);
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => ShardSpec.Parse("3/3")).Message, "0..2");

        Func<string, string?> Env(params (string, string)[] vars) => name => vars.FirstOrDefault(v => v.Item1 == name).Item2;
        // Slurm: --array=4-6 numbers the tasks 4, 5, 6.
        Assert.AreEqual(new ShardSpec(1, 3), ShardSpec.FromScheduler(Env(("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_COUNT", "3")), null));
        Assert.AreEqual(new ShardSpec(2, 3), ShardSpec.FromScheduler(Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")), 3));
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() =>
            ShardSpec.FromScheduler(Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")), 4)).Message, "SLURM_ARRAY_TASK_COUNT=3");
        // Kubernetes: the index, and the completions passed as a count.
        Assert.AreEqual(new ShardSpec(3, 4), ShardSpec.FromScheduler(Env(("JOB_COMPLETION_INDEX", "3")), 4));
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => ShardSpec.FromScheduler(Env(("JOB_COMPLETION_INDEX", "3")), null)).Message, "--shard-count");
        Assert.ThrowsException<ArgumentException>(() => ShardSpec.FromScheduler(Env(("JOB_COMPLETION_INDEX", "4")), 4));
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => ShardSpec.FromScheduler(Env(), 3)).Message, "neither");
    }

    [TestMethod]
    public void DocumentRangesRoundTrip()
    {
        int[][] lists = [[], [0], [0, 1, 2, 3, 4], [0, 2, 3, 4, 9, 11, 12], [7, 8, 100]];
        string[] texts = ["", "0", "0-4", "0,2-4,9,11-12", "7-8,100"];
        for (int i = 0; i < lists.Length; i++)
        {
            Assert.AreEqual(texts[i], DocumentRanges.Format(lists[i]));
            CollectionAssert.AreEqual(lists[i], DocumentRanges.Parse(texts[i]).ToArray());
        }
    }

    /// <summary>
    /// Resuming and merge trust the cache key to tell scores apart: a key without the template's text, its answer
    /// choices, the task's answer slot or gold, the scoring mode or the max length would reuse stale scores after an edit.
    /// </summary>
    [TestMethod]
    public void TheScoreCacheKeyCoversEverythingThatDecidesAScore()
    {
        var task = TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts")).Get("xnli");
        var template = task.Templates[0];
        var key = EvaluationRunner.TemplateKey(task, template, ScoringMode.Restricted, 512);
        string KeyOf(TaskDefinition t, PromptTemplate p) => EvaluationRunner.TemplateKey(t, p, ScoringMode.Restricted, 512);
        PromptTemplate Edited(string source, string? choices) => new(template.Name, template.Id, source, choices, template.Reference, "edited.yaml");

        Assert.AreEqual(key, EvaluationRunner.TemplateKey(task, template, ScoringMode.Restricted, 512));
        Assert.AreEqual(key, KeyOf(task, Edited(template.Source, template.AnswerChoicesSource)), "the same texts under the same name, read from another file");
        Assert.AreNotEqual(key, EvaluationRunner.TemplateKey(task, template, ScoringMode.EvalPy, 512), "scoring mode");
        Assert.AreNotEqual(key, EvaluationRunner.TemplateKey(task, template, ScoringMode.Unrestricted, 512), "scoring mode");
        Assert.AreNotEqual(key, EvaluationRunner.TemplateKey(task, template, ScoringMode.Restricted, 256), "max length");
        Assert.AreNotEqual(key, KeyOf(task, task.Templates[1]), "template");
        // The same template name with edited text: the old scores must not be taken for the new prompt.
        Assert.AreNotEqual(key, KeyOf(task, Edited("Premise: " + template.Source, template.AnswerChoicesSource)), "the template's text");
        Assert.AreNotEqual(key, KeyOf(task, Edited(template.Source, "Yes ||| Maybe ||| No")), "the answer choices");
        Assert.AreNotEqual(key, KeyOf(task with { AnswerSlot = JinjaTemplate.Parse("slot", "\n{{ mask }}") }, template), "the task's answer slot");
        Assert.AreNotEqual(key, KeyOf(task with { Gold = JinjaTemplate.Parse("gold", "{{ gold_label }}") }, template), "the task's gold");
        Assert.AreEqual(ScoringModes.Parse("restricted"), ScoringMode.Restricted);
    }

    /// <summary>
    /// The midpoint rule on units small enough to check by hand: 20 tokens in 2 shards, the half at 10. Units of 6, 10
    /// and 4 tokens: the middle unit spans 6–16, its midpoint 11 is past the half, so it goes to the second shard
    /// (the start rule, which looks at 6, would keep it in the first). Units of 4, 10 and 6: the middle unit spans 4–14,
    /// its midpoint 9 is before the half, so it stays in the first shard (the end rule, which looks at 14, would move it).
    /// </summary>
    [DataTestMethod]
    [DataRow(new[] { 6, 10, 4 }, 1L, 6L)]
    [DataRow(new[] { 4, 10, 6 }, 2L, 14L)]
    public void AUnitGoesToTheShardItsMidpointFallsIn(int[] tokens, long firstShardUnits, long firstShardTokens)
    {
        var first = ShardPartition.Assign(tokens, new ShardSpec(0, 2));
        var second = ShardPartition.Assign(tokens, new ShardSpec(1, 2));
        Assert.AreEqual((0L, firstShardUnits, firstShardTokens), (first.FirstUnit, first.EndUnit, first.Tokens));
        Assert.AreEqual((firstShardUnits, 3L, 20L - firstShardTokens), (second.FirstUnit, second.EndUnit, second.Tokens));
    }
}
