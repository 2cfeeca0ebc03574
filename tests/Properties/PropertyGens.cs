using CsCheck;

namespace Eval.Tests.Properties;

/// <summary>Generators shared by the property tests: Unicode text built from whole code points.</summary>
public static class PropertyGens
{
    /// <summary>
    /// One code point as a string, from the classes that trip text handling: ASCII, Latin-1, CJK, emoji (a surrogate
    /// pair in UTF-16), combining marks, the whitespace classes (incl. U+00A0, U+3000, U+FEFF, U+2028, U+0085) and
    /// C0/C1 controls. Whole code points only: a lone surrogate is not text any UTF-8 format can hold.
    /// </summary>
    public static readonly Gen<string> CodePoint = Gen.OneOf(
        Gen.Int[0x20, 0x7E], Gen.Int[0x20, 0x7E], Gen.Int[0x20, 0x7E],
        Gen.Int[0xA0, 0xFF],
        Gen.Int[0x4E00, 0x9FFF],
        Gen.Int[0x1F300, 0x1FAFF],
        Gen.Int[0x0300, 0x036F],
        Gen.OneOf(new[] { 0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C, 0x85, 0xA0, 0x1680, 0x2000, 0x2007, 0x200A, 0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF }),
        Gen.Int[0x00, 0x1F], Gen.Int[0x7F, 0x9F])
        .Select(char.ConvertFromUtf32);

    /// <summary>Text of 0 to <paramref name="maxCodePoints"/> code points.</summary>
    public static Gen<string> Text(int maxCodePoints) => CodePoint.Array[0, maxCodePoints].Select(string.Concat);

    /// <summary>Text that also mixes in Jinja and template syntax: braces, "{{", "{%", "|||", quotes, newlines.</summary>
    public static Gen<string> TemplateHostileText(int maxPieces) => Gen.OneOf(
            CodePoint, CodePoint, CodePoint,
            Gen.OneOf(new[] { "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "|||", "||", "\"", "'", "\n", "\\", "{{ premise }}", "{% if %}", "{{ mask }}" }))
        .Array[0, maxPieces].Select(string.Concat);
}
