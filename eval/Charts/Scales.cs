using System.Globalization;

namespace Eval.Charts;

public enum AxisKind { Linear, Log }

/// <summary>A tick on an axis: where it is, and what it says.</summary>
public readonly record struct Tick(double Value, string Label);

/// <summary>Maps data values on one axis to pixels, and chooses that axis's ticks.</summary>
public abstract class Scale
{
    protected Scale(double min, double max, double pixelStart, double pixelEnd)
    {
        Min = min;
        Max = max;
        PixelStart = pixelStart;
        PixelEnd = pixelEnd;
    }

    public double Min { get; }
    public double Max { get; }
    public double PixelStart { get; }
    public double PixelEnd { get; }

    public abstract double Map(double value);
    public abstract IReadOnlyList<Tick> Ticks();

    /// <summary>A scale over the data with some room; a log axis refuses values ≤ 0 with a message naming the axis.</summary>
    public static Scale For(AxisKind kind, IEnumerable<double> values, double pixelStart, double pixelEnd, string axisName,
        double? fixedMin = null, double? fixedMax = null, IReadOnlyList<double>? tickValues = null)
    {
        var finite = values.Where(double.IsFinite).ToList();
        if (kind == AxisKind.Log)
        {
            var bad = finite.FirstOrDefault(v => v <= 0, double.NaN);
            if (!double.IsNaN(bad)) throw new ArgumentException($"the {axisName} axis is logarithmic but holds the value {bad.ToString(CultureInfo.InvariantCulture)} (≤ 0)");
            double lo = fixedMin ?? (finite.Count > 0 ? finite.Min() : 1), hi = fixedMax ?? (finite.Count > 0 ? finite.Max() : 10);
            if (hi <= lo) (lo, hi) = (lo / 2, hi * 2);
            // Pad by 8% of the range in log space.
            double pad = (Math.Log10(hi) - Math.Log10(lo)) * 0.08;
            if (fixedMin is null) lo = Math.Pow(10, Math.Log10(lo) - pad);
            if (fixedMax is null) hi = Math.Pow(10, Math.Log10(hi) + pad);
            return new LogScale(lo, hi, pixelStart, pixelEnd, tickValues);
        }
        double min = fixedMin ?? (finite.Count > 0 ? finite.Min() : 0), max = fixedMax ?? (finite.Count > 0 ? finite.Max() : 1);
        if (max <= min)
        {
            double half = Math.Abs(min) > 0 ? Math.Abs(min) * 0.1 : 0.5;
            if (fixedMin is null) min -= half;
            if (fixedMax is null) max += half;
        }
        else
        {
            double pad = (max - min) * 0.05;
            if (fixedMin is null) min -= pad;
            if (fixedMax is null) max += pad;
        }
        // Padding never takes an axis of non-negative data (accuracies, latencies) below zero.
        if (fixedMin is null && min < 0 && finite.Count > 0 && finite.Min() >= 0) min = 0;
        var step = LinearScale.NiceStep(min, max, 6);
        if (fixedMin is null) min = Math.Floor(min / step) * step;
        if (fixedMax is null) max = Math.Ceiling(max / step) * step;
        return new LinearScale(min, max, pixelStart, pixelEnd, tickValues);
    }
}

public sealed class LinearScale(double min, double max, double pixelStart, double pixelEnd, IReadOnlyList<double>? tickValues = null)
    : Scale(min, max, pixelStart, pixelEnd)
{
    public override double Map(double value) => PixelStart + (value - Min) / (Max - Min) * (PixelEnd - PixelStart);

    public override IReadOnlyList<Tick> Ticks()
    {
        if (tickValues is not null) return tickValues.Where(v => v >= Min && v <= Max).Select(v => new Tick(v, Format.Number(v))).ToList();
        double step = NiceStep(Min, Max, 6);
        var ticks = new List<Tick>();
        for (double v = Math.Ceiling(Min / step - 1e-9) * step; v <= Max + step * 1e-9; v += step)
        {
            double rounded = Math.Round(v / step) * step;
            ticks.Add(new Tick(rounded, Format.Number(Math.Abs(rounded) < step * 1e-9 ? 0 : rounded)));
        }
        return ticks;
    }

    /// <summary>Heckbert's nice numbers: a step of 1, 2 or 5 × 10^k giving about <paramref name="count"/> ticks.</summary>
    public static double NiceStep(double min, double max, int count)
    {
        double range = max - min;
        if (!(range > 0)) return 1;
        double rough = range / Math.Max(1, count - 1);
        double exponent = Math.Floor(Math.Log10(rough));
        double fraction = rough / Math.Pow(10, exponent);
        double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
        return nice * Math.Pow(10, exponent);
    }
}

public sealed class LogScale(double min, double max, double pixelStart, double pixelEnd, IReadOnlyList<double>? tickValues = null)
    : Scale(min, max, pixelStart, pixelEnd)
{
    public override double Map(double value) =>
        PixelStart + (Math.Log10(value) - Math.Log10(Min)) / (Math.Log10(Max) - Math.Log10(Min)) * (PixelEnd - PixelStart);

    /// <summary>
    /// Powers of ten; 2× and 5× between them when the axis spans fewer than three decades; every multiple when that still
    /// gives fewer than three ticks; evenly spaced nice values within a single decade.
    /// </summary>
    public override IReadOnlyList<Tick> Ticks()
    {
        if (tickValues is not null) return tickValues.Where(v => v >= Min && v <= Max).Select(v => new Tick(v, Format.Number(v))).ToList();
        // Within one decade, evenly spaced nice values read better than powers of ten.
        if (Math.Log10(Max / Min) < 1)
        {
            double step = LinearScale.NiceStep(Min, Max, 8);
            return Enumerable.Range((int)Math.Ceiling(Min / step - 1e-9), (int)(Math.Floor(Max / step + 1e-9) - Math.Ceiling(Min / step - 1e-9)) + 1)
                .Select(i => Math.Round(i * step, 12)).Where(v => v > 0).Select(v => new Tick(v, Format.Number(v))).ToList();
        }
        int first = (int)Math.Floor(Math.Log10(Min)), last = (int)Math.Ceiling(Math.Log10(Max));
        double[][] choices = Math.Log10(Max / Min) <= 3 ? [[1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]] : [[1], [1, 2, 5]];
        var ticks = new List<Tick>();
        foreach (var multiples in choices)
        {
            ticks.Clear();
            for (int k = first; k <= last; k++)
                foreach (var m in multiples)
                {
                    double v = m * Math.Pow(10, k);
                    if (v >= Min * (1 - 1e-9) && v <= Max * (1 + 1e-9)) ticks.Add(new Tick(v, Format.Number(v)));
                }
            if (ticks.Count >= 3) break;
        }
        return ticks;
    }
}

/// <summary>Invariant number formatting for labels and SVG coordinates.</summary>
public static class Format
{
    /// <summary>A label: 0.25, 12, 1.5k, 135M, 1.2B.</summary>
    public static string Number(double v)
    {
        double a = Math.Abs(v);
        if (a >= 1e12) return Scaled(v / 1e12, "T");
        if (a >= 1e9) return Scaled(v / 1e9, "B");
        if (a >= 1e6) return Scaled(v / 1e6, "M");
        if (a >= 1e3) return Scaled(v / 1e3, "k");
        return v.ToString(a >= 100 ? "0" : a >= 1 || a == 0 ? "0.##" : "0.###", CultureInfo.InvariantCulture);
    }

    private static string Scaled(double v, string suffix) => v.ToString("0.##", CultureInfo.InvariantCulture) + suffix;

    /// <summary>A coordinate, to 0.01 px.</summary>
    public static string Px(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);
}
