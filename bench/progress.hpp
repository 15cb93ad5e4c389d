// The progress line of `fib-bench run`, once a second on stderr.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "connections.hpp"

namespace fibs::bench {

// "  3.0 s   120,345 replies/s   p99 45 us   0 errors", rewritten in place on a terminal.
class Progress {
public:
    Progress(std::vector<std::unique_ptr<Worker>>& workers, const Timeline& tl, bool live)
        : workers_(workers), tl_(tl), start_(live ? "\r" : ""), end_(live ? "" : "\n") {}

    void print(std::int64_t now) {
        Histogram merged;
        std::uint64_t errors = 0;
        for (auto& w : workers_) {
            std::lock_guard lock(w->published_mu);
            merged.merge(w->published);
            errors += w->progress_errors.load(std::memory_order_relaxed);
        }
        std::uint64_t replies = tl_.measured.load(std::memory_order_relaxed);
        double elapsed = static_cast<double>(now - tl_.window_start.load()) / 1e9;
        if (last_time_ == 0) last_time_ = tl_.window_start.load();  // the first line counts from the window start
        double rate = now > last_time_ ? static_cast<double>(replies - last_replies_) * 1e9 / static_cast<double>(now - last_time_) : 0;
        if (elapsed < 0) {
            std::fprintf(stderr, "%s  warming up ...%s", start_, end_);
        } else {
            std::fprintf(stderr, "%s  %5.1f s  %10.0f replies/s  p99 %8.1f us  %llu errors   %s", start_, elapsed, rate,
                         static_cast<double>(merged.percentile(99)) / 1e3, static_cast<unsigned long long>(errors), end_);
        }
        last_replies_ = replies;
        last_time_ = now;
    }
    void done() {
        if (*start_ != '\0') std::fprintf(stderr, "\r%70s\r", "");
    }

private:
    std::vector<std::unique_ptr<Worker>>& workers_;
    const Timeline& tl_;
    const char* start_;
    const char* end_;
    std::uint64_t last_replies_ = 0;
    std::int64_t last_time_ = 0;
};

}  // namespace fibs::bench
