// Element-wise family: unary and binary primitives with broadcasting over strides, and where.
// Semantics follow src/Tensor/Cpu/ScalarMath.cs (the reference); launchers: src/Cuda/CudaBackend.Elementwise.cs.
// Operands may alias the output at the same element (in-place ops): each element is read before it is written
// by the same thread.
#include "common.cuh"

// Must match Ttt.Backends.UnaryOp (names and values; a CPU test parses this enum).
enum UnaryCode
{
    U_Neg = 0,
    U_Exp = 1,
    U_Log = 2,
    U_Sqrt = 3,
    U_Rsqrt = 4,
    U_Abs = 5,
    U_Sign = 6,
    U_Tanh = 7,
    U_Sigmoid = 8,
    U_Relu = 9,
    U_Silu = 10,
    U_Gelu = 11,
    U_Square = 12,
    U_Reciprocal = 13,
    U_Affine = 14,
    U_Pow = 15,
    U_Clamp = 16,
    U_GreaterThanScalar = 17,
    U_LessThanScalar = 18,
    U_EqualScalar = 19,
};

// Must match Ttt.Backends.BinaryOp (names and values; a CPU test parses this enum).
enum BinaryCode
{
    B_Add = 0,
    B_Sub = 1,
    B_Mul = 2,
    B_Div = 3,
    B_Maximum = 4,
    B_Minimum = 5,
    B_Pow = 6,
    B_Equal = 7,
    B_NotEqual = 8,
    B_Less = 9,
    B_LessEqual = 10,
    B_Greater = 11,
    B_GreaterEqual = 12,
};

// Status codes written to the optional status word (0 = fine).
#define TTT_STATUS_INT_DIV_BY_ZERO 1

// One value of a floating-point unary primitive; a and b are the op's scalar parameters. Scalar comparisons are
// done in double, as the reference does, so a threshold that float32 cannot represent compares the same way.
template <typename T> __device__ __forceinline__ T unary_float(int op, T x, double a, double b)
{
    switch (op)
    {
    case U_Neg: return -x;
    case U_Exp: return t_exp(x);
    case U_Log: return t_log(x);
    case U_Sqrt: return t_sqrt(x);
    case U_Rsqrt: return T(1) / t_sqrt(x);
    case U_Abs: return t_abs(x);
    case U_Sign: return is_nan(x) ? x : (x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)));
    case U_Tanh: return t_tanh(x);
    case U_Sigmoid: return sigmoid(x);
    case U_Relu: return x > T(0) ? x : T(0);
    case U_Silu: return x * sigmoid(x);
    case U_Gelu: return gelu(x);
    case U_Square: return x * x;
    case U_Reciprocal: return T(1) / x;
    case U_Affine: return T(a) * x + T(b);
    case U_Pow: return t_pow(x, T(a));
    case U_Clamp:
    {
        if (is_nan(x)) return x;
        T lo = T(a), hi = T(b);
        T r = x < lo ? lo : x;
        return r > hi ? hi : r;
    }
    case U_GreaterThanScalar: return (double)x > a ? T(1) : T(0);
    case U_LessThanScalar: return (double)x < a ? T(1) : T(0);
    case U_EqualScalar: return (double)x == a ? T(1) : T(0);
    default: return x;
    }
}

// The unary primitives defined on int64 (the host rejects the others before launching).
// (long long)a truncates and saturates, as C#'s (long) conversion of a double does since .NET 9.
__device__ __forceinline__ long long unary_int(int op, long long x, double a, double b)
{
    switch (op)
    {
    case U_Neg: return -x;
    case U_Abs: return x < 0 ? -x : x;
    case U_Sign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case U_Square: return x * x;
    case U_Relu: return x > 0 ? x : 0;
    case U_Affine: return (long long)a * x + (long long)b;
    case U_Clamp:
    {
        long long lo = (long long)a, hi = (long long)b;
        long long r = x < lo ? lo : x;
        return r > hi ? hi : r;
    }
    case U_GreaterThanScalar: return (double)x > a ? 1 : 0;
    case U_LessThanScalar: return (double)x < a ? 1 : 0;
    case U_EqualScalar: return (double)x == a ? 1 : 0;
    default: return x;
    }
}

template <typename T> __device__ __forceinline__ T binary_float(int op, T x, T y)
{
    switch (op)
    {
    case B_Add: return x + y;
    case B_Sub: return x - y;
    case B_Mul: return x * y;
    case B_Div: return x / y;
    case B_Maximum: return (is_nan(x) || is_nan(y)) ? x + y : (x > y ? x : y);
    case B_Minimum: return (is_nan(x) || is_nan(y)) ? x + y : (x < y ? x : y);
    case B_Pow: return t_pow(x, y);
    case B_Equal: return x == y ? T(1) : T(0);
    case B_NotEqual: return x != y ? T(1) : T(0);
    case B_Less: return x < y ? T(1) : T(0);
    case B_LessEqual: return x <= y ? T(1) : T(0);
    case B_Greater: return x > y ? T(1) : T(0);
    case B_GreaterEqual: return x >= y ? T(1) : T(0);
    default: return x;
    }
}

// int64 binary primitives; division truncates toward zero and reports division by zero through *status.
__device__ __forceinline__ long long binary_int(int op, long long x, long long y, int* status)
{
    switch (op)
    {
    case B_Add: return x + y;
    case B_Sub: return x - y;
    case B_Mul: return x * y;
    case B_Div:
        if (y == 0)
        {
            if (status) *status = TTT_STATUS_INT_DIV_BY_ZERO;
            return 0;
        }
        return x / y;
    case B_Maximum: return x > y ? x : y;
    case B_Minimum: return x < y ? x : y;
    case B_Equal: return x == y ? 1 : 0;
    case B_NotEqual: return x != y ? 1 : 0;
    case B_Less: return x < y ? 1 : 0;
    case B_LessEqual: return x <= y ? 1 : 0;
    case B_Greater: return x > y ? 1 : 0;
    case B_GreaterEqual: return x >= y ? 1 : 0;
    default: return x;
    }
}

__device__ __forceinline__ float unary_any(int op, float x, double a, double b) { return unary_float(op, x, a, b); }
__device__ __forceinline__ double unary_any(int op, double x, double a, double b) { return unary_float(op, x, a, b); }
__device__ __forceinline__ long long unary_any(int op, long long x, double a, double b) { return unary_int(op, x, a, b); }
__device__ __forceinline__ float binary_any(int op, float x, float y, int*) { return binary_float(op, x, y); }
__device__ __forceinline__ double binary_any(int op, double x, double y, int*) { return binary_float(op, x, y); }
__device__ __forceinline__ long long binary_any(int op, long long x, long long y, int* status) { return binary_int(op, x, y, status); }

// y[i] = op(x[i]) over shape s.
template <typename T>
__device__ void unary_impl(const T* x, T* y, const Shape8& s, const Strides8& xs, const Strides8& ys, int op, double a, double b)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        T v = x[offset_of(c, xs)];
        y[offset_of(c, ys)] = unary_any(op, v, a, b);
    }
}

// y[i] = op(a[i], b[i]) over shape s (a, b already broadcast: stride 0 on expanded dims).
template <typename T>
__device__ void binary_impl(const T* a, const T* b, T* y, const Shape8& s, const Strides8& as, const Strides8& bs,
                            const Strides8& ys, int op, int* status)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        T va = a[offset_of(c, as)];
        T vb = b[offset_of(c, bs)];
        y[offset_of(c, ys)] = binary_any(op, va, vb, status);
    }
}

// Condition element as a truth value; condType: 0 float32, 1 float64, 2 int64 (NaN counts as true, as x ≠ 0).
__device__ __forceinline__ bool cond_at(const void* cond, int condType, long long o)
{
    if (condType == 0) return static_cast<const float*>(cond)[o] != 0.0f;
    if (condType == 1) return static_cast<const double*>(cond)[o] != 0.0;
    return static_cast<const long long*>(cond)[o] != 0;
}

// y[i] = cond[i] ≠ 0 ? a[i] : b[i].
template <typename T>
__device__ void where_impl(const void* cond, int condType, const T* a, const T* b, T* y, const Shape8& s,
                           const Strides8& cs, const Strides8& as, const Strides8& bs, const Strides8& ys)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        bool take = cond_at(cond, condType, offset_of(c, cs));
        T v = take ? a[offset_of(c, as)] : b[offset_of(c, bs)];
        y[offset_of(c, ys)] = v;
    }
}

#define ELEMENTWISE_ENTRIES(SUF, T)                                                                                    \
    TTT_KERNEL void unary_##SUF(const T* x, T* y, Shape8 s, Strides8 xs, Strides8 ys, int op, double a, double b)      \
    {                                                                                                                  \
        unary_impl<T>(x, y, s, xs, ys, op, a, b);                                                                      \
    }                                                                                                                  \
    TTT_REGISTER(unary_##SUF)                                                                                          \
    TTT_KERNEL void binary_##SUF(const T* a, const T* b, T* y, Shape8 s, Strides8 as, Strides8 bs, Strides8 ys, int op, \
                                 int* status)                                                                          \
    {                                                                                                                  \
        binary_impl<T>(a, b, y, s, as, bs, ys, op, status);                                                            \
    }                                                                                                                  \
    TTT_REGISTER(binary_##SUF)                                                                                         \
    TTT_KERNEL void where_##SUF(const void* cond, int condType, const T* a, const T* b, T* y, Shape8 s, Strides8 cs,   \
                                Strides8 as, Strides8 bs, Strides8 ys)                                                 \
    {                                                                                                                  \
        where_impl<T>(cond, condType, a, b, y, s, cs, as, bs, ys);                                                     \
    }                                                                                                                  \
    TTT_REGISTER(where_##SUF)

ELEMENTWISE_ENTRIES(f32, float)
ELEMENTWISE_ENTRIES(f64, double)
ELEMENTWISE_ENTRIES(i64, long long)
