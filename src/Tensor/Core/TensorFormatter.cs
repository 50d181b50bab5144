using System.Globalization;
using System.Text;

namespace Ttt;

/// <summary>Human-readable text of a tensor: its metadata and, for small tensors, its values.</summary>
internal static class TensorFormatter
{
    private const int MaxElements = 64;

    public static string Format(Tensor t)
    {
        var sb = new StringBuilder();
        sb.Append("Tensor(").Append(ShapeUtil.Format(t.Shape)).Append(", ").Append(t.DType.Name());
        if (t.Device.Type != DeviceType.Cpu) sb.Append(", ").Append(t.Device);
        if (t.GradFn is not null) sb.Append(", grad_fn=").Append(t.GradFn.Name);
        else if (t.RequiresGrad) sb.Append(", requires_grad");
        if (t.Name is not null) sb.Append(", '").Append(t.Name).Append('\'');
        sb.Append(')');
        if (t.Numel <= MaxElements && !t.Storage.IsDisposed)
        {
            sb.Append(' ');
            var values = t.DType == DType.Int64 ? t.ToLongArray().Select(v => (double)v).ToArray() : t.ToDoubleArray();
            AppendNested(sb, t.Shape.ToArray(), values, 0, 0, t.DType == DType.Int64);
        }
        return sb.ToString();
    }

    private static long AppendNested(StringBuilder sb, int[] shape, double[] v, int dim, long pos, bool ints)
    {
        if (dim == shape.Length)
        {
            sb.Append(ints ? ((long)v[pos]).ToString(CultureInfo.InvariantCulture) : v[pos].ToString("G6", CultureInfo.InvariantCulture));
            return pos + 1;
        }
        sb.Append('[');
        for (int i = 0; i < shape[dim]; i++)
        {
            if (i > 0) sb.Append(", ");
            pos = AppendNested(sb, shape, v, dim + 1, pos, ints);
        }
        sb.Append(']');
        return pos;
    }
}
