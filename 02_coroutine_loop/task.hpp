// A task is a C++20 coroutine that, like the article's generators, stops to say *why* it must wait
// and on *what*:
//
//     Python:  yield "recv", client          C++:  co_yield recv(client.get());
//
// The loop resumes it when that wait is over. This is the whole type: a move-only owner of the
// coroutine handle, like a Python generator object.
#pragma once
#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace fibs::loop {

// again: nothing to wait for, but the task's turn is over; it runs again after the others.
enum class Why { recv, send, future, again };

struct Wait {
    Why why;
    int what;  // recv/send: the socket; future: the socket whose result is being computed
};

inline Wait recv(int fd) { return {Why::recv, fd}; }
inline Wait send(int fd) { return {Why::send, fd}; }
inline Wait future(int fd) { return {Why::future, fd}; }
inline Wait again(int fd) { return {Why::again, fd}; }

class Task {
public:
    struct promise_type {
        Wait wait{};
        std::exception_ptr error;

        Task get_return_object() { return Task(Handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }  // runs when the loop first picks it
        std::suspend_always final_suspend() noexcept { return {}; }    // the Task destroys the frame
        std::suspend_always yield_value(Wait w) noexcept {
            wait = w;
            return {};
        }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { error = std::current_exception(); }
    };
    using Handle = std::coroutine_handle<promise_type>;

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

private:
    explicit Task(Handle h) : h_(h) {}
    Handle h_;
};

}  // namespace fibs::loop
