using System.Runtime.CompilerServices;
namespace Ttt.Models.Fused;

/// <summary>
/// Row-wise pieces of the dual form on one token row of a head (d features, stored padded to dp, a multiple of
/// the register width, with zeros in the padding): the per-head LayerNorm, the inner gradient LNL2Grad and their
/// backward rules, and the GELU pieces of TTT-MLP. Every routine that can produce a non-zero in the padding
/// (anything subtracting a row mean) multiplies by <c>mask</c> (1 on the d real lanes, 0 on the padding) so the
/// padding stays zero and never leaks into the products.
/// </summary>
internal static unsafe class RowOps<T, TV, S> where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
{
    /// <summary>
    /// Inner gradient of one row (spec §1.5): z += bias (in place), μ, s = √(σ² + eps), x̂ = (z − μ)/s,
    /// ĝ = γ⊙(γ⊙x̂ + β − t), G = (ĝ − mean ĝ − x̂·mean(ĝ⊙x̂))/s. Stores x̂ and G, returns s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double LnL2Grad(T* z, T* bias, T* gamma, T* beta, T* target, T* mask, int dp, int d, T* xhat, T* g)
    {
        int w = S.Count;
        TV acc = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV v = S.Add(S.Load(z + i), S.Load(bias + i));
            S.Store(z + i, v);
            acc = S.Add(acc, v);
        }
        double mu = S.Sum(acc) / d;
        TV vmu = S.Splat(mu);
        acc = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV c = S.Mul(S.Sub(S.Load(z + i), vmu), S.Load(mask + i));
            S.Store(xhat + i, c);
            acc = S.Fma(c, c, acc);
        }
        double s = Math.Sqrt(S.Sum(acc) / d + TttMath.LnEps);
        TV inv = S.Splat(1 / s);
        TV sg = S.Zero, sgx = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV xh = S.Mul(S.Load(xhat + i), inv);
            S.Store(xhat + i, xh);
            TV ga = S.Load(gamma + i);
            TV gh = S.Mul(ga, S.Sub(S.Fma(ga, xh, S.Load(beta + i)), S.Load(target + i)));
            S.Store(g + i, gh);
            sg = S.Add(sg, gh);
            sgx = S.Fma(gh, xh, sgx);
        }
        TV c1 = S.Splat(S.Sum(sg) / d), c2 = S.Splat(S.Sum(sgx) / d);
        for (int i = 0; i < dp; i += w)
        {
            TV gh = S.Load(g + i), xh = S.Load(xhat + i);
            S.Store(g + i, S.Mul(S.Mul(S.Sub(S.Sub(gh, c1), S.Mul(xh, c2)), inv), S.Load(mask + i)));
        }
        return s;
    }

    /// <summary>
    /// Output of one row: zb += bias (in place), x̂ = LN(zb), out = q + γ⊙x̂ + β. Stores x̂ and out, returns s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double LayerNormOut(T* zb, T* bias, T* gamma, T* beta, T* q, T* mask, int dp, int d, T* xhat, T* output)
    {
        int w = S.Count;
        TV acc = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV v = S.Add(S.Load(zb + i), S.Load(bias + i));
            S.Store(zb + i, v);
            acc = S.Add(acc, v);
        }
        TV vmu = S.Splat(S.Sum(acc) / d);
        acc = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV c = S.Mul(S.Sub(S.Load(zb + i), vmu), S.Load(mask + i));
            S.Store(xhat + i, c);
            acc = S.Fma(c, c, acc);
        }
        double s = Math.Sqrt(S.Sum(acc) / d + TttMath.LnEps);
        TV inv = S.Splat(1 / s);
        for (int i = 0; i < dp; i += w)
        {
            TV xh = S.Mul(S.Load(xhat + i), inv);
            S.Store(xhat + i, xh);
            S.Store(output + i, S.Add(S.Load(q + i), S.Fma(S.Load(gamma + i), xh, S.Load(beta + i))));
        }
        return s;
    }

    /// <summary>
    /// Backward of out = q + γ⊙x̂ + β, x̂ = LN(zb), for the upstream gradient dOut:
    /// dzb = (gy − mean gy − x̂·mean(gy⊙x̂))/s with gy = γ⊙dOut; dγ += dOut⊙x̂; dβ += dOut.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayerNormBackward(T* dout, T* xhat, double s, T* gamma, T* mask, int dp, int d, T* dzb, T* dgamma, T* dbeta)
    {
        int w = S.Count;
        TV sg = S.Zero, sgx = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV go = S.Load(dout + i), xh = S.Load(xhat + i);
            TV gy = S.Mul(go, S.Load(gamma + i));
            S.Store(dgamma + i, S.Fma(go, xh, S.Load(dgamma + i)));
            S.Store(dbeta + i, S.Add(S.Load(dbeta + i), go));
            sg = S.Add(sg, gy);
            sgx = S.Fma(gy, xh, sgx);
        }
        TV m1 = S.Splat(S.Sum(sg) / d), m2 = S.Splat(S.Sum(sgx) / d), inv = S.Splat(1 / s);
        for (int i = 0; i < dp; i += w)
        {
            TV gy = S.Mul(S.Load(dout + i), S.Load(gamma + i));
            TV r = S.Sub(S.Sub(gy, m1), S.Mul(S.Load(xhat + i), m2));
            S.Store(dzb + i, S.Mul(S.Mul(r, inv), S.Load(mask + i)));
        }
    }

    /// <summary>
    /// Backward of the inner gradient G = LNL2Grad(z, t) of one row for the upstream gradient u = ∂L/∂G: the
    /// second-order terms of LayerNorm. With ĝ = γ⊙r, r = γ⊙x̂ + β − t, c₂ = mean(ĝ⊙x̂), G = (ĝ − mean ĝ − x̂c₂)/s:
    /// <code>
    /// dĝ  = (u − mean u − x̂·mean(u⊙x̂))/s            (the map ĝ ↦ G is symmetric)
    /// dx̂  = γ²⊙dĝ − (c₂·u + ĝ·mean(u⊙x̂))/s            (through ĝ, then x̂'s explicit uses in G)
    /// ds  = −(u·G)/s                                   (G's explicit 1/s)
    /// dγ += dĝ⊙(r + γ⊙x̂);  dβ += γ⊙dĝ;  dt = −γ⊙dĝ
    /// dz  = (dx̂ − mean dx̂ − x̂·mean(dx̂⊙x̂))/s + ds·x̂/d   (LN backward, plus s's own dependence ∂s/∂z = x̂/d)
    /// </code>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LnL2GradBackward(T* u, T* xhat, double s, T* g, T* target, T* gamma, T* beta, T* mask, int dp, int d,
        T* dz, T* dt, T* dgamma, T* dbeta)
    {
        int w = S.Count;
        TV su = S.Zero, sux = S.Zero, sghx = S.Zero, sug = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV uu = S.Load(u + i), xh = S.Load(xhat + i), ga = S.Load(gamma + i);
            TV gh = S.Mul(ga, S.Sub(S.Fma(ga, xh, S.Load(beta + i)), S.Load(target + i)));
            su = S.Add(su, uu);
            sux = S.Fma(uu, xh, sux);
            sghx = S.Fma(gh, xh, sghx);
            sug = S.Fma(uu, S.Load(g + i), sug);
        }
        double inv = 1 / s;
        TV mu = S.Splat(S.Sum(su) / d), mux = S.Splat(S.Sum(sux) / d), c2 = S.Splat(S.Sum(sghx) / d), vinv = S.Splat(inv);
        double ds = -S.Sum(sug) * inv;
        // First pass: dĝ → dγ, dβ, dt; dx̂ into dz (temporarily).
        TV sdx = S.Zero, sdxx = S.Zero;
        for (int i = 0; i < dp; i += w)
        {
            TV uu = S.Load(u + i), xh = S.Load(xhat + i), ga = S.Load(gamma + i), m = S.Load(mask + i);
            TV r = S.Sub(S.Fma(ga, xh, S.Load(beta + i)), S.Load(target + i));
            TV gh = S.Mul(ga, r);
            TV dgh = S.Mul(S.Mul(S.Sub(S.Sub(uu, mu), S.Mul(xh, mux)), vinv), m);
            S.Store(dgamma + i, S.Fma(dgh, S.Fma(ga, xh, r), S.Load(dgamma + i)));
            S.Store(dbeta + i, S.Fma(ga, dgh, S.Load(dbeta + i)));
            S.Store(dt + i, S.Sub(S.Zero, S.Mul(ga, dgh)));
            TV dxh = S.Sub(S.Mul(S.Mul(ga, ga), dgh), S.Mul(S.Fma(c2, uu, S.Mul(gh, mux)), vinv));
            S.Store(dz + i, dxh);
            sdx = S.Add(sdx, dxh);
            sdxx = S.Fma(dxh, xh, sdxx);
        }
        TV m1 = S.Splat(S.Sum(sdx) / d), m2 = S.Splat(S.Sum(sdxx) / d), vds = S.Splat(ds / d);
        for (int i = 0; i < dp; i += w)
        {
            TV xh = S.Load(xhat + i);
            TV r = S.Mul(S.Sub(S.Sub(S.Load(dz + i), m1), S.Mul(xh, m2)), vinv);
            S.Store(dz + i, S.Mul(S.Fma(vds, xh, r), S.Load(mask + i)));
        }
    }

    // ------------------------------------------------------------------ GELU (TTT-MLP)

    /// <summary>√(2/π) in full precision (forward GELUs and their autograd derivative).</summary>
    public const double SqrtTwoOverPi = 0.7978845608028654;
    /// <summary>The official truncated constants of the hand-written G1 derivative (spec §1.4).</summary>
    public const double OfficialC1 = 0.79788456, OfficialC2 = 0.1070322243;
    private const double Kc = 0.044715;

    /// <summary>z += bias (in place), x = gelu(z) = ½z(1 + tanh(√(2/π)(z + 0.044715z³))).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BiasGelu(T* z, T* bias, T* x, int n)
    {
        int w = S.Count;
        TV half = S.Splat(0.5), one = S.Splat(1.0), c = S.Splat(SqrtTwoOverPi), k = S.Splat(Kc);
        for (int i = 0; i < n; i += w)
        {
            TV v = S.Add(S.Load(z + i), S.Load(bias + i));
            S.Store(z + i, v);
            TV t = S.Tanh(S.Mul(c, S.Fma(S.Mul(k, v), S.Mul(v, v), v)));
            S.Store(x + i, S.Mul(S.Mul(half, v), S.Add(one, t)));
        }
    }

    /// <summary>
    /// gelu'(z) with constants (c₁, c₂): ½(1 + t) + ½z(1 − t²)(c₁ + c₂z²), t = tanh(c₁z(1 + 0.044715z²)).
    /// Exact: c₁ = √(2/π), c₂ = 3·0.044715·c₁; official: (0.79788456, 0.1070322243).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV GeluPrime(TV v, TV c1, TV c2, out TV t, out TV omt2)
    {
        TV half = S.Splat(0.5), one = S.Splat(1.0), k = S.Splat(Kc);
        TV v2 = S.Mul(v, v);
        t = S.Tanh(S.Mul(S.Mul(c1, v), S.Fma(k, v2, one)));
        omt2 = S.Sub(one, S.Mul(t, t));
        return S.Fma(half, S.Add(one, t), S.Mul(S.Mul(S.Mul(half, v), omt2), S.Fma(c2, v2, c1)));
    }

    /// <summary>out = a ⊙ gelu'(z) with the exact constants (the derivative autograd uses for a forward GELU).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MulGeluPrimeExact(T* a, T* z, T* output, int n)
    {
        int w = S.Count;
        TV c1 = S.Splat(SqrtTwoOverPi), c2 = S.Splat(3 * Kc * SqrtTwoOverPi);
        for (int i = 0; i < n; i += w)
            S.Store(output + i, S.Mul(S.Load(a + i), GeluPrime(S.Load(z + i), c1, c2, out _, out _)));
    }

    /// <summary>G1 = Gp ⊙ gelu'(Z1) with the official or the exact constants (TTT-MLP's inner gradient).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InnerG1(T* gp, T* z, T* g1, int n, bool exact)
    {
        int w = S.Count;
        TV c1 = S.Splat(exact ? SqrtTwoOverPi : OfficialC1), c2 = S.Splat(exact ? 3 * Kc * SqrtTwoOverPi : OfficialC2);
        for (int i = 0; i < n; i += w)
            S.Store(g1 + i, S.Mul(S.Load(gp + i), GeluPrime(S.Load(z + i), c1, c2, out _, out _)));
    }

    /// <summary>out += a ⊙ gelu'(z) with the exact constants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddMulGeluPrimeExact(T* a, T* z, T* output, int n)
    {
        int w = S.Count;
        TV c1 = S.Splat(SqrtTwoOverPi), c2 = S.Splat(3 * Kc * SqrtTwoOverPi);
        for (int i = 0; i < n; i += w)
            S.Store(output + i, S.Fma(S.Load(a + i), GeluPrime(S.Load(z + i), c1, c2, out _, out _), S.Load(output + i)));
    }

    /// <summary>
    /// Backward of G1 = Gp ⊙ gelu'(Z1) for upstream dG1: dGp = dG1 ⊙ gelu'(Z1) and (set) dZ1 = dG1 ⊙ Gp ⊙ gelu''(Z1),
    /// where for constants (c₁, c₂) gelu''(z) = (1 − t²)[½(c₁ + c₂z²) + c₂z² + ½u′ − z·t·u′(c₁ + c₂z²)],
    /// u′ = c₁(1 + 3·0.044715z²) — the derivative of the formula of gelu' above (with the official constants c₂ is
    /// not exactly 3·0.044715·c₁, so u′ and c₁ + c₂z² differ slightly).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InnerG1Backward(T* dg1, T* gp, T* z, T* dgp, T* dz, int n, bool exact)
    {
        int w = S.Count;
        TV c1 = S.Splat(exact ? SqrtTwoOverPi : OfficialC1), c2 = S.Splat(exact ? 3 * Kc * SqrtTwoOverPi : OfficialC2);
        TV half = S.Splat(0.5), one = S.Splat(1.0), k3 = S.Splat(3 * Kc);
        for (int i = 0; i < n; i += w)
        {
            TV v = S.Load(z + i), dg = S.Load(dg1 + i);
            TV gpr = GeluPrime(v, c1, c2, out TV t, out TV omt2);
            S.Store(dgp + i, S.Mul(dg, gpr));
            TV v2 = S.Mul(v, v);
            TV poly = S.Fma(c2, v2, c1);                           // c₁ + c₂z²
            TV up = S.Mul(c1, S.Fma(k3, v2, one));                 // u′
            TV br = S.Add(S.Fma(half, poly, S.Mul(c2, v2)), S.Mul(half, up));
            br = S.Sub(br, S.Mul(S.Mul(S.Mul(v, t), up), poly));
            S.Store(dz + i, S.Mul(S.Mul(dg, S.Load(gp + i)), S.Mul(omt2, br)));
        }
    }
}
