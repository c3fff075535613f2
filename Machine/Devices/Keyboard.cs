namespace Lab.Machine.Devices;

/// <summary>
/// The keyboard: a bounded FIFO of key codes (ASCII for printable keys). The owner enqueues keys;
/// the kernel polls them. Part of the machine state, so snapshots include pending keys.
/// </summary>
public sealed class Keyboard
{
    public const int Capacity = 256;
    private readonly Queue<byte> _keys = new();

    public int Count => _keys.Count;

    /// <summary>Adds a key; returns false (and drops it) when the queue is full.</summary>
    public bool Enqueue(byte key)
    {
        if (_keys.Count >= Capacity) return false;
        _keys.Enqueue(key);
        return true;
    }

    public bool TryDequeue(out byte key) => _keys.TryDequeue(out key);

    public void Clear() => _keys.Clear();

    internal byte[] ToArray() => _keys.ToArray();

    internal void Load(ReadOnlySpan<byte> keys)
    {
        _keys.Clear();
        foreach (byte k in keys) _keys.Enqueue(k);
    }
}
