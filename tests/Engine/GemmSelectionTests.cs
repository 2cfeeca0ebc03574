using Eval.Engine.Cpu;

namespace Eval.Tests.Engine;

/// <summary>
/// Auto never runs a GEMM slower than the managed one: Debian's reference BLAS (libblas3, netlib) exports
/// cblas_sgemm like OpenBLAS does, but is an order of magnitude slower; it must not be chosen, OpenBLAS must.
/// </summary>
[TestClass]
public sealed class GemmSelectionTests
{
    private const string ReferenceBlas = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
    private const string OpenBlas = "libopenblas.so.0";

    private static GemmSelector Selector(string cacheFolder, params string[] libraries) =>
        new(libraries, Path.Combine(cacheFolder, "gemm-probe.json"));

    private static void RequireReferenceBlas()
    {
        if (!File.Exists(ReferenceBlas))
            Assert.Inconclusive($"{ReferenceBlas} is missing: install Debian's libblas3 (.ci/run does)");
    }

    [TestMethod]
    public void The_reference_BLAS_is_recognised_as_neither_OpenBLAS_nor_another_optimised_library()
    {
        RequireReferenceBlas();
        var reference = BlasNativeMethods.TryLoad(ReferenceBlas);
        Assert.IsNotNull(reference, "the reference BLAS exports cblas_sgemm");
        Assert.AreEqual(BlasFlavour.Unrecognised, reference.Flavour);
        var openBlas = BlasNativeMethods.TryLoad(OpenBlas);
        Assert.IsNotNull(openBlas, "OpenBLAS is installed (.ci/run installs libopenblas0-pthread)");
        Assert.AreEqual(BlasFlavour.OpenBlas, openBlas.Flavour);
        StringAssert.StartsWith(openBlas.Description, "OpenBLAS ");
    }

    [TestMethod]
    public void Auto_rejects_the_reference_BLAS_after_a_probe_and_falls_back_to_managed()
    {
        RequireReferenceBlas();
        var cache = SharedFixtures.TempDirectory();
        var choice = Selector(cache, ReferenceBlas).Choose(GemmPath.Auto, 2);
        Assert.IsInstanceOfType<ManagedGemm>(choice.Gemm, choice.Reason);
        StringAssert.Contains(choice.Reason, ReferenceBlas);
        StringAssert.Contains(choice.Reason, "slower");
        Assert.IsTrue(File.Exists(Path.Combine(cache, "gemm-probe.json")), "the probe result is cached");
    }

    [TestMethod]
    public void Auto_walks_past_the_reference_BLAS_to_OpenBLAS()
    {
        RequireReferenceBlas();
        var choice = Selector(SharedFixtures.TempDirectory(), ReferenceBlas, OpenBlas).Choose(GemmPath.Auto, 2);
        Assert.IsInstanceOfType<BlasGemm>(choice.Gemm, choice.Reason);
        StringAssert.Contains(choice.Gemm.Name, OpenBlas);
        StringAssert.Contains(choice.Reason, "OpenBLAS");
        StringAssert.Contains(choice.Reason, "an optimised BLAS");
    }

    [TestMethod]
    public void Gemm_flag_still_forces_the_reference_BLAS_or_managed()
    {
        RequireReferenceBlas();
        var selector = Selector(SharedFixtures.TempDirectory(), ReferenceBlas, OpenBlas);
        var forced = selector.Choose(GemmPath.Blas, 1);
        StringAssert.Contains(forced.Gemm.Name, ReferenceBlas);
        Assert.AreEqual("--gemm Blas", forced.Reason);
        Assert.IsInstanceOfType<ManagedGemm>(selector.Choose(GemmPath.Managed, 1).Gemm);
    }

    [TestMethod]
    public void The_probe_rejects_a_library_slower_than_managed_and_accepts_one_faster()
    {
        // The decision, not the machine's speed: a GEMM made 50 ms slower than the other side by construction (the
        // measured libraries' own timings swing with the load; they belong to `bench`, not to a unit test).
        var managed = new ManagedGemm(2);
        var slowed = new SlowedGemm(managed, TimeSpan.FromMilliseconds(50));
        var slowerThanManaged = GemmSelector.Probe(slowed, managed);
        Assert.IsFalse(slowerThanManaged.BlasIsFaster, slowerThanManaged.ToString());
        Assert.IsTrue(slowerThanManaged.BlasMilliseconds >= 50, slowerThanManaged.ToString());
        var fasterThanManaged = GemmSelector.Probe(managed, slowed);
        Assert.IsTrue(fasterThanManaged.BlasIsFaster, fasterThanManaged.ToString());
        Assert.IsTrue(fasterThanManaged.ManagedMilliseconds >= 50, fasterThanManaged.ToString());
    }

    /// <summary>Another GEMM's result, delivered a fixed time later.</summary>
    private sealed unsafe class SlowedGemm(IMatrixMultiply inner, TimeSpan delay) : IMatrixMultiply
    {
        public string Name => inner.Name + " (slowed)";

        public void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
            float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
        {
            inner.Multiply(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            Thread.Sleep(delay);
        }
    }

    [TestMethod]
    public void A_cached_probe_result_decides_without_measuring_again()
    {
        RequireReferenceBlas();
        var cache = SharedFixtures.TempDirectory();
        var selector = Selector(cache, ReferenceBlas);
        Assert.IsInstanceOfType<ManagedGemm>(selector.Choose(GemmPath.Auto, 2).Gemm);
        // Rewrite the cached measurement as if the library had been faster: the next choice must follow the cache.
        var file = Path.Combine(cache, "gemm-probe.json");
        var rewritten = System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(file),
            "\"BlasMilliseconds\": [0-9.eE+-]+", "\"BlasMilliseconds\": 0.001");
        File.WriteAllText(file, rewritten);
        var choice = selector.Choose(GemmPath.Auto, 2);
        Assert.IsInstanceOfType<BlasGemm>(choice.Gemm, choice.Reason);
        StringAssert.Contains(choice.Reason, "faster than managed");
    }
}
