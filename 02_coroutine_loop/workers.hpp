// The talk's fix for CPU-heavy requests: compute fib on a pool of threads while the loop goes on
// serving everyone else. A finished result is posted to the loop's mailbox (mailbox.hpp), so the
// loop learns about it the same way it learns about sockets, and hands it to the task that waits.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mailbox.hpp"

namespace fibs::loop {

class Loop;

class Workers {
public:
    // `threads` may be 0: then the pool takes no request and fib runs in the loop, as in the
    // article. Throws std::system_error when a thread cannot be started.
    Workers(int threads, unsigned offload_min);
    ~Workers();  // drops queued jobs, waits for the running ones
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    // Should fib(n) run here rather than in the loop? (There are threads, and n is big enough.)
    bool takes(unsigned n) const { return !threads_.empty() && n >= offload_min_; }
    // Python's pool.submit(fib, n): computes fib(n) on a worker and posts the value to `loop`, for
    // the task that waits on the returned job: `co_yield future(job)`. A job is named by its
    // client's socket (a client's task waits for one job at a time), so the loop finds its task
    // as it finds one waiting on a socket. Nothing points into the task's frame, so a frame freed
    // meanwhile is never written into. A job of a unit of work or more (protocol::work_of) whose
    // `client` has reset by the time a worker takes it is not computed (Conversation::wanted):
    // its task gets 0, which nobody reads, and ends at its next send as for any reset.
    int submit(unsigned n, int client, Loop& loop);
    int busy() const { return busy_; }  // jobs being computed now
    // The server stops: the jobs not started are dropped, and so is every job submitted from now
    // on; each task that waits for one gets Conversation::kNotComputed, and its conversation ends
    // (the replies it has made go out). The jobs being computed finish, and their tasks get their
    // results, so an answer already paid for is sent.
    void stop_taking();

private:
    struct Job {
        unsigned n;
        int client;  // the job's name; open while the job is queued: the waiting task's frame holds it
        std::shared_ptr<Mailbox> reply_to;
    };
    void work();
    void stop();
    static void forget(const Job& job);

    unsigned offload_min_;
    std::atomic<int> busy_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    bool taking_ = true;
    std::vector<std::thread> threads_;
};

}  // namespace fibs::loop
