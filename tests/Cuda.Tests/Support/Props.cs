using FsCheck;
using FsCheck.Fluent;

namespace Ttt.Cuda.Tests.Support;

/// <summary>Runs an FsCheck property over generated cases; a failing case throws with its description and seed.</summary>
internal static class Props
{
    /// <summary>Checks <paramref name="body"/> on <paramref name="count"/> cases drawn from <paramref name="gen"/>.</summary>
    public static void ForAll<T>(Gen<T> gen, int count, Action<T> body)
    {
        var property = Prop.ForAll(gen.ToArbitrary(), (T c) =>
        {
            body(c);
            return true;
        });
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(count), property);
    }
}
