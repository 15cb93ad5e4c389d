#include "workers.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "fib.hpp"

namespace fibs::loop {

Workers::Workers(int threads, unsigned offload_min)
    : event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), offload_min_(offload_min) {
    if (!event_) throw std::system_error(errno, std::generic_category(), "eventfd");
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Workers::~Workers() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void Workers::submit(int what, unsigned n, std::uint64_t* result) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back({what, n, result});
    }
    cv_.notify_one();
}

void Workers::work() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = jobs_.front();
            jobs_.pop_front();
        }
        std::uint64_t value = fib(job.n);  // the slow part, off the loop's thread
        {
            std::lock_guard lock(mu_);
            *job.result = value;
            done_.push_back(job.what);
        }
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);  // wakes the loop
    }
}

std::vector<int> Workers::done() {
    std::uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(event_.get(), &count, sizeof count);  // re-arms the eventfd
    std::lock_guard lock(mu_);
    return std::exchange(done_, {});
}

}  // namespace fibs::loop
