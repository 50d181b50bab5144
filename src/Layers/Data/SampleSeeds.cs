namespace Ttt.Data;

/// <summary>
/// Derives the seed of each sample's own <see cref="Generator"/> from (task seed, split, sample index). For a fixed
/// task seed the map is injective: (index, split) packs into one word as 2·index + split, which is then passed
/// through bijections (xor with a seed-dependent word, then the SplitMix64 finalizer). Distinct samples therefore
/// get distinct generator seeds, and in particular no train sample shares a generator with an eval sample.
/// Counter-based derivation also makes the sample index the whole stream position (resume = set the counter).
/// </summary>
internal static class SampleSeeds
{
    /// <summary>The generator seed of sample <paramref name="index"/> (0 ≤ index &lt; 2⁶³) of a split.</summary>
    public static ulong For(ulong seed, DataSplit split, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ulong packed = ((ulong)index << 1) | (split == DataSplit.Eval ? 1UL : 0UL);
        return Finalizer(packed ^ Finalizer(seed + 0x9E3779B97F4A7C15UL));
    }

    /// <summary>A generator positioned at the start of sample <paramref name="index"/>.</summary>
    public static Generator GeneratorFor(ulong seed, DataSplit split, long index) => new(For(seed, split, index));

    /// <summary>The SplitMix64 output function: a bijection on 64-bit words with good avalanche.</summary>
    private static ulong Finalizer(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
