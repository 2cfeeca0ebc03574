using System.Security;
using System.Text;

namespace Eval.Charts;

/// <summary>
/// Writes SVG elements with invariant, rounded coordinates, so the same chart always gives the same bytes.
/// Every mark carries a class (bar, error-bar, point, line, box, legend-item, tick …) that tests and style sheets can find.
/// </summary>
public sealed class SvgCanvas
{
    public const string FontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif";
    private readonly StringBuilder body = new();

    public SvgCanvas(double width, double height, string title)
    {
        Width = width;
        Height = height;
        Title = title;
    }

    public double Width { get; }
    public double Height { get; }
    public string Title { get; }

    public static string Escape(string text) => SecurityElement.Escape(text) ?? "";

    public void Rect(double x, double y, double width, double height, string cssClass, string fill, string? stroke = null, string? tooltip = null)
    {
        body.Append($"<rect class=\"{cssClass}\" x=\"{Format.Px(x)}\" y=\"{Format.Px(y)}\" width=\"{Format.Px(Math.Max(0, width))}\" height=\"{Format.Px(Math.Max(0, height))}\" fill=\"{fill}\"");
        if (stroke is not null) body.Append($" stroke=\"{stroke}\"");
        Close(tooltip, "rect");
    }

    public void Line(double x1, double y1, double x2, double y2, string cssClass, string stroke, double width = 1, string? dash = null)
    {
        body.Append($"<line class=\"{cssClass}\" x1=\"{Format.Px(x1)}\" y1=\"{Format.Px(y1)}\" x2=\"{Format.Px(x2)}\" y2=\"{Format.Px(y2)}\" stroke=\"{stroke}\" stroke-width=\"{Format.Px(width)}\"");
        if (dash is not null) body.Append($" stroke-dasharray=\"{dash}\"");
        body.Append("/>\n");
    }

    public void Polyline(IReadOnlyList<(double X, double Y)> points, string cssClass, string stroke, double width = 2, string? dash = null, string? tooltip = null)
    {
        body.Append($"<polyline class=\"{cssClass}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{Format.Px(width)}\" stroke-linejoin=\"round\" points=\"");
        body.AppendJoin(' ', points.Select(p => $"{Format.Px(p.X)},{Format.Px(p.Y)}"));
        body.Append('"');
        if (dash is not null) body.Append($" stroke-dasharray=\"{dash}\"");
        Close(tooltip, "polyline");
    }

    /// <summary>A marker: circle, square, triangle or diamond, so series differ by shape as well as colour.</summary>
    public void Marker(double x, double y, int shape, string cssClass, string fill, double size = 4.5, string? tooltip = null)
    {
        string xs = Format.Px(x), ys = Format.Px(y);
        switch (shape % 4)
        {
            case 0:
                body.Append($"<circle class=\"{cssClass}\" cx=\"{xs}\" cy=\"{ys}\" r=\"{Format.Px(size)}\" fill=\"{fill}\" stroke=\"white\" stroke-width=\"0.8\"");
                break;
            case 1:
                body.Append($"<rect class=\"{cssClass}\" x=\"{Format.Px(x - size * 0.9)}\" y=\"{Format.Px(y - size * 0.9)}\" width=\"{Format.Px(size * 1.8)}\" height=\"{Format.Px(size * 1.8)}\" fill=\"{fill}\" stroke=\"white\" stroke-width=\"0.8\"");
                break;
            case 2:
                body.Append($"<polygon class=\"{cssClass}\" points=\"{Format.Px(x)},{Format.Px(y - size * 1.2)} {Format.Px(x + size * 1.1)},{Format.Px(y + size * 0.8)} {Format.Px(x - size * 1.1)},{Format.Px(y + size * 0.8)}\" fill=\"{fill}\" stroke=\"white\" stroke-width=\"0.8\"");
                break;
            default:
                body.Append($"<polygon class=\"{cssClass}\" points=\"{Format.Px(x)},{Format.Px(y - size * 1.3)} {Format.Px(x + size * 1.1)},{Format.Px(y)} {Format.Px(x)},{Format.Px(y + size * 1.3)} {Format.Px(x - size * 1.1)},{Format.Px(y)}\" fill=\"{fill}\" stroke=\"white\" stroke-width=\"0.8\"");
                break;
        }
        Close(tooltip, shape % 4 == 0 ? "circle" : shape % 4 == 1 ? "rect" : "polygon");
    }

    /// <summary>Text; with a halo, a white outline keeps it readable over bars and lines.</summary>
    public void Text(double x, double y, string text, string cssClass, double size = 12, string anchor = "middle", string weight = "normal",
        double rotate = 0, string fill = "#222", bool halo = false)
    {
        body.Append($"<text class=\"{cssClass}\" x=\"{Format.Px(x)}\" y=\"{Format.Px(y)}\" font-size=\"{Format.Px(size)}\" text-anchor=\"{anchor}\" fill=\"{fill}\"");
        if (halo) body.Append(" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\"");
        if (weight != "normal") body.Append($" font-weight=\"{weight}\"");
        if (rotate != 0) body.Append($" transform=\"rotate({Format.Px(rotate)} {Format.Px(x)} {Format.Px(y)})\"");
        body.Append('>').Append(Escape(text)).Append("</text>\n");
    }

    /// <summary>A vertical whisker from low to high with caps, for a confidence interval.</summary>
    public void ErrorBar(double x, double yLow, double yHigh, double capHalfWidth, string stroke)
    {
        body.Append($"<g class=\"error-bar\" stroke=\"{stroke}\" stroke-width=\"1.3\">");
        body.Append($"<line x1=\"{Format.Px(x)}\" y1=\"{Format.Px(yLow)}\" x2=\"{Format.Px(x)}\" y2=\"{Format.Px(yHigh)}\"/>");
        body.Append($"<line x1=\"{Format.Px(x - capHalfWidth)}\" y1=\"{Format.Px(yLow)}\" x2=\"{Format.Px(x + capHalfWidth)}\" y2=\"{Format.Px(yLow)}\"/>");
        body.Append($"<line x1=\"{Format.Px(x - capHalfWidth)}\" y1=\"{Format.Px(yHigh)}\" x2=\"{Format.Px(x + capHalfWidth)}\" y2=\"{Format.Px(yHigh)}\"/>");
        body.Append("</g>\n");
    }

    public void BeginGroup(string cssClass) => body.Append($"<g class=\"{cssClass}\">\n");
    public void EndGroup() => body.Append("</g>\n");

    private void Close(string? tooltip, string element)
    {
        if (tooltip is null) body.Append("/>\n");
        else body.Append("><title>").Append(Escape(tooltip)).Append("</title></").Append(element).Append(">\n");
    }

    /// <summary>The whole document: fixed size, a viewBox so it scales, a title for screen readers.</summary>
    public string ToSvg() =>
        $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{Format.Px(Width)}\" height=\"{Format.Px(Height)}\" viewBox=\"0 0 {Format.Px(Width)} {Format.Px(Height)}\" role=\"img\" font-family=\"{FontFamily}\">\n" +
        $"<title>{Escape(Title)}</title>\n<rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n";
}

/// <summary>Okabe and Ito's colour-blind-safe palette (black last), with a dash pattern per series for lines.</summary>
public static class Palette
{
    private static readonly string[] Colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
    private static readonly string?[] Dashes = [null, "6 3", "2 3", "8 3 2 3"];

    public static string Colour(int series) => Colours[series % Colours.Length];
    public static string? Dash(int series) => Dashes[series / Colours.Length % Dashes.Length];
}
