using System.Runtime.CompilerServices;
namespace Ttt.Models.Fused;

/// <summary>
/// Fused TTT-MLP (spec §1.8) for one thread. State: W1 [d, h], b1 [h], W2 [h, d], b2 [d], h = 4d (padded to hp).
/// Per mini-batch of k tokens (X, Q, t = V − X [k, d]; E, e as for TTT-Linear; gelu' = the official truncated
/// derivative unless <see cref="MlpInner.ExactGeluDerivative"/>):
/// <code>
/// Z1 = X·W1 + b1;  X2 = gelu(Z1);  Z2 = X2·W2 + b2;  G2 = LNL2Grad(Z2, t)
/// Gp = G2·W2ᵀ;  G1 = Gp ⊙ gelu'(Z1)
/// P1 = tril(E ⊙ (Q·Xᵀ + 1));   Z1b = Q·W1 + b1 − P1·G1;   X2b = gelu(Z1b)
/// P2 = tril(E ⊙ (X2b·X2ᵀ + 1)); Z2b = X2b·W2 + b2 − P2·G2;  Out = Q + LN(Z2b)
/// W1 −= Xᵀ·diag(e)·G1;  b1 −= eᵀG1;  W2 −= X2ᵀ·diag(e)·G2;  b2 −= eᵀG2
/// </code>
/// Backward with the carry (dW1, db1, dW2, db2) of the mini-batch's final state:
/// <code>
/// dZ2b = LN_bwd(dOut);  dX2b = dZ2b·W2ᵀ + dA2·X2;  dP2 = −tril(dZ2b·G2ᵀ) → dτ, dlr, dA2 = dP2 ⊙ E
/// dZ1b = dX2b ⊙ gelu'_exact(Z1b);  dQ = dOut + dZ1b·W1ᵀ + dA1·X;  dP1 = −tril(dZ1b·G1ᵀ) → dτ, dlr, dA1
/// Y1 = X·dW1 + db1;  Y2 = X2·dW2 + db2;  de_j = −(G1_j·Y1_j + G2_j·Y2_j)
/// dG1 = −Pᵀ1·dZ1b − diag(e)·Y1;   dG2 = −Pᵀ2·dZ2b − diag(e)·Y2 + dGp·W2,  dGp = dG1 ⊙ gelu'(Z1)
/// (dZ2, dt) = LNL2Grad_bwd(dG2);  dX2 = −diag(e)·G2·dW2ᵀ + dA2ᵀ·X2b + dZ2·W2ᵀ
/// dZ1 = dG1 ⊙ Gp ⊙ gelu''(Z1) + dX2 ⊙ gelu'_exact(Z1)
/// dX = −diag(e)·G1·dW1ᵀ + dA1ᵀ·Q + dZ1·W1ᵀ − dt;  dV = dt
/// dW1 += Xᵀ·dZ1 + Qᵀ·dZ1b;  dW2 += X2ᵀ·dZ2 + X2bᵀ·dZ2b + dGpᵀ·G2;  db1, db2 += row sums of (dZ1 + dZ1b), (dZ2 + dZ2b)
/// </code>
/// </summary>
internal sealed unsafe class MlpScanKernel<T, TV, S> : ScanKernel<T, TV, S> where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
{
    private readonly int _h, _hp;
    private readonly bool _exact;
    private T* _w1, _b1, _w2, _b2;                                                   // bound state
    private readonly T* _z2, _xh, _g2, _z2b, _xhb, _eg2, _dz2, _dz2b, _dg2, _y2;    // [Kp, dp]
    private readonly T* _z1, _x2, _z1b, _x2b, _gp, _g1, _eg1;                        // [Kp, hp]
    private readonly T* _dx2b, _dz1b, _dg1, _dgp, _dz1, _dx2, _y1;                  // [Kp, hp]
    private readonly T* _xt, _g2t;                                                   // [dp, Kp]
    private readonly T* _x2t, _g1t;                                                  // [hp, Kp]
    private readonly T* _dxt, _dz2t, _dz2bt;                                         // [dp, Kp] transposed
    private readonly T* _dx2t, _gpt, _dx2bt;                                         // [hp, Kp]
    private readonly T* _ne;                                                         // [Kp] −τ_last·lr_j, 0 past kk
    private readonly T* _a1, _p1, _a2, _p2, _da1, _da2, _dpr;                        // [Kp, Kp]
    private readonly T* _tr;                                                         // [hp, dp] W1ᵀ

    public MlpScanKernel(ScanIo<T> io) : base(io, Layout)
    {
        _h = 4 * D;
        _hp = Util.RoundUp(_h, S.Count);
        _exact = io.ExactGelu;
        int dp = Dp, hp = _hp, kp = Kp;
        // Stacked blocks for the dW products of a full mini-batch: [dZ1; dZ1b] pairs with [X; Q] (base class),
        // [X2; X2b; dGp] with [dZ2; dZ2b; G2].
        _dz2 = Take(3 * kp * dp); _dz2b = _dz2 + kp * dp; _g2 = _dz2b + kp * dp;
        _x2 = Take(3 * kp * hp); _x2b = _x2 + kp * hp; _dgp = _x2b + kp * hp;
        _dz1 = Take(2 * kp * hp); _dz1b = _dz1 + kp * hp;
        _z2 = TakeRows(dp); _xh = TakeRows(dp); _z2b = TakeRows(dp); _xhb = TakeRows(dp); _eg2 = TakeRows(dp);
        _dg2 = TakeRows(dp); _y2 = TakeRows(dp);
        _z1 = TakeRows(hp); _z1b = TakeRows(hp); _gp = TakeRows(hp); _g1 = TakeRows(hp); _eg1 = TakeRows(hp);
        _dx2b = TakeRows(hp); _dg1 = TakeRows(hp); _dx2 = TakeRows(hp); _y1 = TakeRows(hp);
        _xt = Take(dp * kp); _g2t = Take(dp * kp); _x2t = Take(hp * kp); _g1t = Take(hp * kp);
        _a1 = Take(kp * kp); _p1 = Take(kp * kp); _a2 = Take(kp * kp); _p2 = Take(kp * kp);
        _da1 = Take(kp * kp); _da2 = Take(kp * kp); _dpr = Take(kp * kp);
        _tr = Take(hp * dp);
        _dxt = Take(dp * kp); _dx2t = Take(hp * kp); _gpt = Take(hp * kp);
        _dz2t = Take(dp * kp); _dz2bt = Take(dp * kp); _dx2bt = Take(hp * kp); _ne = Take(kp);
    }

    /// <summary>W1 [d, h] | b1 [h] | W2 [h, d] | b2 [d], padded.</summary>
    private static Block[] Layout(int d, int dp)
    {
        int h = 4 * d, hp = Util.RoundUp(h, S.Count);
        return [new(d, h, hp, 0), new(1, h, hp, dp * hp), new(h, d, dp, dp * hp + hp), new(1, d, dp, dp * hp + hp + hp * dp)];
    }

    protected override void Bind(T* state)
    {
        _w1 = state;
        _b1 = _w1 + Dp * _hp;
        _w2 = _b1 + _hp;
        _b2 = _w2 + _hp * Dp;
    }

    protected override IEnumerable<(nint Buffer, int Width)> TailZeroed() => [((nint)_g2, Dp), ((nint)_x2, _hp), ((nint)_g1, _hp)];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Step(int b, int h, int t0, int kk, bool output, bool writeOut, bool update)
    {
        var io = Io;
        int d = D, dp = Dp, hp = _hp, hh = _h, kp = Kp;
        LoadRows(b, h, t0, kk);
        // Z1 = X·W1 + b1, X2 = gelu(Z1);  Z2 = X2·W2 (+ b2), G2 = LNL2Grad(Z2, t)
        SmallGemm<T, TV, S>.Run(_z1, hp, X, dp, 1, _w1, hp, kk, d, hp, Store.Set);
        for (int i = 0; i < kk; i++) RowOps<T, TV, S>.BiasGelu(_z1 + i * hp, _b1, _x2 + i * hp, hp);
        SmallGemm<T, TV, S>.Run(_z2, dp, _x2, hp, 1, _w2, dp, kk, hh, dp, Store.Set);
        for (int i = 0; i < kk; i++)
            Std[i] = RowOps<T, TV, S>.LnL2Grad(_z2 + i * dp, _b2, Gamma, Beta, Tgt + i * dp, Mask, dp, d, _xh + i * dp, _g2 + i * dp);
        // Gp = G2·W2ᵀ, computed as Gpᵀ = W2·G2ᵀ [h, Kp] and a small transpose back (W2 itself is never transposed);
        // G1 = Gp ⊙ gelu'(Z1)
        SmallGemm<T, TV, S>.Transpose(_g2t, kp, _g2, dp, kp, d);
        SmallGemm<T, TV, S>.Run(_gpt, kp, _w2, dp, 1, _g2t, kp, hh, d, kp, Store.Set);
        SmallGemm<T, TV, S>.Transpose(_gp, hp, _gpt, kp, hh, kp);
        for (int i = 0; i < kk; i++) RowOps<T, TV, S>.InnerG1(_gp + i * hp, _z1 + i * hp, _g1 + i * hp, hp, _exact);
        if (output)
        {
            // P1 = tril(E ⊙ (Q·Xᵀ + 1));  Z1b = Q·W1 − P1·G1 (+ b1);  X2b = gelu(Z1b)
            SmallGemm<T, TV, S>.Transpose(_xt, kp, X, dp, kp, d);
            SmallGemm<T, TV, S>.Run(_a1, kp, Q, dp, 1, _xt, kp, kk, d, kp, Store.Set);
            BuildP(kk, _a1, _p1);
            SmallGemm<T, TV, S>.Run(_z1b, hp, Q, dp, 1, _w1, hp, kk, d, hp, Store.Set);
            SmallGemm<T, TV, S>.Run(_z1b, hp, _p1, kp, 1, _g1, hp, kk, kk, hp, Store.Sub);
            for (int i = 0; i < kk; i++) RowOps<T, TV, S>.BiasGelu(_z1b + i * hp, _b1, _x2b + i * hp, hp);
            // P2 = tril(E ⊙ (X2b·X2ᵀ + 1));  Z2b = X2b·W2 − P2·G2 (+ b2);  Out = Q + LN(Z2b)
            SmallGemm<T, TV, S>.Transpose(_x2t, kp, _x2, hp, kp, hh);
            SmallGemm<T, TV, S>.Run(_a2, kp, _x2b, hp, 1, _x2t, kp, kk, hh, kp, Store.Set);
            BuildP(kk, _a2, _p2);
            SmallGemm<T, TV, S>.Run(_z2b, dp, _x2b, hp, 1, _w2, dp, kk, hh, dp, Store.Set);
            SmallGemm<T, TV, S>.Run(_z2b, dp, _p2, kp, 1, _g2, dp, kk, kk, dp, Store.Sub);
            for (int i = 0; i < kk; i++)
            {
                StdOut[i] = RowOps<T, TV, S>.LayerNormOut(_z2b + i * dp, _b2, Gamma, Beta, Q + i * dp, Mask, dp, d, _xhb + i * dp, Row);
                if (writeOut) Util.Copy(io.Out + io.TokenRow(b, h, t0 + i) * d, Row, d);
            }
        }
        if (update)
        {
            ScaleRowsAndUpdateBias(kk, _g1, _eg1, _b1, hp);
            ScaleRowsAndUpdateBias(kk, _g2, _eg2, _b2, dp);
            SmallGemm<T, TV, S>.Run(_w1, hp, X, 1, dp, _eg1, hp, d, kk, hp, Store.Sub);      // W1 −= Xᵀ·diag(e)·G1
            SmallGemm<T, TV, S>.Run(_w2, dp, _x2, 1, hp, _eg2, dp, hh, kk, dp, Store.Sub);   // W2 −= X2ᵀ·diag(e)·G2
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void BackwardStep(int b, int h, int t0, int kk)
    {
        int d = D, dp = Dp, hp = _hp, hh = _h, kp = Kp, w = S.Count;
        T* dw1 = Carry, db1 = dw1 + dp * hp, dw2 = db1 + hp, db2 = dw2 + hp * dp;
        Step(b, h, t0, kk, output: true, writeOut: false, update: false);
        LoadGradOut(b, h, t0, kk);
        for (int i = 0; i < kk; i++)
            RowOps<T, TV, S>.LayerNormBackward(DQ + i * dp, _xhb + i * dp, StdOut[i], Gamma, Mask, dp, d, _dz2b + i * dp, DGamma, DBeta);

        // State update backward with the incoming carry: Y1, Y2, de;  dG1 = −diag(e)·Y1, dG2 = −diag(e)·Y2;
        // dX = −diag(e)·G1·dW1ᵀ;  dX2 = −diag(e)·G2·dW2ᵀ
        SmallGemm<T, TV, S>.Run(_y1, hp, X, dp, 1, dw1, hp, kk, d, hp, Store.Set);
        SmallGemm<T, TV, S>.Run(_y2, dp, _x2, hp, 1, dw2, dp, kk, hh, dp, Store.Set);
        // The products with the d×h matrices (carry, state) that would need them transposed are done transposed:
        // Cᵀ = M·Aᵀ with the small factor A transposed instead, then one small transpose back. DXᵀ = dW1·G1ᵀ here;
        // dX2 is built as dX2ᵀ [h, Kp] throughout (dW2·G2ᵀ, then + X2bᵀ·dA2 and + W2·dZ2ᵀ) and transposed once.
        // G2ᵀ is the forward step's; G1ᵀ also serves dP1 below.
        SmallGemm<T, TV, S>.Transpose(_g1t, kp, _g1, hp, kp, hh);                                // G1ᵀ [h, Kp]
        SmallGemm<T, TV, S>.Run(_dxt, kp, dw1, hp, 1, _g1t, kp, d, hh, kp, Store.Set);          // DXᵀ = dW1·G1ᵀ [d, Kp]
        SmallGemm<T, TV, S>.Transpose(DX, dp, _dxt, kp, d, kp);
        SmallGemm<T, TV, S>.Run(_dx2t, kp, dw2, dp, 1, _g2t, kp, hh, d, kp, Store.Set);         // dX2ᵀ = dW2·G2ᵀ [h, Kp]
        double tl = Io.Tau[kk - 1];
        new Span<T>(_ne, kp).Clear();
        for (int j = 0; j < kk; j++)
        {
            double e = -tl * Lr[j];
            _ne[j] = Num.Of<T>(e);
            TV ne = S.Splat(e);
            TV dot = S.Zero;
            T* y1 = _y1 + j * hp, g1 = _g1 + j * hp, dg1 = _dg1 + j * hp;
            for (int c = 0; c < hp; c += w)
            {
                TV yv = S.Add(S.Load(y1 + c), S.Load(db1 + c));
                dot = S.Fma(yv, S.Load(g1 + c), dot);
                S.Store(dg1 + c, S.Mul(ne, yv));
            }
            T* y2 = _y2 + j * dp, g2 = _g2 + j * dp, dg2 = _dg2 + j * dp, dx = DX + j * dp;
            for (int c = 0; c < dp; c += w)
            {
                TV yv = S.Add(S.Load(y2 + c), S.Load(db2 + c));
                dot = S.Fma(yv, S.Load(g2 + c), dot);
                S.Store(dg2 + c, S.Mul(ne, yv));
                S.Store(dx + c, S.Mul(ne, S.Load(dx + c)));
            }
            De[j] = -S.Sum(dot);
        }
        for (int r = 0; r < hh; r++)                                                             // dX2ᵀ ⊙= e (columns)
            for (int c = 0; c < kp; c += w) S.Store(_dx2t + r * kp + c, S.Mul(S.Load(_dx2t + r * kp + c), S.Load(_ne + c)));
        LastRowBackward(kk);

        // Z2b = X2b·W2 + b2 − P2·G2
        SmallGemm<T, TV, S>.Transpose(_dz2bt, kp, _dz2b, dp, kp, d);
        SmallGemm<T, TV, S>.Run(_dx2bt, kp, _w2, dp, 1, _dz2bt, kp, hh, d, kp, Store.Set);      // dX2bᵀ = W2·dZ2bᵀ
        SmallGemm<T, TV, S>.Transpose(_dx2b, hp, _dx2bt, kp, hh, kp);
        SmallGemm<T, TV, S>.Run(_dg2, dp, _p2, 1, kp, _dz2b, dp, kk, kk, dp, Store.Sub);       // dG2 −= P2ᵀ·dZ2b
        SmallGemm<T, TV, S>.Run(_dpr, kp, _dz2b, dp, 1, _g2t, kp, kk, d, kp, Store.Set);
        BuildDA(kk, _a2, _dpr, _da2);
        SmallGemm<T, TV, S>.Run(_dx2b, hp, _da2, kp, 1, _x2, hp, kk, kk, hp, Store.Add);       // dX2b += dA2·X2
        SmallGemm<T, TV, S>.Run(_dx2t, kp, _x2b, 1, hp, _da2, kp, hh, kk, kp, Store.Add);      // dX2ᵀ += X2bᵀ·dA2

        // X2b = gelu(Z1b);  Z1b = Q·W1 + b1 − P1·G1
        for (int i = 0; i < kk; i++) RowOps<T, TV, S>.MulGeluPrimeExact(_dx2b + i * hp, _z1b + i * hp, _dz1b + i * hp, hp);
        SmallGemm<T, TV, S>.Run(_dg1, hp, _p1, 1, kp, _dz1b, hp, kk, kk, hp, Store.Sub);       // dG1 −= P1ᵀ·dZ1b
        SmallGemm<T, TV, S>.Run(_dpr, kp, _dz1b, hp, 1, _g1t, kp, kk, hh, kp, Store.Set);
        BuildDA(kk, _a1, _dpr, _da1);
        SmallGemm<T, TV, S>.Run(DQ, dp, _da1, kp, 1, X, dp, kk, kk, dp, Store.Add);            // dQ += dA1·X
        SmallGemm<T, TV, S>.Run(DX, dp, _da1, 1, kp, Q, dp, kk, kk, dp, Store.Add);            // dX += dA1ᵀ·Q

        // G1 = Gp ⊙ gelu'(Z1): dGp and the gelu'' part of dZ1;  Gp = G2·W2ᵀ: dG2 += dGp·W2
        for (int i = 0; i < kk; i++)
            RowOps<T, TV, S>.InnerG1Backward(_dg1 + i * hp, _gp + i * hp, _z1 + i * hp, _dgp + i * hp, _dz1 + i * hp, hp, _exact);
        SmallGemm<T, TV, S>.Run(_dg2, dp, _dgp, hp, 1, _w2, dp, kk, hh, dp, Store.Add);
        // G2 = LNL2Grad(Z2, V − X)
        for (int i = 0; i < kk; i++)
        {
            T* dt = DT + i * dp, dx = DX + i * dp;
            RowOps<T, TV, S>.LnL2GradBackward(_dg2 + i * dp, _xh + i * dp, Std[i], _g2 + i * dp, Tgt + i * dp, Gamma, Beta, Mask, dp, d,
                _dz2 + i * dp, dt, DGamma, DBeta);
            for (int c = 0; c < dp; c += w) S.Store(dx + c, S.Sub(S.Load(dx + c), S.Load(dt + c)));
        }
        // Z2 = X2·W2 + b2: dX2ᵀ += W2·dZ2ᵀ, then dX2 back in rows;  X2 = gelu(Z1): dZ1 += dX2 ⊙ gelu'_exact(Z1)
        SmallGemm<T, TV, S>.Transpose(_dz2t, kp, _dz2, dp, kp, d);
        SmallGemm<T, TV, S>.Run(_dx2t, kp, _w2, dp, 1, _dz2t, kp, hh, d, kp, Store.Add);
        SmallGemm<T, TV, S>.Transpose(_dx2, hp, _dx2t, kp, hh, kp);
        for (int i = 0; i < kk; i++) RowOps<T, TV, S>.AddMulGeluPrimeExact(_dx2 + i * hp, _z1 + i * hp, _dz1 + i * hp, hp);
        // Z1 = X·W1, Q·W1: dQ += dZ1b·W1ᵀ;  dX += dZ1·W1ᵀ
        SmallGemm<T, TV, S>.Transpose(_tr, dp, _w1, hp, d, hh);                                  // W1ᵀ [h, d]
        SmallGemm<T, TV, S>.Run(DQ, dp, _dz1b, hp, 1, _tr, dp, kk, hh, dp, Store.Add);
        SmallGemm<T, TV, S>.Run(DX, dp, _dz1, hp, 1, _tr, dp, kk, hh, dp, Store.Add);
        // carry into the previous mini-batch. A full mini-batch does the products that share a destination as one
        // over the stacked blocks (one read-modify-write pass over dW1 and dW2 instead of two and three).
        if (kk == kp)
        {
            SmallGemm<T, TV, S>.Run(dw1, hp, X, 1, dp, _dz1, hp, d, 2 * kp, hp, Store.Add);     // dW1 += [X; Q]ᵀ·[dZ1; dZ1b]
            SmallGemm<T, TV, S>.Run(dw2, dp, _x2, 1, hp, _dz2, dp, hh, 3 * kp, dp, Store.Add);  // dW2 += [X2; X2b; dGp]ᵀ·[dZ2; dZ2b; G2]
        }
        else
        {
            SmallGemm<T, TV, S>.Run(dw1, hp, X, 1, dp, _dz1, hp, d, kk, hp, Store.Add);         // dW1 += Xᵀ·dZ1
            SmallGemm<T, TV, S>.Run(dw1, hp, Q, 1, dp, _dz1b, hp, d, kk, hp, Store.Add);        //      + Qᵀ·dZ1b
            SmallGemm<T, TV, S>.Run(dw2, dp, _x2, 1, hp, _dz2, dp, hh, kk, dp, Store.Add);      // dW2 += X2ᵀ·dZ2
            SmallGemm<T, TV, S>.Run(dw2, dp, _x2b, 1, hp, _dz2b, dp, hh, kk, dp, Store.Add);    //      + X2bᵀ·dZ2b
            SmallGemm<T, TV, S>.Run(dw2, dp, _dgp, 1, hp, _g2, dp, hh, kk, dp, Store.Add);      //      + dGpᵀ·G2
        }
        AddRowSums(db1, _dz1, _dz1b, kk, hp);
        AddRowSums(db2, _dz2, _dz2b, kk, dp);
    }
}
