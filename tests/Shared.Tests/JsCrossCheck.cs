using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>
/// Runs js/crosscheck.mjs (node + @msgpack/msgpack, pinned in js/package.json) once per request.
/// Installs the npm package with `npm ci` when node_modules is missing, or fails saying how to.
/// </summary>
internal static class JsMsgPack
{
    public static string Directory { get; } = typeof(JsMsgPack).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SharedTestsJsDir").Value!;

    public static JsonObject Run(JsonObject request)
    {
        EnsureInstalled();
        var (exitCode, stdout, stderr) = RunProcess("node", "crosscheck.mjs", request.ToJsonString());
        if (exitCode != 0)
            throw new InvalidOperationException($"node crosscheck.mjs failed ({exitCode}): {stderr}");
        return JsonNode.Parse(stdout)!.AsObject();
    }

    private static void EnsureInstalled()
    {
        if (System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "@msgpack", "msgpack")))
            return;
        var (exitCode, stdout, stderr) = RunProcess("npm", "ci --no-audit --no-fund", null);
        if (exitCode != 0)
            throw new InvalidOperationException(
                $"`npm ci` failed in {Directory} ({exitCode}). Run `npm ci` there by hand (needs node and npm).\n{stdout}\n{stderr}");
    }

    private static (int ExitCode, string Stdout, string Stderr) RunProcess(string file, string arguments, string? input)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException(
                $"`{file}` is not installed or not on PATH; the @msgpack/msgpack cross-check needs node and npm "
                + $"(then run `npm ci` in {Directory}).", ex);
        }
        using (process)
        {
            // Read both pipes concurrently with writing stdin, so large outputs cannot deadlock.
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (input is not null)
                process.StandardInput.Write(input);
            process.StandardInput.Close();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}

/// <summary>The tagged JSON form of values that js/crosscheck.mjs understands.</summary>
internal static class Tag
{
    public static JsonObject Nil() => new() { ["t"] = "nil" };
    public static JsonObject Bool(bool v) => new() { ["t"] = "bool", ["v"] = v };
    public static JsonObject Int(long v) => new() { ["t"] = "int", ["v"] = v.ToString(CultureInfo.InvariantCulture) };
    public static JsonObject Int(string v) => new() { ["t"] = "int", ["v"] = v };
    public static JsonObject F64(double v) => new() { ["t"] = "f64", ["v"] = BitConverter.DoubleToUInt64Bits(v).ToString("x16") };
    public static JsonObject Str(string v) => new() { ["t"] = "str", ["v"] = v };
    public static JsonObject Bin(byte[] v) => new() { ["t"] = "bin", ["v"] = Hex.Of(v) };
    public static JsonObject Arr(IEnumerable<JsonNode> items) => new() { ["t"] = "arr", ["v"] = new JsonArray(items.ToArray()) };
    public static JsonObject Map(IEnumerable<(string Key, JsonNode Value)> entries) =>
        new() { ["t"] = "map", ["v"] = new JsonArray(entries.Select(e => (JsonNode)new JsonArray(Str(e.Key), e.Value)).ToArray()) };
    public static JsonObject Date(long ms) => new() { ["t"] = "date", ["ms"] = ms };
    public static JsonObject Ext(sbyte type, byte[] data) => new() { ["t"] = "ext", ["type"] = type, ["v"] = Hex.Of(data) };
}
