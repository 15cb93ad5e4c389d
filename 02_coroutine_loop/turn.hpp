// A task's turn (not in the article): a handler with many requests buffered answers a few, then
// yields `again` and the others run (docs/step3-deeper.md, "Every request gets its turn").
#pragma once
#include <chrono>

namespace fibs::loop {

// At most kRequests requests or kTime of work. A handler asks over() before each request; when it
// says yes, the handler yields `again`, the others run, and a new turn begins with the next
// request. (`now` is a parameter so that a test can play the clock.)
class Turn {
public:
    static constexpr int kRequests = 16;
    static constexpr std::chrono::microseconds kTime{200};

    bool over(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        if (!timing_) start_ = now;
        timing_ = true;
        if (done_ < kRequests && now - start_ < kTime) {
            ++done_;
            return false;
        }
        done_ = 1;        // the request that asked is the first of the next turn,
        timing_ = false;  // whose clock starts when the task runs again
        return true;
    }

private:
    int done_ = 0;
    bool timing_ = false;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace fibs::loop
