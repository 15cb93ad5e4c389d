// Step 4: the same loop, with co_await. In C++20 `co_yield x` *is* `co_await promise.yield_value(x)`,
// so a wait can be any awaitable, and a coroutine can await another coroutine: what a generator
// cannot do (Python needed `yield from` for it). The loop does not change: it still runs Tasks
// (task.hpp) and parks them by why and on what they wait.
//
//   Python (generators with yield from, PEP 380)      C++ (this file)
//   ---------------------------------------------      ---------------------------------------------
//   yield 'recv', sock                                 co_await Suspend{recv(fd)}
//   data = yield from client.recv(100)                 ssize_t n = co_await async_recv(client, buf)
//   yield from client.sendall(data)                    co_await async_send_all(client, out)  (an Async)
//   def sendall(...): ... yield 'send', sock ...       Async<bool> async_send_all(...) { ... co_await writable(client) ... }
//   v = yield 'future', pool.submit(fib, n)            std::uint64_t v = co_await on_worker(workers, loop, n, fd)
//   the loop's next(task)                              drive(): a Task that resumes the innermost coroutine
//
// An awaiter has three functions, called by the compiler at each co_await:
//   await_ready()    "is the answer already here?" true: do not suspend at all;
//   await_suspend(h) the coroutine h is suspended: say why and on what (for the loop), or start
//                    the awaited coroutine at once (returning its handle);
//   await_resume()   the coroutine goes on: the value of the co_await expression.
#pragma once
#include <sys/socket.h>

#include <array>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <utility>

#include "frames.hpp"
#include "loop.hpp"
#include "net.hpp"
#include "turn.hpp"
#include "workers.hpp"

namespace fibs::loop {

// What a stack of coroutines, one awaiting the next, shares with the Task that drives it.
struct Stack {
    int what;                     // the client's socket: the loop's name for this handler
    std::coroutine_handle<> top;  // the innermost coroutine: the one that waits, and runs next
    Wait wait{};                  // why and on what it waits
    std::uint64_t sent = 0;       // what the loop sent back when the wait was over (a worker's result)
};

// A wait for the loop: note it where the driving Task finds it, and suspend (back to drive()).
struct Suspend {
    Wait wait;
    bool await_ready() const noexcept { return false; }
    template <class P> void await_suspend(std::coroutine_handle<P> me) const noexcept { me.promise().stack->wait = wait; }
    void await_resume() const noexcept {}
};

// ssize_t n = co_await async_recv(client, buf): waits until readable, then reads (as Step 3, the
// task does the I/O itself after the wait; it never blocks). The buffer is asked for its memory
// after the wait, on the thread that resumed the task (Step 6 may resume it on another).
template <class Buffer> struct Recv : Suspend {
    Buffer& buf;
    ssize_t await_resume() const noexcept { return ::recv(wait.what, buf.data(), buf.size(), 0); }
};
template <class Buffer> Recv<Buffer> async_recv(const Fd& client, Buffer& buf) { return {{recv(client.get())}, buf}; }
inline Suspend writable(const Fd& client) { return {send(client.get())}; }

// co_await turn: nothing if the turn goes on; else to the back of `tasks` (Why::again) first.
struct TurnOver {
    Turn& turn;
    bool await_ready() const noexcept { return !turn.over(); }
    template <class P> void await_suspend(std::coroutine_handle<P> me) const noexcept {
        me.promise().stack->wait = again(me.promise().stack->what);
    }
    void await_resume() const noexcept {}
};
inline TurnOver operator co_await(Turn& turn) noexcept { return {turn}; }

// std::uint64_t value = co_await on_worker(workers, loop, n, client): fib(n) on a worker thread,
// the loop serving others meanwhile. The loop sends the value back to the Task at the bottom of
// the Stack.
struct OnWorker {
    Workers& workers;
    Loop& loop;
    unsigned n;
    int client;
    Stack* stack = nullptr;
    bool await_ready() const noexcept { return false; }
    template <class P> void await_suspend(std::coroutine_handle<P> me) {
        stack = me.promise().stack;
        stack->wait = future(workers.submit(n, client, loop));
    }
    std::uint64_t await_resume() const noexcept { return stack->sent; }
};
inline OnWorker on_worker(Workers& workers, Loop& loop, unsigned n, int client) { return {workers, loop, n, client}; }

// The value an Async returns (nothing, for Async<void>).
template <class T> struct Returns {
    std::optional<T> value;
    void return_value(T v) { value = std::move(v); }
    T get() { return std::move(*value); }
};
template <> struct Returns<void> {
    void return_void() noexcept {}
    void get() noexcept {}
};

// A coroutine that another one awaits: `co_await async_send_all(client, out)`. It starts when awaited,
// runs on top of its caller's Stack, and resumes the caller when it returns.
template <class T = void>
class [[nodiscard]] Async {
public:
    struct promise_type : Returns<T> {
        Stack* stack = nullptr;
        std::coroutine_handle<> caller;  // resumed when this one returns (none for the handler)
        std::exception_ptr error;

        Async get_return_object() { return Async(Handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct BackToCaller {  // Python: the `yield from` in the caller gets the return value
                bool await_ready() noexcept { return false; }
                std::coroutine_handle<> await_suspend(Handle me) noexcept {
                    me.promise().stack->top = me.promise().caller;
                    return me.promise().caller ? me.promise().caller : std::noop_coroutine();
                }
                void await_resume() noexcept {}
            };
            return BackToCaller{};
        }
        void unhandled_exception() noexcept { error = std::current_exception(); }
        static void* operator new(std::size_t size) { return Frames::take(size); }
        static void operator delete(void* frame, std::size_t size) noexcept { Frames::give(frame, size); }
    };
    using Handle = std::coroutine_handle<promise_type>;

    Async(Async&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    ~Async() {
        if (h_) h_.destroy();
    }

    // co_await async: it goes on the caller's Stack and runs at once, in place of the caller.
    bool await_ready() const noexcept { return false; }
    template <class P> std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
        h_.promise().stack = caller.promise().stack;
        h_.promise().caller = caller;
        h_.promise().stack->top = h_;
        return h_;
    }
    T await_resume() {
        if (h_.promise().error) std::rethrow_exception(h_.promise().error);
        return h_.promise().get();
    }

    // The handler at the bottom of a Stack: started by drive() instead of awaited.
    friend Task drive(Async<> handler, int what);

private:
    explicit Async(Handle h) : h_(h) {}
    Handle h_;
};

// The bridge: a Task, Step 3's type, that runs an Async handler and yields each of its waits to the
// loop. Python's `yield from handler(...)`, for a whole stack of awaits. (In async.cpp: clang 14
// cannot compile an inline coroutine with debug information.)
Task drive(Async<> handler, int what);

}  // namespace fibs::loop
