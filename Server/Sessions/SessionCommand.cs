namespace Lab.Server.Sessions;

/// <summary>
/// A request to the session loop, which owns the machine. Commands arrive through a bounded channel
/// and are applied between slices of machine time, in order, on the loop's own thread.
/// </summary>
public abstract record SessionCommand(string By);

/// <summary>Keys typed by a driver, in order: one key, or a run of them (typing ahead, a paste).</summary>
public sealed record KeyCommand(string By, string Keys) : SessionCommand(By);
public sealed record PauseCommand(string By) : SessionCommand(By);
public sealed record ResumeCommand(string By) : SessionCommand(By);
public sealed record SpeedCommand(string By, double TicksPerSecond) : SessionCommand(By);
/// <summary>Cold reboot into a program and step (null keeps the current one).</summary>
public sealed record RebootCommand(string By, string? Program, string? Step) : SessionCommand(By);
/// <summary>Replaces a kernel session's kernel file; the next reboot boots it (the running machine is left alone).</summary>
public sealed record PushKernelCommand(string By, string Name, byte[] Image) : SessionCommand(By);
/// <summary>Saves the machine for persistence on the loop thread: <see cref="Store"/> is given the
/// machine's streaming save and writes it where it keeps it (completed on the loop thread). A
/// <see cref="Final"/> save stops the machine once it is written (the session moves to another node).</summary>
/// <summary>Final: the machine stops after it (a handover). Force: written even when unchanged since the last one (a store that lost it).</summary>
public sealed record SaveCommand(Action<Action<Stream>> Store, TaskCompletionSource<bool> Result, bool Final = false, bool Force = false) : SessionCommand("server");

/// <summary>Reads the machine for a remote debugger (gdb through `tui gdb`) on the loop thread: <see cref="Read"/>
/// answers bytes or throws ArgumentException with the reason.</summary>
public sealed record InspectCommand(string By, Func<SessionMachine, byte[]> Read, TaskCompletionSource<byte[]> Result) : SessionCommand(By);

/// <summary>A debugger command (step, break, x, walk, ...); the loop answers through <see cref="Result"/>.</summary>
public sealed record DebugCommand(string By, string[] Words, TaskCompletionSource<string> Result) : SessionCommand(By);
