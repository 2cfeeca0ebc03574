using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>A pre-tokenizer's pieces of one text as strings, for comparing with the Rust library's.</summary>
public static class PreTokenizerPieces
{
    public static string[] Of(IPreTokenizer preTokenizer, string text, int sectionIndex = 0)
    {
        var list = new PieceList();
        preTokenizer.Split(text, sectionIndex, list);
        return Enumerable.Range(0, list.Count).Select(i => list[i].ToString()).ToArray();
    }
}
