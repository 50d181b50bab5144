using System.Globalization;
using System.Text;
using Ttt.IO;

namespace Ttt.Cli.Reporting;

/// <summary>One curve of loss by token position.</summary>
public sealed record LossCurve(string Label, double[] Loss);

/// <summary>
/// Loss by token position as CSV and as a PNG plot with a logarithmic token axis (the paper's Figure 2 view).
/// </summary>
public static class LossPlots
{
    /// <summary>Writes the curves as CSV: position, then one column per curve (positions count from 1).</summary>
    public static void WriteCsv(string path, IReadOnlyList<LossCurve> curves)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var sb = new StringBuilder("position");
        foreach (var c in curves) sb.Append(',').Append(Escape(c.Label));
        sb.Append('\n');
        int n = curves.Max(c => c.Loss.Length);
        for (int t = 0; t < n; t++)
        {
            sb.Append((t + 1).ToString(CultureInfo.InvariantCulture));
            foreach (var c in curves)
                sb.Append(',').Append(t < c.Loss.Length && double.IsFinite(c.Loss[t]) ? c.Loss[t].ToString("G6", CultureInfo.InvariantCulture) : "");
            sb.Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>
    /// Draws the curves against log₁₀(position), each smoothed over windows that are equal in log space so the
    /// noisy tail stays readable; raw values are in the CSV.
    /// </summary>
    public static void WritePng(string path, string title, IReadOnlyList<LossCurve> curves, int width = 900, int height = 560)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var plot = new ScottPlot.Plot();
        foreach (var c in curves)
        {
            var (xs, ys) = LogBinned(c.Loss);
            if (xs.Length == 0) continue;
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = c.Label;
            line.MarkerSize = 0;
            line.LineWidth = 2;
        }
        plot.Title(title);
        plot.XLabel("token index (log scale)");
        plot.YLabel("loss (nats)");
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int max = curves.Max(c => c.Loss.Length);
        for (int p = 1; p <= max; p *= 10)
        {
            ticks.AddMajor(Math.Log10(p), p.ToString(CultureInfo.InvariantCulture));
            for (int m = 2; m < 10 && p * m <= max; m++) ticks.AddMinor(Math.Log10(p * m));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.ShowLegend(ScottPlot.Alignment.LowerLeft);
        var bytes = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    private static (double[] X, double[] Y) LogBinned(double[] loss)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        int t = 0;
        while (t < loss.Length)
        {
            int end = Math.Max(t + 1, (int)Math.Ceiling((t + 1) * 1.08)); // bins of ~8 % width in log space
            double sum = 0;
            int count = 0;
            for (int i = t; i < Math.Min(end, loss.Length); i++)
                if (double.IsFinite(loss[i]))
                {
                    sum += loss[i];
                    count++;
                }
            if (count > 0)
            {
                xs.Add(Math.Log10((t + Math.Min(end, loss.Length)) / 2.0 + 0.5));
                ys.Add(sum / count);
            }
            t = end;
        }
        return ([.. xs], [.. ys]);
    }

    private static string Escape(string s) => s.Contains(',', StringComparison.Ordinal) ? $"\"{s}\"" : s;
}
