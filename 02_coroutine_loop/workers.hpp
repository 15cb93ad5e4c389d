// The talk's fix for CPU-heavy requests: compute fib on a pool of threads while the loop goes on
// serving everyone else. A finished result makes an eventfd readable (the talk used a
// socketpair), so the loop learns about it the same way it learns about sockets.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "net.hpp"

namespace fibs::loop {

class Workers {
public:
    // `threads` may be 0: then the pool takes no request and fib runs in the loop, as in the article.
    Workers(int threads, unsigned offload_min);
    ~Workers();  // drops queued jobs, waits for the running ones
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    // Should fib(n) run here rather than in the loop? (There are threads, and n is big enough.)
    bool takes(unsigned n) const { return !threads_.empty() && n >= offload_min_; }
    // Computes fib(n) into *result on a worker; `what` is then reported by done().
    // *result must stay alive until then (it lives in the waiting task's frame).
    void submit(int what, unsigned n, std::uint64_t* result);
    int notify_fd() const { return event_.get(); }
    // The `what`s whose results are ready (their results are written).
    std::vector<int> done();

private:
    struct Job {
        int what;
        unsigned n;
        std::uint64_t* result;
    };
    void work();

    Fd event_;
    unsigned offload_min_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    std::vector<int> done_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace fibs::loop
