using System.Security.Cryptography;

namespace Ttt.IO;

/// <summary>
/// Whole-file writes that are all-or-nothing under the destination name: the content goes to a temporary file in
/// the same folder, is flushed to the disk, and only then renamed over the destination. A crash or exception at
/// any point leaves either the old file or the complete new one, never a truncated mix (the failure mode of writing
/// in place, which would turn a checkpoint into garbage on a full disk or a killed process).
/// </summary>
/// <remarks>
/// The rename is atomic because the temporary file is on the same file system (same folder). The new file gets
/// default permissions rather than the old file's, and a destination that is a symbolic link is replaced by a
/// regular file. The folder itself is not flushed (.NET cannot open a directory for syncing), so after a power
/// loss the rename might not have happened yet; the old file is then still intact. A process killed between the
/// creation and the rename can leave a temporary file named <c>.&lt;name&gt;.&lt;random&gt;.tmp</c> behind.
/// </remarks>
public static class AtomicFile
{
    private const string TempSuffix = ".tmp";

    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/> atomically. If <paramref name="write"/> throws,
    /// the temporary file is deleted, the exception propagates and an existing file at <paramref name="path"/> is
    /// untouched.
    /// </summary>
    /// <param name="path">Destination file; its folder must exist.</param>
    /// <param name="write">Writes the whole content into the given stream; it must not dispose the stream.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string destination = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(destination)
            ?? throw new ArgumentException($"'{path}' names a root folder, not a file", nameof(path));
        string temp = Path.Combine(folder, $".{Path.GetFileName(destination)}.{RandomNumberGenerator.GetHexString(16, lowercase: true)}{TempSuffix}");

        try
        {
            // CreateNew: never clobber an existing file, however unlikely a name collision is.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                write(stream);
                if (!stream.CanWrite)
                    throw new InvalidOperationException($"the writer of '{destination}' closed the stream; it must leave it open so that the data can be flushed to disk before the rename");
                // Flush to the device, not only to the OS: the rename must not become durable before the data.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, destination, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // The span cannot be captured by the callback, so the bytes travel through one copy.
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (without a byte-order mark) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), bufferSize: 1 << 16, leaveOpen: true);
            writer.Write(text);
        });
    }

    /// <summary>
    /// True for a name this class gives its temporary files (<c>.NAME.HEX16.tmp</c>): what a process killed between
    /// creating and renaming one leaves behind, and what a cleanup of an interrupted run may delete.
    /// </summary>
    public static bool IsTemporaryName(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        const int hexLength = 16;
        if (!fileName.StartsWith('.') || !fileName.EndsWith(TempSuffix, StringComparison.Ordinal)) return false;
        int hexEnd = fileName.Length - TempSuffix.Length, hexStart = hexEnd - hexLength;
        if (hexStart < 3 || fileName[hexStart - 1] != '.') return false;
        foreach (char c in fileName.AsSpan(hexStart, hexLength))
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        return true;
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
            // Same: keep the original exception.
        }
    }
}
