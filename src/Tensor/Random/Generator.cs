namespace Ttt;

/// <summary>
/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64). The same seed yields the same
/// numbers on every machine: uniform values come from integer arithmetic, and normal values from the Marsaglia
/// polar method using only IEEE-exact operations and a logarithm computed in software
/// (<see cref="DeterministicMath.Log"/>), never the platform's libm.
/// </summary>
public sealed class Generator
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>Creates a generator from a seed.</summary>
    public Generator(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The seed this generator started from.</summary>
    public ulong Seed { get; }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = Rotl(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = Rotl(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n) without modulo bias.</summary>
    public long NextInt64(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ulong un = (ulong)n;
        ulong limit = ulong.MaxValue - (ulong.MaxValue % un);
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (long)(r % un);
    }

    /// <summary>Standard normal sample (mean 0, variance 1).</summary>
    public double NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = Math.Sqrt(-2 * DeterministicMath.Log(s) / s);
        _spareNormal = v * f;
        _hasSpare = true;
        return u * f;
    }

    /// <summary>A Gamma(shape, 1) sample (Marsaglia–Tsang), used for Dirichlet draws.</summary>
    public double NextGamma(double shape)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shape);
        if (shape < 1)
        {
            // Boost: Gamma(a) = Gamma(a+1) · U^(1/a)
            double g = NextGamma(shape + 1);
            double uu;
            do uu = NextDouble(); while (uu == 0);
            return g * DeterministicMath.Exp(DeterministicMath.Log(uu) / shape);
        }
        double d = shape - 1.0 / 3.0, c = 1.0 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = NextNormal();
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (u > 0 && DeterministicMath.Log(u) < 0.5 * x * x + d * (1 - v + DeterministicMath.Log(v))) return d * v;
        }
    }

    /// <summary>The full internal state (for checkpoints); restore with <see cref="SetState"/>.</summary>
    public ulong[] GetState() => [_s0, _s1, _s2, _s3, BitConverter.DoubleToUInt64Bits(_spareNormal), _hasSpare ? 1UL : 0UL, Seed];

    /// <summary>Restores a state produced by <see cref="GetState"/>.</summary>
    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length < 6) throw new ArgumentException($"generator state needs at least 6 words, got {state.Length}", nameof(state));
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareNormal = BitConverter.UInt64BitsToDouble(state[4]);
        _hasSpare = state[5] != 0;
    }

    /// <summary>An independent generator derived from this one's next output (for splitting streams).</summary>
    public Generator Fork() => new(NextUInt64());
}

/// <summary>
/// Elementary functions computed with IEEE-exact arithmetic only, so results are bit-identical on every machine
/// (the platform's Math.Log/Math.Exp may differ in the last bit between C libraries).
/// </summary>
public static class DeterministicMath
{
    private const double Ln2 = 0.6931471805599453094;

    /// <summary>Natural logarithm of a positive finite x (relative error about 1e-16).</summary>
    public static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x)) return x == 0 ? double.NegativeInfinity : double.NaN;
        // x = m · 2^e with m in [1/√2, √2)
        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)((bits >> 52) & 0x7FF);
        if (e == 0)
        {
            // subnormal: scale up
            return Log(x * 4503599627370496.0) - 52 * Ln2;
        }
        e -= 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L);
        if (m > 1.4142135623730951)
        {
            m *= 0.5;
            e += 1;
        }
        // ln m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.1716: the series converges fast.
        double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
        for (int k = 1; k <= 39; k += 2)
        {
            sum += term / k;
            term *= s2;
        }
        return 2 * sum + e * Ln2;
    }

    /// <summary>eˣ (relative error about 1e-16 for |x| ≤ 700).</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x > 709.7) return double.PositiveInfinity;
        if (x < -745) return 0;
        // x = k·ln2 + r, |r| ≤ ln2/2; eʳ by Taylor series, then scale by 2^k. ln 2 is split into a high part with
        // trailing zero bits (so k·Ln2Hi is exact) and a low correction (Cody–Waite reduction, as in fdlibm).
        const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
        double kf = Math.Round(x / Ln2);
        int k = (int)kf;
        double r = (x - kf * Ln2Hi) - kf * Ln2Lo;
        double term = 1, sum = 1;
        for (int i = 1; i <= 20; i++)
        {
            term *= r / i;
            sum += term;
        }
        return Math.ScaleB(sum, k);
    }
}
