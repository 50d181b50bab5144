using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Ttt.Tests;

/// <summary>
/// Builds safetensors bytes by hand, straight from the format's definition (u64 little-endian header length, JSON
/// header, data section), without going through the writer under test. Malformed and unusual files (other dtypes,
/// broken offsets) are only expressible this way.
/// </summary>
internal static class RawSafeTensors
{
    /// <summary>A whole file: length prefix, <paramref name="headerJson"/> padded with spaces to a multiple of 8, then <paramref name="data"/>.</summary>
    public static byte[] Build(string headerJson, ReadOnlySpan<byte> data, bool pad = true) =>
        BuildRaw(Encoding.UTF8.GetBytes(headerJson), data, pad);

    /// <summary>Same as <see cref="Build"/> with header bytes that need not be valid UTF-8.</summary>
    public static byte[] BuildRaw(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data, bool pad = true)
    {
        int padded = pad ? (header.Length + 7) / 8 * 8 : header.Length;
        var file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        header.CopyTo(file.AsSpan(8));
        file.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(file.AsSpan(8 + padded));
        return file;
    }

    /// <summary>One header entry, <c>"name":{"dtype":…,"shape":[…],"data_offsets":[begin,end]}</c> (name used verbatim).</summary>
    public static string Entry(string name, string dtype, int[] shape, long begin, long end) =>
        string.Create(CultureInfo.InvariantCulture,
            $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(',', shape)}],\"data_offsets\":[{begin},{end}]}}");

    /// <summary>A header object of the given entries.</summary>
    public static string Header(params string[] entries) => "{" + string.Join(',', entries) + "}";

    /// <summary>The header JSON text of a file (padding included).</summary>
    public static string HeaderText(byte[] file)
    {
        int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        return Encoding.UTF8.GetString(file, 8, length);
    }

    /// <summary>The data section of a file.</summary>
    public static byte[] Data(byte[] file)
    {
        int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        return file.AsSpan(8 + length).ToArray();
    }
}

/// <summary>The golden reference files kept in the repository.</summary>
internal static class ReferenceFixtures
{
    /// <summary><c>tests/fixtures/reference</c> of the checkout that built the tests.</summary>
    public static string Folder { get; } = Locate();

    private static string Locate()
    {
        // Walk up from the test binaries to the checkout root (the folder holding Ttt.sln), so the tests work
        // from any build output folder and any worktree.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ttt.sln")))
                return Path.Combine(dir.FullName, "tests", "fixtures", "reference");
        }
        throw new DirectoryNotFoundException($"no folder above {AppContext.BaseDirectory} contains Ttt.sln; cannot find tests/fixtures/reference");
    }

    /// <summary>Case folder names (those with a meta.json).</summary>
    public static IEnumerable<string> Cases() =>
        Directory.GetDirectories(Folder)
            .Where(d => File.Exists(Path.Combine(d, "meta.json")))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal);

    /// <summary>Every <c>*.safetensors</c> file, relative to <see cref="Folder"/>.</summary>
    public static IEnumerable<string> SafeTensorFiles() =>
        Directory.GetFiles(Folder, "*.safetensors", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Folder, f))
            .Order(StringComparer.Ordinal);

    /// <summary>Absolute path of a file inside <see cref="Folder"/>.</summary>
    public static string PathOf(params string[] parts) => Path.Combine([Folder, .. parts]);
}

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ttt-io-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Names of every file in the folder, hidden ones included.</summary>
    public string[] FileNames() => Directory.GetFiles(Path).Select(f => System.IO.Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
