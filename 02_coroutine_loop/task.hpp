// A task is a C++20 coroutine that, like the article's generators, stops to say *why* it must wait
// and on *what*:
//
//     Python:  yield "recv", client          C++:  co_yield recv(client.get());
//     Python:  value = yield "future", job   C++:  std::uint64_t value = co_yield future(job);
//
// The loop resumes it when that wait is over. This is the whole type: a move-only owner of the
// coroutine handle, like a Python generator object.
#pragma once
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>

namespace fibs::loop {

// again: nothing to wait for, but the task's turn is over; it runs again after the others.
enum class Why { recv, send, future, again };

struct Wait {
    Why why;
    int what;  // recv/send/again: the socket; future: the worker's job (Workers::submit)
};

inline Wait recv(int fd) { return {Why::recv, fd}; }
inline Wait send(int fd) { return {Why::send, fd}; }
inline Wait future(int job) { return {Why::future, job}; }
inline Wait again(int fd) { return {Why::again, fd}; }

class Task {
public:
    struct promise_type {
        Wait wait{};
        std::uint64_t sent = 0;  // what the next co_yield returns: a worker's result
        const char* name = nullptr;  // the server's own tasks have one ("fib_server"); a client's none
        std::exception_ptr error;

        Task get_return_object() { return Task(Handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }  // runs when the loop first picks it
        std::suspend_always final_suspend() noexcept { return {}; }    // the Task destroys the frame
        auto yield_value(Wait w) noexcept {
            wait = w;
            struct Sent : std::suspend_always {  // suspends; on resume, co_yield's value is `sent`
                promise_type& p;
                std::uint64_t await_resume() const noexcept { return p.sent; }
            };
            return Sent{{}, *this};
        }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { error = std::current_exception(); }
    };
    using Handle = std::coroutine_handle<promise_type>;

    Task() = default;  // no coroutine: what a wait table holds where no task waits
    explicit operator bool() const { return static_cast<bool>(h_); }
    Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (h_) h_.destroy();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    ~Task() {
        if (h_) h_.destroy();  // frees the frame and everything in it: buffers, sockets
    }

    // Python's next(task): runs the task to its next co_yield. Returns why and on what it waits,
    // or nothing when it has finished. Rethrows what the task threw.
    std::optional<Wait> next() {
        h_.resume();
        if (h_.promise().error) std::rethrow_exception(h_.promise().error);
        if (h_.done()) return std::nullopt;
        return h_.promise().wait;
    }
    // Python's task.send(value), without running it yet: the value its co_yield returns next time.
    void send(std::uint64_t value) { h_.promise().sent = value; }
    const char* name() const { return h_.promise().name; }
    Task&& named(const char* name) && {
        h_.promise().name = name;
        return std::move(*this);
    }

private:
    explicit Task(Handle h) : h_(h) {}
    Handle h_{};
};

}  // namespace fibs::loop
