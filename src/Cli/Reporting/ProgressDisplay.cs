using System.Globalization;
using Ttt.Training;

namespace Ttt.Cli.Reporting;

/// <summary>
/// Shows training progress: a live status line (step, loss, tokens/s, ETA) redrawn in place on a terminal, or plain
/// lines every few steps when the output is redirected (logs, CI).
/// </summary>
public sealed class ProgressDisplay(TextWriter output, bool interactive, int plainEvery)
{
    private DateTime _lastDraw = DateTime.MinValue;

    /// <summary>A display for the console (interactive when stdout is a terminal).</summary>
    public static ProgressDisplay ForConsole(int totalSteps) =>
        new(Console.Out, !Console.IsOutputRedirected, Math.Max(1, totalSteps / 20));

    /// <summary>Reports one update.</summary>
    public void Step(StepReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"step {r.Step,6}/{r.TotalSteps}  loss {r.Loss,8:F4}  lr {r.Lr,9:G3}  |g| {r.GradNorm,7:F3}  {r.TokensPerSecond,8:F0} tok/s  ETA {Format(r.Eta)}{(r.Skipped ? "  (skipped)" : "")}");
        if (interactive)
        {
            if (r.Step != r.TotalSteps && (DateTime.UtcNow - _lastDraw).TotalMilliseconds < 100) return;
            _lastDraw = DateTime.UtcNow;
            output.Write("\r" + Bar(r.Step, r.TotalSteps) + " " + line + "\u001b[K");
            if (r.Step == r.TotalSteps) output.WriteLine();
        }
        else if (r.Step % plainEvery == 0 || r.Step == r.TotalSteps || r.Step == 1)
            output.WriteLine(line);
    }

    /// <summary>Reports an evaluation (on its own line).</summary>
    public void Eval(long step, EvalResult e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (interactive) output.Write("\r\u001b[K");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eval @ step {step}: loss {e.MeanLoss:F4}  perplexity {e.Perplexity:F3}  accuracy {e.Accuracy:P1}"));
    }

    /// <summary>A message on its own line.</summary>
    public void Message(string text)
    {
        if (interactive) output.Write("\r\u001b[K");
        output.WriteLine(text);
    }

    private static string Bar(long done, long total)
    {
        const int width = 20;
        int filled = (int)(width * done / Math.Max(total, 1));
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    private static string Format(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";
}
