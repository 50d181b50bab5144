using System.Runtime.CompilerServices;
namespace Ttt.Models.Fused;

/// <summary>
/// Fused TTT-Linear (spec §1.7) for one thread. State: W [d, d], b [d]. Per mini-batch of k tokens
/// (X = keys, Q = queries, t = V − X, all [k, d]; E[i, j] = τ_i·lr_j; e = E[k−1, :]):
/// <code>
/// Z  = X·W + b;  G = LNL2Grad(Z, t)                    [k, d]
/// A  = Q·Xᵀ;  P = tril(E ⊙ (A + 1))                     [k, k]   (the +1 carries the bias: b_i = b − Σ_j E_ij g_j)
/// Zb = Q·W + b − P·G;  Out = Q + LN(Zb)                [k, d]
/// W −= Xᵀ·diag(e)·G;  b −= eᵀ·G                         (state for the next mini-batch)
/// </code>
/// Backward, given dOut and the carry (dW, db) = gradient of this mini-batch's final state:
/// <code>
/// dZb = LN_bwd(dOut);  dQ = dOut + dZb·Wᵀ + dA·X
/// dP  = −tril(dZb·Gᵀ) → dτ, dlr (through E) and dA = dP ⊙ E
/// Y   = X·dW + db;  dG = −Pᵀ·dZb − diag(e)·Y;  de_j = −G_j·Y_j → dτ_{k−1}, dlr
/// (dZ, dt, dγ, dβ) = LNL2Grad_bwd(dG);  dV = dt
/// dX  = −diag(e)·G·dWᵀ + dAᵀ·Q + dZ·Wᵀ − dt
/// dW += Xᵀ·dZ + Qᵀ·dZb;  db += Σ_i (dZ_i + dZb_i)        (the carry into the previous mini-batch)
/// </code>
/// FLOPs per mini-batch (k = K): forward 6Kd² + 6K²d (Z, Q·W, update; A, P·G) ; backward recompute (without the
/// update) + 12Kd² + 6K²d.
/// </summary>
internal sealed unsafe class LinearScanKernel<T, TV, S> : ScanKernel<T, TV, S> where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
{
    private T* _w, _b;                                               // bound state: W [dp, dp], b [dp]
    private readonly T* _z, _zb, _xh, _g, _xhb, _eg;                 // [Kp, dp]
    private readonly T* _xt, _gt;                                    // [dp, Kp]
    private readonly T* _a, _p, _da, _dpr;                           // [Kp, Kp]
    private readonly T* _dwct, _wt;                                  // [dp, dp]
    private readonly T* _dzb, _dz, _dg, _y;                          // [Kp, dp]

    public LinearScanKernel(ScanIo<T> io) : base(io, (d, dp) => [new(d, d, dp, 0), new(1, d, dp, dp * dp)])
    {
        int dp = Dp, kp = Kp;
        _z = TakeRows(dp); _zb = TakeRows(dp); _xh = TakeRows(dp); _g = TakeRows(dp); _xhb = TakeRows(dp); _eg = TakeRows(dp);
        _xt = Take(dp * kp); _gt = Take(dp * kp);
        _a = Take(kp * kp); _p = Take(kp * kp); _da = Take(kp * kp); _dpr = Take(kp * kp);
        _dwct = Take(dp * dp); _wt = Take(dp * dp);
        _dz = Take(2 * Kp * dp); _dzb = _dz + Kp * dp;                  // [dZ; dZb] pairs with [X; Q]
        _dg = TakeRows(dp); _y = TakeRows(dp);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Bind(T* state)
    {
        _w = state;
        _b = state + Dp * Dp;
    }

    protected override IEnumerable<(nint Buffer, int Width)> TailZeroed() => [((nint)_g, Dp)];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Step(int b, int h, int t0, int kk, bool output, bool writeOut, bool update)
    {
        var io = Io;
        int d = D, dp = Dp, kp = Kp;
        LoadRows(b, h, t0, kk);
        // Z = X·W (+ b in the row op);  G = LNL2Grad(Z, t)
        SmallGemm<T, TV, S>.Run(_z, dp, X, dp, 1, _w, dp, kk, d, dp, Store.Set);
        for (int i = 0; i < kk; i++)
            Std[i] = RowOps<T, TV, S>.LnL2Grad(_z + i * dp, _b, Gamma, Beta, Tgt + i * dp, Mask, dp, d, _xh + i * dp, _g + i * dp);
        if (output)
        {
            // A = Q·Xᵀ, P;  Zb = Q·W − P·G (+ b);  Out = Q + LN(Zb)
            SmallGemm<T, TV, S>.Transpose(_xt, kp, X, dp, kp, d);
            SmallGemm<T, TV, S>.Run(_a, kp, Q, dp, 1, _xt, kp, kk, d, kp, Store.Set);
            BuildP(kk, _a, _p);
            SmallGemm<T, TV, S>.Run(_zb, dp, Q, dp, 1, _w, dp, kk, d, dp, Store.Set);
            SmallGemm<T, TV, S>.Run(_zb, dp, _p, kp, 1, _g, dp, kk, kk, dp, Store.Sub);
            for (int i = 0; i < kk; i++)
            {
                StdOut[i] = RowOps<T, TV, S>.LayerNormOut(_zb + i * dp, _b, Gamma, Beta, Q + i * dp, Mask, dp, d, _xhb + i * dp, Row);
                if (writeOut) Util.Copy(io.Out + io.TokenRow(b, h, t0 + i) * d, Row, d);
            }
        }
        if (update)
        {
            // eG = diag(e)·G;  b −= Σ_j eG_j;  W −= Xᵀ·eG   (left factor Xᵀ read through strides: no transpose)
            ScaleRowsAndUpdateBias(kk, _g, _eg, _b, dp);
            SmallGemm<T, TV, S>.Run(_w, dp, X, 1, dp, _eg, dp, d, kk, dp, Store.Sub);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void BackwardStep(int b, int h, int t0, int kk)
    {
        int d = D, dp = Dp, kp = Kp, w = S.Count;
        T* dwc = Carry, dbc = Carry + dp * dp;
        Step(b, h, t0, kk, output: true, writeOut: false, update: false);
        // dQ = dOut;  dZb = LN_bwd(dOut), dγ, dβ
        LoadGradOut(b, h, t0, kk);
        for (int i = 0; i < kk; i++)
            RowOps<T, TV, S>.LayerNormBackward(DQ + i * dp, _xhb + i * dp, StdOut[i], Gamma, Mask, dp, d, _dzb + i * dp, DGamma, DBeta);
        // The state update's backward, with the carry as it arrives (before this mini-batch adds to it):
        // Y = X·dW + db;  dX = −diag(e)·G·dWᵀ;  dG = −diag(e)·Y;  de_j = −G_j·Y_j
        SmallGemm<T, TV, S>.Run(_y, dp, X, dp, 1, dwc, dp, kk, d, dp, Store.Set);
        SmallGemm<T, TV, S>.Transpose(_dwct, dp, dwc, dp, d, d);
        SmallGemm<T, TV, S>.Run(DX, dp, _g, dp, 1, _dwct, dp, kk, d, dp, Store.Set);
        double tl = Io.Tau[kk - 1];
        for (int j = 0; j < kk; j++)
        {
            TV ne = S.Splat(-tl * Lr[j]);
            T* y = _y + j * dp, g = _g + j * dp, dx = DX + j * dp, dg = _dg + j * dp;
            TV dot = S.Zero;
            for (int c = 0; c < dp; c += w)
            {
                TV yv = S.Add(S.Load(y + c), S.Load(dbc + c));
                dot = S.Fma(yv, S.Load(g + c), dot);
                S.Store(dg + c, S.Mul(ne, yv));
                S.Store(dx + c, S.Mul(ne, S.Load(dx + c)));
            }
            De[j] = -S.Sum(dot);
        }
        LastRowBackward(kk);
        // Zb = Q·W + b − P·G:  dG −= Pᵀ·dZb;  dP = −tril(dZb·Gᵀ) → dτ, dlr, dA
        SmallGemm<T, TV, S>.Run(_dg, dp, _p, 1, kp, _dzb, dp, kk, kk, dp, Store.Sub);
        SmallGemm<T, TV, S>.Transpose(_gt, kp, _g, dp, kp, d);
        SmallGemm<T, TV, S>.Run(_dpr, kp, _dzb, dp, 1, _gt, kp, kk, d, kp, Store.Set);
        BuildDA(kk, _a, _dpr, _da);
        // A = Q·Xᵀ:  dQ += dA·X;  dX += dAᵀ·Q
        SmallGemm<T, TV, S>.Run(DQ, dp, _da, kp, 1, X, dp, kk, kk, dp, Store.Add);
        SmallGemm<T, TV, S>.Run(DX, dp, _da, 1, kp, Q, dp, kk, kk, dp, Store.Add);
        // G = LNL2Grad(Z, V − X):  (dZ, dt) and dγ, dβ;  dX −= dt
        for (int i = 0; i < kk; i++)
        {
            T* dt = DT + i * dp, dx = DX + i * dp;
            RowOps<T, TV, S>.LnL2GradBackward(_dg + i * dp, _xh + i * dp, Std[i], _g + i * dp, Tgt + i * dp, Gamma, Beta, Mask, dp, d,
                _dz + i * dp, dt, DGamma, DBeta);
            for (int c = 0; c < dp; c += w) S.Store(dx + c, S.Sub(S.Load(dx + c), S.Load(dt + c)));
        }
        // Z = X·W, Q·W:  dQ += dZb·Wᵀ;  dX += dZ·Wᵀ
        SmallGemm<T, TV, S>.Transpose(_wt, dp, _w, dp, d, d);
        SmallGemm<T, TV, S>.Run(DQ, dp, _dzb, dp, 1, _wt, dp, kk, d, dp, Store.Add);
        SmallGemm<T, TV, S>.Run(DX, dp, _dz, dp, 1, _wt, dp, kk, d, dp, Store.Add);
        // carry into the previous mini-batch: dW += Xᵀ·dZ + Qᵀ·dZb;  db += Σ (dZ + dZb). A full mini-batch does
        // both products as one over the stacked blocks [X; Q] and [dZ; dZb] (one pass over dW instead of two).
        if (kk == kp) SmallGemm<T, TV, S>.Run(dwc, dp, X, 1, dp, _dz, dp, d, 2 * kp, dp, Store.Add);
        else
        {
            SmallGemm<T, TV, S>.Run(dwc, dp, X, 1, dp, _dz, dp, d, kk, dp, Store.Add);
            SmallGemm<T, TV, S>.Run(dwc, dp, Q, 1, dp, _dzb, dp, d, kk, dp, Store.Add);
        }
        AddRowSums(dbc, _dz, _dzb, kk, dp);
    }
}
