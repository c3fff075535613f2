using System.Collections.Immutable;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Shared.Client;

/// <summary>
/// Client methods registered with On(...): method name (case-insensitive, like the server and the JS
/// client) → parameter types and handlers. Copy-on-write lists so the receive path reads without locks.
/// </summary>
internal sealed class HandlerRegistry
{
    private readonly object _gate = new();
    private ImmutableDictionary<string, MethodHandlers> _methods =
        ImmutableDictionary.Create<string, MethodHandlers>(StringComparer.OrdinalIgnoreCase);

    internal sealed record MethodHandlers(Type[] ParameterTypes, ImmutableArray<Registration> Handlers);

    internal sealed class Registration(HandlerRegistry owner, string method, Func<object?[], Task> handler) : IDisposable
    {
        public Func<object?[], Task> Handler { get; } = handler;

        public void Dispose() => owner.Remove(method, this);
    }

    public IDisposable Add(string method, Type[] parameterTypes, Func<object?[], Task> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(parameterTypes);
        ArgumentNullException.ThrowIfNull(handler);
        var registration = new Registration(this, method, handler);
        lock (_gate)
        {
            if (_methods.TryGetValue(method, out var existing))
            {
                if (!existing.ParameterTypes.SequenceEqual(parameterTypes))
                    throw new InvalidOperationException(
                        $"Client method '{method}' is already registered with parameters ({string.Join(", ", existing.ParameterTypes.Select(t => t.Name))}); " +
                        "every handler of one method must take the same parameter types.");
                _methods = _methods.SetItem(method, existing with { Handlers = existing.Handlers.Add(registration) });
            }
            else
            {
                _methods = _methods.SetItem(method, new MethodHandlers((Type[])parameterTypes.Clone(), [registration]));
            }
        }
        return registration;
    }

    public void RemoveAll(string method)
    {
        lock (_gate)
            _methods = _methods.Remove(method);
    }

    public bool TryGet(string method, out MethodHandlers handlers) => _methods.TryGetValue(method, out handlers!);

    /// <summary>For the binder: what the protocol should deserialize the arguments of <paramref name="method"/> to.</summary>
    public IReadOnlyList<Type> GetParameterTypes(string method) =>
        _methods.TryGetValue(method, out var handlers)
            ? handlers.ParameterTypes
            : throw new HubException($"No client method with the name '{method}' is registered.");

    private void Remove(string method, Registration registration)
    {
        lock (_gate)
        {
            if (!_methods.TryGetValue(method, out var existing))
                return;
            var remaining = existing.Handlers.Remove(registration);
            _methods = remaining.IsEmpty ? _methods.Remove(method) : _methods.SetItem(method, existing with { Handlers = remaining });
        }
    }
}
