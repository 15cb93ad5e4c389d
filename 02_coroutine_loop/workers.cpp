#include "workers.hpp"

#include <chrono>
#include <new>
#include <string>
#include <system_error>

#include "conversation.hpp"
#include "fib.hpp"
#include "loop.hpp"

namespace fibs::loop {

Workers::Workers(int threads, unsigned offload_min) : offload_min_(offload_min) {
    try {
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {
        std::size_t started = threads_.size();
        stop();  // the threads already started
        throw std::system_error(e.code(), "cannot start worker thread " + std::to_string(started + 1) + " of " +
                                              std::to_string(threads) + " (ulimit -u, or memory: ulimit -v)");
    }
}

Workers::~Workers() { stop(); }

void Workers::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

int Workers::submit(unsigned n, int client, Loop& loop) {
    Job job{n, client, loop.mailbox()};
    {
        std::lock_guard lock(mu_);
        if (taking_) jobs_.push_back(std::move(job));
    }
    if (job.reply_to) forget(job);  // not taken: the server is stopping
    cv_.notify_one();
    return client;
}

void Workers::stop_taking() {
    std::lock_guard lock(mu_);  // (no second queue to move them to: out of memory, none could be made)
    taking_ = false;
    for (; !jobs_.empty(); jobs_.pop_front()) forget(jobs_.front());
}

void Workers::forget(const Job& job) {
    try {
        job.reply_to->post([id = job.client](Loop& loop) { loop.wake(id, Conversation::kNotComputed); });
    } catch (const std::bad_alloc&) {
        // no room for the letter: the task waits until its loop ends, which frees it
    }
}

void Workers::work() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
            ++busy_;
        }
        // The slow part, off the loop's thread; for nobody if the client has gone while the job
        // waited (the Conversation's check, at the moment the work starts).
        std::uint64_t value = Conversation::wanted(job.client, job.n) ? fib(job.n) : 0;
        for (bool sent = false; !sent;) {
            try {
                job.reply_to->post([id = job.client, value](Loop& loop) { loop.wake(id, value); });
                sent = true;
            } catch (const std::bad_alloc&) {  // out of memory: the letter waits for room, the process goes on
                std::unique_lock lock(mu_);
                if (cv_.wait_for(lock, std::chrono::milliseconds(1), [this] { return stopping_; })) break;
            }
        }
        --busy_;
    }
}

}  // namespace fibs::loop
